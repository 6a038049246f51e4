package porter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
)

// Options says what Deploy deploys, where, and how it rolls out over
// several hosts.
type Options struct {
	// Target names the hosts (Host: a host, a group, or a comma list) and
	// how to reach them. Required.
	Target
	// Config names the config/<NAME> directory of each module. Required.
	Config string
	// Release names the [release:NAME] section (default "stable").
	Release string
	// Force redeploys modules whose host record says they are up to date.
	Force Force
	// Flags holds the values of the plugins' command-line flags, by name.
	Flags map[string]string
	// Logger receives progress; default slog.Default().
	Logger *slog.Logger
	// Who is recorded in locks and records (default Who(): user@hostname).
	Who string

	// Batch makes a rolling deploy: Batch hosts at a time, in the target's
	// order; the next batch starts once the one before has ended with fewer
	// failures than MaxFailures in all. 0 = one batch of every host.
	Batch int
	// MaxFailures is how many hosts may fail before no new host starts
	// (hosts in flight finish cleanly). Default 1: the first failure stops
	// the rollout.
	MaxFailures int
	// KeepGoing runs every host to its end whatever fails elsewhere, and
	// skips (and reports) a host whose lock another deploy holds instead of
	// stopping the deploy.
	KeepGoing bool

	// Events, when set, receives the deploy's events as they happen (see
	// Event): porter calls it one call at a time, from the deploy's
	// goroutines, so it must return quickly. The JSON lines of the command
	// line's --json and its live view are made from them.
	Events func(Event)
	// QuietProgress, with Events set, leaves out the once-a-second
	// "sending" log lines of a long source send: the Progress events say
	// it (a live view draws them). Without Events it does nothing, so a
	// long send always shows how far it is.
	QuietProgress bool
}

// Force says which modules to redeploy even when they are up to date.
type Force struct {
	all     bool
	modules []string
}

// ForceAll redeploys every module.
func ForceAll() Force { return Force{all: true} }

// ForceModules redeploys the named modules; none named forces none.
func ForceModules(names ...string) Force { return Force{modules: names} }

// Forces reports whether module is forced.
func (f Force) Forces(module string) bool {
	if f.all {
		return true
	}
	for _, n := range f.modules {
		if n == module {
			return true
		}
	}
	return false
}

// defaults fills in the options' defaults and checks those that hold for
// every host. Status passes needConfig false: it may compare with each
// record's own config.
func (opts *Options) defaults(p *Project, needConfig bool) error {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Release == "" {
		opts.Release = DefaultRelease
	}
	if err := p.checkRelease(opts.Release); err != nil {
		return err
	}
	if opts.Who == "" {
		opts.Who = Who()
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 1
	}
	if (needConfig || opts.Config != "") && !validConfigName(opts.Config) {
		return fmt.Errorf("config %q: %w: name a config/NAME directory of the modules (e.g. testing, production)", opts.Config, ErrNoConfig)
	}
	for _, name := range opts.Force.modules {
		if _, ok := p.modules[name]; !ok {
			return fmt.Errorf("force %s: %w %q: modules of %s: %s", name, ErrUnknownModule, name, p.Name, strings.Join(p.ModuleNames(), ", "))
		}
	}
	return nil
}

