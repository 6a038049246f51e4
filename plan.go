package porter

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/rsync"
)

// PlanOptions says what Plan plans: the deploy's Options (Target, Config,
// Release, Force, Flags, Logger; the rollout fields do not matter), and
// how much to show.
type PlanOptions struct {
	Options
	// Diff adds to each text config file a unified diff against the
	// host's copy.
	Diff bool
	// ShowSecrets shows in diffs the values of keys that look secret
	// (password, token, secret, key...), which are masked by default.
	ShowSecrets bool
}

// PlanReport is what a deploy with the same options would do, host by host
// in the target's order.
type PlanReport struct {
	Hosts []HostPlan
}

// HostPlan is what a deploy would do on one host, module by module in
// deploy order. Err is why the host could not be planned (or not whole).
type HostPlan struct {
	Host    string
	Address string
	Modules []ModulePlan
	Err     error
}

// ModulePlan is what a deploy would do with one module on one host.
type ModulePlan struct {
	Module   string
	Path     string // the module's path on the host ([module] path)
	Strategy Strategy
	// Deploy reports whether a deploy would deploy the module (it would
	// stop at the lock first when Lock is set).
	Deploy bool
	// Reasons says why it would deploy or not: "never deployed", "new
	// version a1b2c3 over 9f8e7d", "setting [module] exclude changed",
	// "config file app.conf changed", "plugin flag --migrate changed",
	// "forced", "up to date".
	Reasons []string
	State   State            // as Status says it
	Version string           // what would be deployed
	Record  *ledger.Record   // what the host runs, nil when never deployed
	Lock    *ledger.LockInfo // the deploy holding the module, if any
	Current string           // strategy = releases: the live release ("" none)

	// What the source sync would do (empty when the source is not sent:
	// see SkipSend), against the live files (the current release with
	// strategy = releases, which a new release starts as a copy of).
	Files    []rsync.Change
	Sync     rsync.Stats
	SkipSend string // why the source would not be sent, if it would not

	// The config files it would copy.
	Configs []ConfigPlan

	// Health is the health check it would run after deploy-finish ("" none).
	Health string

	// Every signal with handlers, in the order a deploy sends them
	// (SigDeployFailed, sent only on failure, then the others by name),
	// with what each handler would do.
	Signals []SignalPlan
}

// ConfigPlan is one config file a deploy would copy.
type ConfigPlan struct {
	Name   string // as [module] config names it
	Local  string // the file, relative to the project
	Remote string // where it lands on the host
	Mode   string // the mode it lands with (the local file's), as 0600
	// Change is "new", "changed", "mode" (content equal, mode not) or
	// "unchanged" compared with the host's copy.
	Change string
	// Diff is a unified diff of the host's copy to the new one, with
	// secrets masked (PlanOptions.Diff; empty for binary or large files,
	// see NoDiff).
	Diff   string
	NoDiff string // why there is no diff when one was asked for
}

// SignalPlan is the handlers of one signal and what they would do.
type SignalPlan struct {
	Signal   Signal
	Handlers []HandlerPlan
}

// Plan says what Deploy with the same options would do, and changes
// nothing anywhere: it connects to each host, reads each module's record,
// lock and live files, and compares them with what would be shipped. It
// takes no lock, and calls no handler: a handler's Describer (see
// Describe) says what it would do. The error joins every host's (each
// names its host); the report holds what the others said.
func Plan(ctx context.Context, p *Project, opts PlanOptions) (*PlanReport, error) {
	dopts := opts.Options
	hs, err := loadHosts(p, &dopts, true)
	if err != nil {
		return nil, err
	}
	sources := newSourceCache()
	for _, hc := range hs {
		for _, m := range hc.mods {
			m.sources = sources
			if _, err := m.Checkout(ctx); err != nil {
				return nil, fmt.Errorf("plan %s on %s: %w", m.Name(), hc.Name, err)
			}
		}
	}
	rep := &PlanReport{Hosts: make([]HostPlan, len(hs))}
	for i, hc := range hs {
		rep.Hosts[i] = HostPlan{Host: hc.Name, Address: hc.Address}
	}
	errs := onHosts(ctx, dopts, hs, "plan", func(i int, hc *hostCall) error {
		for _, m := range hc.mods {
			mp, err := planModule(ctx, m, dopts, opts)
			if err != nil {
				return fmt.Errorf("plan %s on %s: %w", m.Name(), hc.Name, err)
			}
			rep.Hosts[i].Modules = append(rep.Hosts[i].Modules, mp)
		}
		return nil
	})
	for i, err := range errs {
		rep.Hosts[i].Err = err
	}
	return rep, errors.Join(errs...)
}

