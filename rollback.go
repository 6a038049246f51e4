package porter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
)

// The signals of a rollback, sent with a RollbackInfo payload (a value)
// while the module's Path is the release rolled back to: SigRollbackStart
// before current is switched (an error stops the rollback, nothing
// changed), SigRollbackFinish after (restart services on the old code
// here).
const (
	SigRollbackStart  Signal = "rollback-start"
	SigRollbackFinish Signal = "rollback-finish"
)

// RollbackInfo is the payload of SigRollbackStart and SigRollbackFinish,
// passed as a value:
//
//	info := payload.(porter.RollbackInfo)
type RollbackInfo struct {
	From ledger.Release // the release current pointed to
	To   ledger.Release // the release it points to after
}

// ErrNothingToRollBackTo is wrapped by Rollback's error for a module whose
// history names no good release to go back to; the error lists what
// exists.
var ErrNothingToRollBackTo = errors.New("nothing to roll back to")

// ErrInPlace is wrapped by Rollback's error for a module deployed in
// place: there is no earlier tree on the host to go back to.
var ErrInPlace = errors.New("deployed in place (strategy = inplace): there is no earlier release on the host to go back to; deploy the older version, or set [module] strategy = releases")

// RollbackOptions says what Rollback rolls back, on which hosts.
type RollbackOptions struct {
	Target           // the hosts; Host is required
	Modules []string // default: every module of the host, last deployed first
	// To names the release to go to (any good one of the module); by
	// default it is the release that was live before the current one, from
	// the history, never one that failed, was half-built or was rolled back
	// from. On several hosts the default must be the same release on
	// every host, or nothing is rolled back.
	To     string
	Who    string // recorded (default Who())
	Logger *slog.Logger
}

// RolledBack is what Rollback did with one module on one host.
type RolledBack struct {
	Host     string
	Module   string
	From, To string // release ids
}

