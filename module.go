package porter

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/rsync"
	"github.com/porter-deploy/porter/scm"
)

// DefaultRelease is the release deployed when none is named.
const DefaultRelease = "stable"

// Module is one module of a project bound to one host for one deploy: its
// settings are read with that host's overrides, and its signal handlers and
// plugin instances are its own, so modules deployed to several hosts at once
// never share any.
type Module struct {
	project  *Project
	def      *moduleDef
	hostName string // the host deployed to (see TargetHost.Name)
	override string // the [hosts] name whose overrides apply (TargetHost.Override)
	config   string
	release  string
	flags    map[string]string
	host     *remote.Host
	log      *slog.Logger
	path     string

	handlers    map[Signal][]handlerEntry
	owner       string // who pushes handlers now (see HandlerInfo.Owner)
	plugins     []string
	pluginFlags []Flag // the flags the module's plugins declare, in order

	previous *ledger.Record // what the host ran before this deploy, if known
	who      string         // who deploys, for records and releases
	rel      releaseSettings
	build    *releaseBuild // the release being built or rolled back to
	health   *healthCheck  // [module] health or health_command; nil = none

	releaseAt time.Time    // names the release (one id on every host of a deploy); zero = now
	sources   *sourceCache // the deploy's checkouts, shared by its hosts; nil = the module's own
	events    *events      // the deploy's Options.Events; nil = none
	// lastOnHost: no module of the deploy follows on this host, so no
	// later sync will want a remote shell this one starts.
	lastOnHost bool

	mu       sync.Mutex
	checkout *scm.Checkout
	stats    rsync.Stats
	skips    []Skip
	timings  []Timing
	srcCheck time.Duration // the dir:// source's check after the send (source-check)
	checked  *HealthResult // what the health check found, once it ran
}

// ModuleOption sets how LoadModule binds a module.
type ModuleOption func(*Module)

// OnHost binds the module to the host name names: a [hosts] name, or an
// address a group lists. The KEY-<name> overrides of its line apply (for an
// address a group lists, those of the group).
func OnHost(name string) ModuleOption { return func(m *Module) { m.hostName = name } }

// WithConfig names the config directory (config/<name>) of the deploy.
func WithConfig(name string) ModuleOption { return func(m *Module) { m.config = name } }

// WithRelease names the [release:NAME] section to deploy (default "stable").
func WithRelease(name string) ModuleOption { return func(m *Module) { m.release = name } }

// WithConnection gives the module its host's SSH connection.
func WithConnection(h *remote.Host) ModuleOption { return func(m *Module) { m.host = h } }

// WithFlags gives the module the values of the plugins' command-line flags.
func WithFlags(flags map[string]string) ModuleOption {
	return func(m *Module) { m.flags = flags }
}

// WithLogger sets the module's logger (default slog.Default()).
func WithLogger(l *slog.Logger) ModuleOption { return func(m *Module) { m.log = l } }