// planModule plans one module of a connected host.
func planModule(ctx context.Context, m *Module, opts Options, popts PlanOptions) (ModulePlan, error) {
	st, err := moduleStatus(ctx, m, opts.Config)
	if err != nil {
		return ModulePlan{}, err
	}
	mp := ModulePlan{Module: m.Name(), Path: m.Base(), Strategy: m.Strategy(), State: st.State,
		Version: st.Version, Record: st.Record, Lock: st.Lock, Current: st.Current}
	want, err := m.wantRecord(ctx, "")
	if err != nil {
		return mp, err
	}
	forced := opts.Force.Forces(m.Name())
	mp.Reasons = deployReasons(st, want, forced)
	mp.Deploy = forced || st.State != StateUpToDate
	if !mp.Deploy {
		return mp, nil
	}
	live := m.Path()
	if m.Strategy() == StrategyReleases {
		// What the deploy would build: a new release, seeded from the
		// current one. Handlers' descriptions name its directory.
		live = path.Join(m.Base(), ledger.ReleasesDir, st.Current)
		if st.Current == "" {
			live = path.Join(m.Base(), ledger.ReleasesDir, newReleaseName)
		}
		m.build = &releaseBuild{id: newReleaseName, previous: st.Current}
		defer func() { m.build = nil }()
	}
	m.previous = st.Record
	defer func() { m.previous = nil }()
	if err := m.planFiles(ctx, &mp, live); err != nil {
		return mp, err
	}
	if mp.Configs, err = m.planConfigs(ctx, live, popts); err != nil {
		return mp, err
	}
	mp.Health = m.DescribeHealth()
	mp.Signals, err = m.planSignals(ctx)
	return mp, err
}

// newReleaseName stands for the id of the release a deploy would make,
// which it picks when it starts.
const newReleaseName = "NEW"

// planFiles fills in what the source sync would do against live.
func (m *Module) planFiles(ctx context.Context, mp *ModulePlan, live string) error {
	src, opts, skip, err := m.sourceSync(ctx)
	if err != nil {
		return err
	}
	if skip != "" {
		mp.SkipSend = skip
		return nil
	}
	// The plan compares with the live files themselves: no copies on the
	// host to count separately.
	opts.Basis, opts.Logger = "", m.log
	c, err := rsync.Plan(ctx, m.host, src, live, opts)
	if err != nil {
		return fmt.Errorf("plan the source sync to %s: %w", live, err)
	}
	mp.Files, mp.Sync = c.List(), c.Stats()
	sortPlanFiles(mp.Files)
	return nil
}

// sortPlanFiles puts a plan's files in the order it shows them: deletions
// first, then the rest by path. The engine's own order depends on how it
// found each change (a file whose content it compared comes later), and a
// plan must read the same for the same change.
func sortPlanFiles(fs []rsync.Change) {
	sort.SliceStable(fs, func(i, j int) bool {
		di, dj := fs[i].Op == rsync.OpDelete, fs[j].Op == rsync.OpDelete
		if di != dj {
			return di
		}
		return fs[i].Path < fs[j].Path
	})
}