// Rollback switches the current link of each module back to an earlier
// release on every host of the target: it sends SigRollbackStart,
// switches current, marks the release it left as rolled back from, writes
// the record of the release it went to (and a history line), then sends
// SigRollbackFinish. On each host it stops at the first module that fails.
//
// As Deploy does, it first connects to every host and takes every module
// lock in one global order, all or nothing: a host that cannot be reached
// or a lock that is held stops it before any host changes. Then, on
// several hosts, it reads each host's releases and finds, per module, the
// release each would go back to: when they differ (or one has none) it
// stops, naming what each host has, so the fleet never ends up on mixed
// releases by default.
func Rollback(ctx context.Context, p *Project, opts RollbackOptions) ([]RolledBack, error) {
	dopts := Options{Target: opts.Target, Logger: opts.Logger, Who: opts.Who}
	hs, err := loadHosts(p, &dopts, false)
	if err != nil {
		return nil, err
	}
	for _, hc := range hs {
		if hc.mods, err = pick(hc.mods, opts.Modules, hc.Name); err != nil {
			return nil, err
		}
		if opts.To != "" && len(hc.mods) != 1 {
			return nil, fmt.Errorf("rollback on %s to %s: name the one module whose release it is", hc.Name, opts.To)
		}
		for _, m := range hc.mods {
			if m.Strategy() != StrategyReleases {
				return nil, fmt.Errorf("rollback %s on %s: %w", m.Name(), hc.Name, ErrInPlace)
			}
			m.who = dopts.Who
		}
	}
	fl, err := lockedFleet(ctx, dopts, hs)
	if fl != nil {
		defer fl.close()
		defer fl.unlockAll(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("rollback: nothing rolled back: %w", err)
	}
	to := map[string]string{} // module -> release id
	if opts.To != "" {
		to[hs[0].mods[0].Name()] = opts.To
	} else if len(hs) > 1 {
		if to, err = agreeRollback(ctx, fl); err != nil {
			return nil, err
		}
	}
	per := make([][]RolledBack, len(hs))
	errs := fl.each(func(h int, fh *fleetHost) error {
		for i := len(fh.mods) - 1; i >= 0; i-- {
			m := fh.mods[i]
			rb, err := rollbackModule(ctx, m, to[m.Name()])
			if err != nil {
				return fmt.Errorf("rollback %s on %s: %w", m.Name(), fh.th.Name, err)
			}
			per[h] = append(per[h], rb)
		}
		return nil
	})
	var out []RolledBack
	for _, rbs := range per {
		out = append(out, rbs...)
	}
	return out, errors.Join(errs...)
}

// agreeRollback finds, per module (of any host), the release every host
// that has it would go back to by default, and refuses when they differ.
// The fleet's locks are held.
func agreeRollback(ctx context.Context, fl *fleet) (map[string]string, error) {
	targets := make([]map[string]string, len(fl.hosts))
	errs := fl.each(func(i int, fh *fleetHost) error {
		targets[i] = map[string]string{}
		for _, m := range fh.mods {
			pl := m.place()
			rels, err := pl.Releases(ctx)
			if err != nil {
				return fmt.Errorf("rollback %s on %s: %w", m.Name(), fh.th.Name, err)
			}
			hist, err := pl.History(ctx)
			if err != nil {
				return fmt.Errorf("rollback %s on %s: %w", m.Name(), fh.th.Name, err)
			}
			_, target, err := chooseRollback(rels, hist, "")
			if err != nil {
				return fmt.Errorf("rollback %s on %s: %w", m.Name(), fh.th.Name, err)
			}
			targets[i][m.Name()] = target.ID
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rollback: nothing rolled back: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	for _, fh := range fl.hosts {
		for _, m := range fh.mods {
			if !seen[m.Name()] {
				seen[m.Name()] = true
				names = append(names, m.Name())
			}
		}
	}
	agreed := map[string]string{}
	for _, name := range names {
		var each []string
		ids := map[string]bool{}
		for i, fh := range fl.hosts {
			if id, ok := targets[i][name]; ok {
				each = append(each, fh.th.Name+": "+id)
				ids[id] = true
				agreed[name] = id
			}
		}
		if len(ids) > 1 {
			return nil, fmt.Errorf("rollback %s: the hosts would go back to different releases (%s): %w; nothing rolled back: roll back host by host, or name the release with --to",
				name, strings.Join(each, ", "), ErrReleasesDiffer)
		}
	}
	return agreed, nil
}

// ErrReleasesDiffer is wrapped by Rollback's error when the hosts of a
// target would go back to different releases of a module.
var ErrReleasesDiffer = errors.New("releases differ between hosts")

// pick keeps the named modules (all when none is named), in deploy order.
func pick(mods []*Module, names []string, host string) ([]*Module, error) {
	if len(names) == 0 {
		return mods, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []*Module
	for _, m := range mods {
		if want[m.Name()] {
			out = append(out, m)
			delete(want, m.Name())
		}
	}
	for n := range want {
		return nil, fmt.Errorf("%w %q: not deployed to %s", ErrUnknownModule, n, host)
	}
	return out, nil
}

// rollbackModule rolls m back to the release to ("" = the default, see
// chooseRollback); the caller holds the module's lock.
func rollbackModule(ctx context.Context, m *Module, to string) (rb RolledBack, err error) {
	rb.Host, rb.Module = m.hostName, m.Name()
	if m.Strategy() != StrategyReleases {
		return rb, ErrInPlace
	}
	pl := m.place()
	rels, err := pl.Releases(ctx)
	if err != nil {
		return rb, err
	}
	hist, err := pl.History(ctx)
	if err != nil {
		return rb, err
	}
	from, target, err := chooseRollback(rels, hist, to)
	if err != nil {
		return rb, err
	}
	rb.From, rb.To = from.ID, target.ID
	rec := recordOf(hist, target)
	if rec.Config != "" && validConfigName(rec.Config) {
		m.config = rec.Config
	}
	info := &RollbackInfo{From: from, To: target}
	err = m.rollbackTo(ctx, info, func(wctx context.Context) error {
		from.RolledBack = time.Now().UTC().Truncate(time.Second)
		if err := pl.SaveRelease(wctx, from); err != nil {
			return fmt.Errorf("current is %s now, but %s could not be marked rolled back from: %w", target.ID, from.ID, err)
		}
		if !target.RolledBack.IsZero() { // chosen by name: live again
			target.RolledBack = time.Time{}
			if err := pl.SaveRelease(wctx, target); err != nil {
				return err
			}
		}
		rec.Module, rec.ReleaseID, rec.Event = m.Name(), target.ID, "rollback"
		rec.DeployedAt, rec.DeployedBy, rec.Host = time.Now().UTC().Truncate(time.Second), m.who, m.hostName
		if err := pl.WriteRecord(wctx, rec); err != nil {
			return fmt.Errorf("current is %s now, but the record could not be written: %w", target.ID, err)
		}
		return nil
	})
	return rb, err
}

// rollbackTo switches the module's current link from info.From to
// info.To: it sends SigRollbackStart (an error stops it there, nothing
// changed), switches current, runs switched (its bookkeeping, not
// cancelled by ctx), then sends SigRollbackFinish. The signals' handlers
// see m.Path() as the release rolled back to. Rollback and a deploy whose
// health check failed both go back through it.
func (m *Module) rollbackTo(ctx context.Context, info *RollbackInfo, switched func(context.Context) error) error {
	saved := m.build
	m.build = &releaseBuild{id: info.To.ID, previous: info.From.ID}
	defer func() { m.build = saved }()
	m.log.Info("rolling back", "from", info.From.ID, "to", info.To.ID)
	if err := m.Signal(ctx, SigRollbackStart, *info); err != nil {
		return err
	}
	if err := m.place().Activate(ctx, info.To.ID); err != nil {
		return err
	}
	if err := switched(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	if err := m.Signal(ctx, SigRollbackFinish, *info); err != nil {
		return err
	}
	m.log.Info("rolled back", "from", info.From.ID, "to", info.To.ID)
	return nil
}

// chooseRollback returns the current release and the one to go to: to
// when named (any good release), else the newest release of the history
// before current that is still there, good and never rolled back from.
func chooseRollback(rels []ledger.Release, hist []ledger.Record, to string) (from, target ledger.Release, err error) {
	byID := map[string]ledger.Release{}
	for _, r := range rels {
		byID[r.ID] = r
		if r.Current {
			from = r
		}
	}
	if from.ID == "" {
		return from, target, fmt.Errorf("%w: no current release (%s)", ErrNothingToRollBackTo, listReleases(rels))
	}
	if to != "" {
		r, ok := byID[to]
		switch {
		case !ok:
			return from, target, fmt.Errorf("%w: no release %s (%s)", ErrNothingToRollBackTo, remote.Printable(to), listReleases(rels))
		case r.Current:
			return from, target, fmt.Errorf("%w: %s is the current release already", ErrNothingToRollBackTo, to)
		case r.State != ledger.Good:
			return from, target, fmt.Errorf("%w: release %s is %s, not good (%s)", ErrNothingToRollBackTo, to, r.State, listReleases(rels))
		}
		return from, r, nil
	}
	for i := len(hist) - 1; i >= 0; i-- {
		id := hist[i].ReleaseID
		if id == "" || id == from.ID {
			continue
		}
		if r, ok := byID[id]; ok && r.State == ledger.Good && r.RolledBack.IsZero() {
			return from, r, nil
		}
	}
	return from, target, fmt.Errorf("%w: the history names no good release before %s (%s)", ErrNothingToRollBackTo, from.ID, listReleases(rels))
}

// listReleases says what releases exist, for a refusal.
func listReleases(rels []ledger.Release) string {
	if len(rels) == 0 {
		return "no releases on the host"
	}
	var b strings.Builder
	b.WriteString("releases: ")
	for i, r := range rels {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.ID + " " + string(r.State))
		if r.Current {
			b.WriteString(" current")
		}
		if !r.RolledBack.IsZero() {
			b.WriteString(" rolled back from")
		}
	}
	return b.String()
}

// recordOf is the newest history record of release r (what the host ran
// with it), or one made of the release itself.
func recordOf(hist []ledger.Record, r ledger.Release) ledger.Record {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].ReleaseID == r.ID && hist[i].Event != "rollback" {
			return hist[i]
		}
	}
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].ReleaseID == r.ID {
			return hist[i]
		}
	}
	return ledger.Record{Version: r.Version}
}

// ReleasesOptions says whose releases Releases lists.
type ReleasesOptions struct {
	Target           // the hosts; Host is required
	Modules []string // default: every module of the host
	Logger  *slog.Logger
}

// ModuleReleases are the releases of one module on one host, oldest first.
type ModuleReleases struct {
	Host     string
	Module   string
	Strategy Strategy
	Releases []ledger.Release
}

// Releases lists the releases of each module on every host of the target
// (none for a module deployed in place), host by host, without changing
// anything. The error joins every host's; the list holds the others'.
func Releases(ctx context.Context, p *Project, opts ReleasesOptions) ([]ModuleReleases, error) {
	dopts := Options{Target: opts.Target, Logger: opts.Logger}
	hs, err := loadHosts(p, &dopts, false)
	if err != nil {
		return nil, err
	}
	for _, hc := range hs {
		if hc.mods, err = pick(hc.mods, opts.Modules, hc.Name); err != nil {
			return nil, err
		}
	}
	per := make([][]ModuleReleases, len(hs))
	errs := onHosts(ctx, dopts, hs, "releases on", func(i int, hc *hostCall) error {
		for _, m := range hc.mods {
			mr := ModuleReleases{Host: hc.Name, Module: m.Name(), Strategy: m.Strategy()}
			if m.Strategy() == StrategyReleases {
				var err error
				if mr.Releases, err = m.place().Releases(ctx); err != nil {
					return fmt.Errorf("releases of %s on %s: %w", m.Name(), hc.Name, err)
				}
			}
			per[i] = append(per[i], mr)
		}
		return nil
	})
	var out []ModuleReleases
	for _, p := range per {
		out = append(out, p...)
	}
	return out, errors.Join(errs...)
}