// LoadModule binds the module name of p and registers its handlers: first
// the defaults (SigDeploy runs the procedure, SigSourceSend syncs the
// source, and for a module with a [module] config key SigSourcePostSend
// copies those config files), then the module's Deployment hook, then each
// plugin's, in the order of the ini's sections.
func LoadModule(p *Project, name string, opts ...ModuleOption) (*Module, error) {
	def, ok := p.modules[name]
	if !ok {
		return nil, fmt.Errorf("%w %q: modules of %s: %s", ErrUnknownModule, name, p.Name, strings.Join(p.ModuleNames(), ", "))
	}
	m := &Module{project: p, def: def, release: DefaultRelease, handlers: map[Signal][]handlerEntry{}}
	for _, o := range opts {
		o(m)
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.log = m.log.With("module", name)
	if m.hostName != "" {
		h, err := p.resolveOne(m.hostName)
		if err != nil {
			return nil, err
		}
		m.override = h.Override
	}
	if err := m.loadPath(); err != nil {
		return nil, err
	}
	if err := m.loadReleaseSettings(); err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	if err := m.checkSyncSettings(); err != nil {
		return nil, err
	}
	if err := m.loadHealth(); err != nil {
		return nil, err
	}
	m.owner = OwnerPorter
	m.PushSignalHandler(SigDeploy, deployProcedure, Describe(describeProcedure))
	m.PushSignalHandler(SigSourceSend, sendSource, Describe(describeSend))
	if names, err := m.configNames(); err != nil {
		return nil, err
	} else if len(names) > 0 {
		m.PushSignalHandler(SigSourcePostSend, copyConfigFiles, Describe(describeConfigCopy))
	}
	defer func() { m.owner = "" }() // pushed later: by the caller, unnamed
	if hook := lookupDeployment(name); hook != nil {
		m.owner = OwnerHook
		if err := hook(m); err != nil {
			return nil, fmt.Errorf("module %s: deployment hook: %w", name, err)
		}
	}
	for _, pname := range pluginSections(def.file) {
		factory, ok := lookupPlugin(pname)
		if !ok {
			return nil, fmt.Errorf("module %s: %s [plugin:%s]: %w", name, def.ini, pname, &PluginNotRegisteredError{Name: pname})
		}
		plugin := factory()
		m.owner = pname
		if err := validateSettings(plugin, m.PluginSettings()); err != nil {
			return nil, fmt.Errorf("module %s: %w", name, err)
		}
		if err := plugin.RegisterSignalHandlers(m); err != nil {
			return nil, fmt.Errorf("module %s: plugin %s: %w", name, pname, err)
		}
		m.plugins = append(m.plugins, pname)
		if fp, ok := plugin.(FlagProvider); ok {
			m.pluginFlags = append(m.pluginFlags, fp.Flags()...)
		}
	}
	return m, nil
}

func (m *Module) loadPath() error {
	p, err := m.project.ModulePath(m.Name(), m.override)
	m.path = p
	return err
}

// Name returns the module's name.
func (m *Module) Name() string { return m.def.name }

// Dir returns the module's local directory (absolute).
func (m *Module) Dir() string { return m.def.dir }

// Project returns the project the module belongs to.
func (m *Module) Project() *Project { return m.project }

// HostName returns the host the module is bound to ("" if none): its
// [hosts] name, or the address a group lists.
func (m *Module) HostName() string { return m.hostName }

// Host returns the SSH connection to the module's host, shared by every
// step of the deploy. A handler or a Describer never sees nil: Signal and
// DescribeSignal refuse to run them on a module loaded without
// WithConnection (ErrNotConnected), so plugins do not check. Outside them
// it is nil when the module is not bound to a connection.
func (m *Module) Host() *remote.Host { return m.host }

// Connected reports whether the module has its host's connection (see
// WithConnection): whether Signal may run its handlers.
func (m *Module) Connected() bool { return m.host != nil }

// Log returns the module's logger.
func (m *Module) Log() *slog.Logger { return m.log }

// ConfigName returns the name of the deploy's config (--config).
func (m *Module) ConfigName() string { return m.config }

// ConfigDir returns <module dir>/config/<config name>, the local directory
// of this environment's config files.
func (m *Module) ConfigDir() string { return filepath.Join(m.def.dir, "config", m.config) }

// ReleaseName returns the name of the release deployed (--release).
func (m *Module) ReleaseName() string { return m.release }

// Path returns where the module's source goes on the host: [module] path
// with the host's override, cleaned. A relative path is relative to the
// login directory of the SSH user, as with scp and rsync.
//
// With [module] strategy = releases, during a deploy it is the release
// being built (<path>/releases/<id>), and during a rollback the release
// rolled back to; use [Module.CurrentPath] for the live one and
// [Module.Base] for [module] path itself.
func (m *Module) Path() string {
	if m.build != nil {
		return path.Join(m.path, ledger.ReleasesDir, m.build.id)
	}
	return m.path
}

// Section returns the settings of a section of the module's ini.
func (m *Module) Section(name string) Settings { return m.project.settings(m.def, name, m.override) }

// Settings returns the [module] section.
func (m *Module) Settings() Settings { return m.Section("module") }

// Release returns the [release:NAME] section of the release deployed.
func (m *Module) Release() Settings { return m.Section("release:" + m.release) }

// PluginSettings returns the [plugin:NAME] section of the plugin whose code
// runs now: the plugin in its RegisterSignalHandlers, or the plugin that
// pushed the running handler or Describer (see HandlerInfo.Owner). A
// plugin so never repeats its own name. Elsewhere (a module hook, a test)
// it is the zero Settings; read another plugin's section with
// Section("plugin:" + name).
func (m *Module) PluginSettings() Settings {
	switch m.owner {
	case "", OwnerPorter, OwnerHook:
		return Settings{}
	}
	return m.Section("plugin:" + m.owner)
}

// Plugins returns the plugins the module uses, in ini order.
func (m *Module) Plugins() []string { return append([]string(nil), m.plugins...) }

// Flag returns the value of a plugin's command-line flag: what the user gave,
// else the flag's default.
func (m *Module) Flag(name string) string {
	if v, ok := m.flags[name]; ok {
		return v
	}
	for _, f := range m.pluginFlags {
		if f.Name == name {
			return f.Default
		}
	}
	return ""
}

// FlagBool returns a plugin's switch: true for "true", "1", "yes" or "on".
func (m *Module) FlagBool(name string) bool {
	switch strings.ToLower(m.Flag(name)) {
	case "true", "1", "yes", "on":
		return true
	}
	return false
}

// Checkout gets the module's source for the release deployed with the
// module's [scm] url (see package scm), once: later calls return the same
// checkout. A module without an [scm] url ships nothing and has no version.
// Deploy calls it before the module's lock is taken, so that a source that
// cannot be fetched stops the deploy before anything on the host changes.
func (m *Module) Checkout(ctx context.Context) (scm.Checkout, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checkout != nil {
		return *m.checkout, nil
	}
	start := time.Now()
	var co scm.Checkout
	var err error
	if m.sources != nil {
		co, err = m.sources.get(ctx, m)
	} else {
		co, err = m.fetchSource(ctx)
	}
	if err != nil {
		return scm.Checkout{}, err
	}
	m.checkout = &co
	m.timings = append(m.timings, Timing{"checkout", time.Since(start)})
	return co, nil
}

func (m *Module) fetchSource(ctx context.Context) (scm.Checkout, error) {
	src, rel, err := m.source()
	if err != nil {
		return scm.Checkout{}, err
	}
	if src == nil {
		return scm.Checkout{Ref: "no [scm] url: nothing to ship"}, nil
	}
	co, err := src.Checkout(ctx, rel)
	if err != nil {
		return scm.Checkout{}, fmt.Errorf("checkout: %w", err)
	}
	return co, nil
}

// checkSource makes the checks of the module's checkout that need neither
// the network nor a read of the tree (see scm.Source.Check), with
// Checkout's errors: Deploy makes them before it dials, then checks out
// while it dials.
func (m *Module) checkSource() error {
	src, rel, err := m.source()
	if src == nil || err != nil {
		return err
	}
	if err := src.Check(rel); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	return nil
}

// source returns the module's scm source and release (nil: no [scm] url).
func (m *Module) source() (scm.Source, scm.Release, error) {
	url, ok := m.Section("scm").Lookup("url")
	if !ok || url == "" {
		return nil, scm.Release{}, nil
	}
	src, err := scm.New(url, m.Dir())
	if err != nil {
		return nil, scm.Release{}, fmt.Errorf("%s [scm] url: %w", m.def.ini, err)
	}
	rel := m.Release()
	if !rel.Exists() && src.Scheme() == "git" {
		return nil, scm.Release{}, fmt.Errorf("%s: no [release:%s] section: add one with branch = NAME (or tag, commit)", m.def.ini, m.release)
	}
	return src, scm.Release{
		Name:    m.release,
		Branch:  rel.String("branch", ""),
		Tag:     rel.String("tag", ""),
		Commit:  rel.String("commit", ""),
		Version: rel.String("version", ""),
	}, nil
}

// SentStats returns what the source sync sent for this module so far.
func (m *Module) SentStats() rsync.Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

func (m *Module) recordSync(s rsync.Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats = s
}