// planSignals describes the handlers of every signal that has some: the
// procedure's in the order it sends them, SigDeployFailed, then the others
// by name.
func (m *Module) planSignals(ctx context.Context) ([]SignalPlan, error) {
	order := []Signal{SigDeploy, SigDeployStart, SigSourcePreSend, SigSourceSend, SigSourcePostSend, SigDeployFinish, SigDeployFailed}
	known := map[Signal]bool{}
	for _, s := range order {
		known[s] = true
	}
	var others []Signal
	for s := range m.handlers {
		if !known[s] {
			others = append(others, s)
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i] < others[j] })
	var out []SignalPlan
	for _, sig := range append(order, others...) {
		if len(m.handlers[sig]) == 0 {
			continue
		}
		hs, err := m.DescribeSignal(ctx, sig, planPayload(sig))
		if err != nil {
			return out, err
		}
		out = append(out, SignalPlan{Signal: sig, Handlers: hs})
	}
	return out, nil
}

// planPayload is the payload a plan describes a signal with: what the
// deploy would send (SigDeployFailed's names no error yet).
func planPayload(sig Signal) any {
	if sig == SigDeployFailed {
		return DeployFailed{Err: errPlanned}
	}
	return nil
}

var errPlanned = errors.New("(the error that would stop the deploy)")

// deployReasons says why a deploy would deploy the module, or not.
func deployReasons(st ModuleStatus, want ledger.Record, forced bool) []string {
	var out []string
	if forced {
		out = append(out, "forced")
	}
	if st.Lock != nil {
		out = append(out, lockReason(st))
	}
	rec := st.Record
	switch {
	case rec == nil && st.RecordErr != nil:
		return append(out, "never deployed: the host's record is unreadable ("+oneLine(st.RecordErr.Error())+")")
	case rec == nil:
		return append(out, "never deployed")
	case upToDate(rec, want):
		if !forced {
			out = append(out, "up to date: version "+shortVersion(rec.Version)+" deployed by "+oneLine(rec.DeployedBy))
		}
		return out
	}
	if rec.Version != want.Version {
		out = append(out, "new version "+shortVersion(want.Version)+" over "+shortVersion(oneLine(rec.Version)))
	}
	if rec.Release != want.Release {
		out = append(out, "release "+want.Release+" over "+oneLine(rec.Release))
	}
	if rec.Config != want.Config {
		out = append(out, "config "+want.Config+" over "+oneLine(rec.Config))
	}
	if rec.SettingsHash != want.SettingsHash {
		out = append(out, settingsReasons(rec.Settings, want.Settings)...)
	}
	return out
}

func lockReason(st ModuleStatus) string {
	if st.LockErr != nil {
		return "locked: the lock file is not porter's (" + oneLine(st.LockErr.Error()) + "): the deploy would stop"
	}
	by := "locked by " + oneLine(st.Lock.By)
	if st.Lock.PID != 0 {
		by += fmt.Sprintf(" (pid %d)", st.Lock.PID)
	}
	return by + ": the deploy would stop"
}

// settingsReasons names the settings, plugin flags and config files that
// differ between a record's digests and the new ones.
func settingsReasons(had, want map[string]string) []string {
	if had == nil {
		return []string{"settings or config files changed (the host's record is from a porter that does not say which)"}
	}
	var out []string
	for item, sum := range want {
		switch old, ok := had[item]; {
		case !ok:
			out = append(out, oneLine(item)+" added")
		case old != sum:
			out = append(out, oneLine(item)+" changed")
		}
	}
	for item := range had {
		if _, ok := want[item]; !ok {
			out = append(out, oneLine(item)+" removed")
		}
	}
	sort.Strings(out)
	for i, r := range out {
		if len(r) > 5 && r[:5] == "flag " {
			out[i] = "plugin " + r
		} else if r[0] == '[' {
			out[i] = "setting " + r
		}
	}
	if len(out) == 0 {
		out = append(out, "settings changed")
	}
	return out
}