// loadHost loads every module of p for host h, in deploy order, before
// anything connects, so that a typo in an ini or a flag never leaves a host
// half-deployed. Each host gets modules and plugin instances of its own.
func loadHost(p *Project, h TargetHost, opts *Options, needConfig bool) ([]*Module, error) {
	order, err := p.Order(h.Override)
	if err != nil {
		return nil, err
	}
	mods := make([]*Module, 0, len(order))
	for _, name := range order {
		m, err := LoadModule(p, name, OnHost(h.Name), WithConfig(opts.Config), WithRelease(opts.Release),
			WithFlags(opts.Flags), WithLogger(opts.Logger.With("host", h.Name)))
		if err != nil {
			return nil, err
		}
		if needConfig {
			// A missing [module] config file stops the deploy before
			// anything connects, not after the source is sent.
			if _, err := m.configFiles(); err != nil {
				return nil, err
			}
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// validConfigName reports whether name can name a config/NAME directory.
func validConfigName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\\\x00")
}

// deployModule deploys one module, whose lock the deploy holds: it skips
// the module when the host's record says it runs exactly what the source
// and settings are now, and otherwise sends SigDeploy and records the
// deploy on the host.
func deployModule(ctx context.Context, m *Module, opts Options, mr *ModuleReport) (err error) {
	start := time.Now()
	defer func() {
		mr.Duration = time.Since(start)
		mr.Sync = m.SentStats()
		mr.Skipped = m.Skips()
		mr.Timings = m.Timings()
		mr.Health = m.HealthCheck()
		if err != nil {
			mr.Outcome, mr.Err = Failed, err
		}
		m.log.Debug("timings", timingAttrs(mr.Timings)...)
		sync := mr.Sync
		m.events.emit(Event{Type: EventModuleEnd, Host: m.hostName, Module: m.Name(), Version: mr.Version,
			Outcome: mr.Outcome, Err: mr.Err, Duration: mr.Duration, Sync: &sync, Skipped: mr.Skipped})
	}()
	want, err := m.wantRecord(ctx, opts.Who)
	m.timed("version", start)
	want.StartedAt = start.UTC()
	m.events.emit(Event{Type: EventModuleStart, Host: m.hostName, Module: m.Name(), Version: want.Version})
	if err != nil {
		return fmt.Errorf("deploy %s to %s: %w", m.Name(), m.hostName, err)
	}
	mr.Version = want.Version
	pl := m.place()
	t := time.Now()
	rec, err := pl.Record(ctx)
	m.timed("record", t)
	var corrupt *ledger.CorruptRecordError
	switch {
	case errors.As(err, &corrupt):
		m.log.Warn(corrupt.Error())
	case err != nil:
		return fmt.Errorf("deploy %s to %s: %w", m.Name(), m.hostName, err)
	case upToDate(rec, want) && !opts.Force.Forces(m.Name()):
		mr.Outcome = Unchanged
		m.log.Info("unchanged", "version", want.Version, "deployed", rec.DeployedAt.Local().Format(time.DateTime), "by", rec.DeployedBy)
		return nil
	}
	m.previous, m.who = rec, opts.Who
	if m.host != nil && m.mayRunCommands() {
		// The handlers' commands and a release's seed take a remote
		// shell: its login starts now, while the procedure starts. A
		// module that runs none starts no login shell for nothing (the
		// sync starts one when its change set needs it).
		m.host.PrewarmShell()
	}
	m.log.Info("deploying", "path", m.Path(), "release", m.ReleaseName(), "config", m.ConfigName(), "strategy", m.Strategy())
	if err := runProcedure(ctx, m); err != nil {
		return err
	}
	if m.build != nil {
		if err := m.saveBuild(context.WithoutCancel(ctx), ledger.Good); err != nil {
			return fmt.Errorf("deploy %s to %s: release %s is live, but could not be marked good: %w", m.Name(), m.hostName, m.build.id, err)
		}
		want.ReleaseID = m.build.id
	}
	want.DeployedAt = time.Now().UTC().Truncate(time.Second)
	t = time.Now()
	err = pl.WriteRecord(context.WithoutCancel(ctx), want)
	m.timed("record-write", t)
	if err != nil {
		return fmt.Errorf("deploy %s to %s: deployed, but the record could not be written (the next deploy redoes it): %w", m.Name(), m.hostName, err)
	}
	mr.Outcome = Deployed
	if want.ReleaseID != "" {
		m.log.Info("deployed", "version", want.Version, "release", want.ReleaseID)
	} else {
		m.log.Info("deployed", "version", want.Version)
	}
	if m.build != nil {
		t = time.Now()
		if err := m.pruneReleases(context.WithoutCancel(ctx)); err != nil {
			m.log.Warn("could not remove old releases: the next deploy tries again", "error", err)
		}
		m.timed("prune", t)
	}
	return nil
}

// wantRecord is the record the module will have once deployed.
func (m *Module) wantRecord(ctx context.Context, who string) (ledger.Record, error) {
	co, err := m.Checkout(ctx)
	if err != nil {
		return ledger.Record{}, err
	}
	hash, items, err := m.settingsDigest()
	if err != nil {
		return ledger.Record{}, err
	}
	return ledger.Record{Module: m.Name(), Version: co.Version, Release: m.release, Config: m.config,
		SettingsHash: hash, Settings: items, DeployedBy: who, PorterVersion: Version(), Host: m.hostName}, nil
}

// runProcedure sends SigDeploy, runs the module's health check and, when
// either fails, SigDeployFailed. A release that finished (SigDeployFinish
// ran: services may run the new code) and then failed its check is rolled
// back first, with the rollback signals, as Rollback does.
func runProcedure(ctx context.Context, m *Module) error {
	err := m.Signal(ctx, SigDeploy, nil)
	finished := err == nil
	if finished {
		if err = m.checkHealth(ctx); err == nil {
			return nil
		}
	}
	// The undo runs even when ctx was cancelled (Ctrl-C): it restores
	// current and services, which matters most then.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if finished {
		if rerr := m.rollBackFinished(uctx); rerr != nil {
			m.log.Error("could not roll back to the previous release", "error", rerr)
			err = also(err, rerr)
		}
	}
	if aerr := m.abortRelease(uctx); aerr != nil {
		m.log.Error("could not put the release back", "error", aerr)
		err = also(err, aerr)
	}
	if ferr := m.Signal(uctx, SigDeployFailed, DeployFailed{Err: err}); ferr != nil {
		m.log.Error("undo after failure failed too", "error", ferr)
		err = also(err, ferr)
	}
	m.removeFailedRelease(uctx)
	return err
}

// lock takes the module's lock on its host for who, and returns what
// releases it, even after ctx is cancelled (Ctrl-C), adding the release's
// error to *err.
func (m *Module) lock(ctx context.Context, who string) (unlock func(err *error), err error) {
	lock, err := m.place().Lock(ctx, ledger.Holder{By: who, Host: m.hostName})
	if err != nil {
		return nil, err
	}
	if lock.TookOver != nil {
		m.log.Warn("took over the lock of a deploy that is gone", "holder", ledger.OneLine(lock.TookOver.By),
			"pid", lock.TookOver.PID, "since", lock.TookOver.Since.Local().Format(time.DateTime), "why", lock.TookOverWhy)
	}
	return func(err *error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := lock.Release(rctx); rerr != nil {
			m.log.Error("could not release the lock", "error", rerr)
			*err = also(*err, rerr)
		}
	}, nil
}

// dial connects to a host for one of the project-level calls.
func dial(ctx context.Context, address string, log *slog.Logger, opts []remote.Option) (*remote.Host, error) {
	return remote.Dial(ctx, address, append([]remote.Option{remote.WithLogger(log)}, opts...)...)
}

// place names the module on its host, for its bookkeeping.
func (m *Module) place() ledger.Place {
	return ledger.Place{Host: m.host, Module: m.Name(), Path: m.path}
}

// ErrUnknownRelease is wrapped by the error of a release that no module
// of the project has a [release:NAME] section for.
var ErrUnknownRelease = errors.New("unknown release")

// checkRelease refuses a release other than DefaultRelease that no module
// defines: a dir:// module ships its tree whatever the release, so a typo
// would otherwise deploy it without a word.
func (p *Project) checkRelease(name string) error {
	if name == DefaultRelease {
		return nil
	}
	seen := map[string]bool{}
	var names []string
	for _, m := range p.ModuleNames() {
		for _, s := range p.modules[m].file.Sections() {
			r, ok := strings.CutPrefix(s.Name(), "release:")
			if !ok || seen[r] {
				continue
			}
			if r == name {
				return nil
			}
			seen[r] = true
			names = append(names, r)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("release %q: %w: no module of %s has a [release:NAME] section, so the only release is the default, %s: add [release:%s] to a module's ini, or deploy %s", name, ErrUnknownRelease, p.Name, DefaultRelease, name, DefaultRelease)
	}
	sort.Strings(names)
	return fmt.Errorf("release %q: %w: no module of %s has a [release:%s] section; the releases defined: %s", name, ErrUnknownRelease, p.Name, name, strings.Join(names, ", "))
}
