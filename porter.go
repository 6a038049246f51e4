package porter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/rsync"
)

// Options says what Deploy deploys, where.
type Options struct {
	// Host is the [hosts] name to deploy to. Required.
	Host string
	// Address replaces the [hosts] address of Host (e.g. for a test server).
	Address string
	// Config names the config/<NAME> directory of each module. Required.
	Config string
	// Release names the [release:NAME] section (default "stable").
	Release string
	// Force redeploys modules whose host record says they are up to date.
	Force Force
	// Flags holds the values of the plugins' command-line flags, by name.
	Flags map[string]string
	// Dial configures the SSH connection (known_hosts, keys, ...).
	Dial []remote.Option
	// Logger receives progress; default slog.Default().
	Logger *slog.Logger
}

// Force says which modules to redeploy even when they are up to date.
type Force struct {
	all     bool
	modules []string
}

// ForceAll redeploys every module.
func ForceAll() Force { return Force{all: true} }

// ForceModules redeploys the named modules; none named means all.
func ForceModules(names ...string) Force {
	if len(names) == 0 {
		return ForceAll()
	}
	return Force{modules: names}
}

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

// Status is what a deploy did with one module.
type Status string

// The statuses of a module in a Report.
const (
	StatusDeployed  Status = "deployed"
	StatusUnchanged Status = "unchanged"
	StatusFailed    Status = "failed"
	StatusNotRun    Status = "not run" // an earlier module failed
)

// Report is what Deploy did, module by module, in deploy order.
type Report struct {
	Host     string
	Address  string
	Modules  []ModuleReport
	Duration time.Duration
}

// ModuleReport is what Deploy did with one module.
type ModuleReport struct {
	Module   string
	Status   Status
	Version  string
	Err      error
	Duration time.Duration
	Sync     rsync.Stats
}

// Deploy deploys every module of p to opts.Host in dependency order over one
// SSH connection, and returns what it did. It stops at the first module that
// fails: that module's SigDeployFailed handlers run, the later modules are
// reported as not run, and the error names the module, host and signal.
// The Report is never nil.
func Deploy(ctx context.Context, p *Project, opts Options) (*Report, error) {
	start := time.Now()
	rep := &Report{Host: opts.Host}
	defer func() { rep.Duration = time.Since(start) }()
	mods, err := prepare(p, &opts)
	if err != nil {
		return rep, err
	}
	rep.Address = opts.Address
	for _, m := range mods {
		rep.Modules = append(rep.Modules, ModuleReport{Module: m.Name(), Status: StatusNotRun})
	}
	opts.Logger.Info("connecting", "host", opts.Host, "address", opts.Address)
	host, err := remote.Dial(ctx, opts.Address, append([]remote.Option{remote.WithLogger(opts.Logger)}, opts.Dial...)...)
	if err != nil {
		return rep, fmt.Errorf("deploy to %s: %w", opts.Host, err)
	}
	defer host.Close()
	for i, m := range mods {
		m.host = host
		mr := &rep.Modules[i]
		if err := deployModule(ctx, m, mr); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// prepare checks opts and loads every module before anything connects, so
// that a typo in an ini or a flag never leaves a host half-deployed.
func prepare(p *Project, opts *Options) ([]*Module, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Release == "" {
		opts.Release = DefaultRelease
	}
	if opts.Host == "" {
		return nil, fmt.Errorf("no host given: %w: pass --host NAME; %s", ErrUnknownHost, p.validHosts())
	}
	addr, err := p.HostAddress(opts.Host)
	if err != nil {
		return nil, err
	}
	if opts.Address == "" {
		opts.Address = addr
	}
	if opts.Config == "" || strings.ContainsAny(opts.Config, `/\`) || opts.Config == ".." || opts.Config == "." {
		return nil, fmt.Errorf("config %q: pass --config NAME, the name of a config/NAME directory of the modules (e.g. testing, production)", opts.Config)
	}
	order, err := p.Order(opts.Host)
	if err != nil {
		return nil, err
	}
	for _, name := range opts.Force.modules {
		if _, ok := p.modules[name]; !ok {
			return nil, fmt.Errorf("--force %s: %w %q: modules of %s: %s", name, ErrUnknownModule, name, p.Name, strings.Join(p.ModuleNames(), ", "))
		}
	}
	mods := make([]*Module, 0, len(order))
	for _, name := range order {
		m, err := LoadModule(p, name, OnHost(opts.Host), WithConfig(opts.Config), WithRelease(opts.Release),
			WithFlags(opts.Flags), WithLogger(opts.Logger.With("host", opts.Host)))
		if err != nil {
			return nil, err
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// deployModule sends SigDeploy to m and, when it fails, SigDeployFailed.
func deployModule(ctx context.Context, m *Module, mr *ModuleReport) error {
	start := time.Now()
	defer func() { mr.Duration = time.Since(start); mr.Sync = m.SentStats() }()
	m.log.Info("deploying", "path", m.Path(), "release", m.ReleaseName(), "config", m.ConfigName())
	err := m.Signal(ctx, SigDeploy, nil)
	if co := m.checkoutDone(); co != "" {
		mr.Version = co
	}
	if err == nil {
		mr.Status = StatusDeployed
		m.log.Info("deployed", "version", mr.Version)
		return nil
	}
	mr.Status, mr.Err = StatusFailed, err
	// The undo handlers run even when ctx was cancelled (Ctrl-C): they
	// restore services, which matters most then.
	undoCtx := context.WithoutCancel(ctx)
	if ferr := m.Signal(undoCtx, SigDeployFailed, &DeployFailed{Err: err}); ferr != nil {
		m.log.Error("undo after failure failed too", "error", ferr)
		err = errors.Join(err, ferr)
		mr.Err = err
	}
	return err
}

func (m *Module) checkoutDone() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checkout == nil {
		return ""
	}
	return m.checkout.Version
}
