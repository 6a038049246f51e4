package porter

import (
	"fmt"
	"sort"
	"sync"
)

// Plugin is the instance of a plugin for one module on one host. A module
// switches a plugin on by having a [plugin:NAME] section; porter then makes
// an instance with the plugin's factory and calls RegisterSignalHandlers,
// after the module's defaults and its deployment hook.
//
// The contract between porter and a plugin:
//
//   - The plugin owns its name, the one it is registered with: its
//     handlers are owned by that name (HandlerInfo.Owner) and
//     Module.PluginSettings returns its own [plugin:NAME] section, in
//     RegisterSignalHandlers as in its handlers.
//   - A plugin that is a SettingsValidator has its section checked by
//     LoadProject for every module and every host's overrides, without a
//     config or a connection, and again by LoadModule before
//     RegisterSignalHandlers, which may then take the settings as valid.
//   - A handler (and a Describer) always has a connection: m.Host() is
//     never nil in them, as Module.Signal refuses to run handlers on a
//     module loaded without one (ErrNotConnected).
//   - Signal payloads are values, not pointers, of a named type that the
//     signal's doc comment names (SigDeployFailed: DeployFailed); nil for
//     the signals that carry nothing. A plugin's own signals follow the
//     same rule.
type Plugin interface {
	RegisterSignalHandlers(m *Module) error
}

// SettingsValidator is the optional interface of a plugin that checks its
// [plugin:NAME] section apart from wiring handlers: LoadProject calls it
// for each module that uses the plugin, with the section as each host of
// [hosts] sees it (and as no host does), so that a bad setting stops the
// project from loading rather than a deploy halfway through. It must not
// connect anywhere nor depend on the config (--config) deployed; it may
// read the module's local files (Settings.ModuleDir). Its error should
// name the file, section and key (Settings.Where, SettingError) and say
// how to fix the value.
type SettingsValidator interface {
	ValidateSettings(s Settings) error
}

// PluginFactory makes a new instance of a plugin. It is called once per
// module per host, so instances never share state between hosts.
type PluginFactory func() Plugin

// FlagProvider is the optional interface of a plugin that adds command-line
// flags to deploy. The CLI shows them grouped by plugin, only for the plugins
// the project uses; their values reach the plugin through Module.Flag.
type FlagProvider interface {
	Flags() []Flag
}

// Flag describes one command-line flag of a plugin.
type Flag struct {
	Name    string // without dashes: "update-crontab"
	Usage   string
	Bool    bool   // a switch (--name) rather than --name=VALUE
	Default string // the value when the flag is not given
}

// Deployment is a module's own hook, the Go form of the original's
// deployment.py: it pushes, pops or replaces the module's signal handlers.
type Deployment func(m *Module) error

var registry = struct {
	sync.RWMutex
	plugins     map[string]PluginFactory
	deployments map[string]Deployment
}{plugins: map[string]PluginFactory{}, deployments: map[string]Deployment{}}

// RegisterPlugin makes a plugin available under name, which by convention is
// the plugin's Go import path, so the name in an ini says what to import:
//
//	func init() { porter.RegisterPlugin("github.com/acme/deploy/plugins/cdn", newCDN) }
//
// It panics when name is empty, factory is nil, or name is already
// registered, as database/sql.Register does: these are programming errors.
func RegisterPlugin(name string, factory PluginFactory) {
	registry.Lock()
	defer registry.Unlock()
	if name == "" {
		panic("porter: RegisterPlugin with an empty name")
	}
	if factory == nil {
		panic("porter: RegisterPlugin " + name + " with a nil factory")
	}
	if _, dup := registry.plugins[name]; dup {
		panic("porter: RegisterPlugin called twice for " + name)
	}
	registry.plugins[name] = factory
}

// RegisterDeployment sets the hook of the module named module. The hook runs
// when the module is loaded for a deploy, after the default handlers and
// before the plugins'. It panics when module is empty, fn is nil, or the
// module already has a hook.
func RegisterDeployment(module string, fn Deployment) {
	registry.Lock()
	defer registry.Unlock()
	if module == "" {
		panic("porter: RegisterDeployment with an empty module name")
	}
	if fn == nil {
		panic("porter: RegisterDeployment " + module + " with a nil hook")
	}
	if _, dup := registry.deployments[module]; dup {
		panic("porter: RegisterDeployment called twice for module " + module)
	}
	registry.deployments[module] = fn
}

// Plugins returns the names of the registered plugins, sorted.
func Plugins() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.plugins))
	for n := range registry.plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookupPlugin(name string) (PluginFactory, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.plugins[name]
	return f, ok
}

func lookupDeployment(module string) Deployment {
	registry.RLock()
	defer registry.RUnlock()
	return registry.deployments[module]
}

// PluginNotRegisteredError reports an ini that names a plugin the deploy
// program does not import.
type PluginNotRegisteredError struct {
	Name string
}

// Error names the plugin and the import that registers it.
func (e *PluginNotRegisteredError) Error() string {
	return fmt.Sprintf("plugin %q is not registered: add  import _ %q  to your deploy program", e.Name, e.Name)
}

// validateSettings runs the plugin's SettingsValidator, if it has one.
func validateSettings(p Plugin, s Settings) error {
	if v, ok := p.(SettingsValidator); ok {
		return v.ValidateSettings(s)
	}
	return nil
}

// validatePlugins checks every plugin section of def with its plugin's
// SettingsValidator, as no host sees it and as each host does; an error
// only one host's overrides cause names that host.
func (p *Project) validatePlugins(def *moduleDef) error {
	for _, name := range pluginSections(def.file) {
		factory, _ := lookupPlugin(name) // checkPlugins found every one
		plugin := factory()
		sec := "plugin:" + name
		if err := validateSettings(plugin, p.settings(def, sec, "")); err != nil {
			return fmt.Errorf("module %s: %w", def.name, err)
		}
		for _, h := range p.HostNames() {
			if err := validateSettings(plugin, p.settings(def, sec, h)); err != nil {
				return fmt.Errorf("module %s on host %s: %w", def.name, h, err)
			}
		}
	}
	return nil
}

// pluginFlags returns the flags of the plugin name (nil when it has none).
func pluginFlags(name string) []Flag {
	f, ok := lookupPlugin(name)
	if !ok {
		return nil
	}
	if fp, ok := f().(FlagProvider); ok {
		return fp.Flags()
	}
	return nil
}
