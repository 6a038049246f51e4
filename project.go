package porter

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-ini/ini"
)

// ProjectFile is the name of the file that makes a directory a project.
const ProjectFile = "project.ini"

// Project is a directory of modules: project.ini plus one ini per module.
// It is read once by LoadProject and never changed by a deploy, so one
// Project may serve deploys to several hosts at once.
type Project struct {
	// Dir is the project directory (absolute).
	Dir string
	// Name is [project] name.
	Name string
	// Depends is [project] depends: the root modules, in order.
	Depends []string
	// Hosts is the [hosts] section, in file order.
	Hosts []HostEntry

	modules map[string]*moduleDef
}

// moduleDef is a module's ini as read from disk, before it is bound to a host.
type moduleDef struct {
	name string
	dir  string // absolute
	ini  string // path of the module ini, relative to the project dir
	file *ini.File
}

// ErrUnknownHost is returned (wrapped) when --host names no [hosts] entry.
var ErrUnknownHost = errors.New("unknown host")

// ErrNotAProject is wrapped by LoadProject's error for a directory without
// a project.ini.
var ErrNotAProject = errors.New("not a porter project")

// ErrNoConfig is wrapped by the error of a deploy that names no config, or
// a config that cannot name a config/NAME directory.
var ErrNoConfig = errors.New("no valid config name")

// ErrUnknownModule is returned (wrapped) when a name is not a module of the project.
var ErrUnknownModule = errors.New("unknown module")

// CycleError reports modules that depend on each other.
type CycleError struct {
	Path []string // a -> b -> a
}

// Error prints the cycle, a -> b -> a.
func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Path, " -> ") + ": remove one of these depends"
}

// LoadProject reads dir/project.ini and the ini of every module reachable
// from [project] depends, and checks them: every module ini exists, the
// dependencies have no cycle for any host, every plugin section names a
// registered plugin, and every plugin that is a SettingsValidator accepts
// its section, as each host of [hosts] sees it (see validatePlugins).
func LoadProject(dir string) (*Project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", dir, err)
	}
	path := filepath.Join(abs, ProjectFile)
	f, err := loadINI(path, path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no %s): %w", abs, ErrNotAProject, ProjectFile, err)
	}
	if err != nil {
		return nil, err
	}
	if isEmpty(f) {
		return nil, fmt.Errorf("%s is empty: write [project] depends = the root modules, and [hosts] NAME = user@host", path)
	}
	p := &Project{Dir: abs, modules: map[string]*moduleDef{}}
	proj := f.Section("project")
	p.Name = strings.TrimSpace(proj.Key("name").String())
	if p.Name == "" {
		p.Name = filepath.Base(abs)
	}
	p.Depends = splitList(proj.Key("depends").String())
	if len(p.Depends) == 0 {
		return nil, fmt.Errorf("%s [project]: depends is empty: list the root modules, e.g. depends = root", path)
	}
	if err := p.loadHosts(f.Section("hosts"), path); err != nil {
		return nil, err
	}
	dirs := map[string]string{}
	for _, k := range f.Section("modules").Keys() {
		dirs[k.Name()] = strings.TrimSpace(k.Value())
	}
	if err := p.loadModules(dirs); err != nil {
		return nil, err
	}
	for _, h := range append([]string{""}, p.HostNames()...) {
		if _, err := p.Order(h); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// loadModules reads every module reachable from Depends, with the depends
// of every host's overrides, so that Order never meets an unread module.
func (p *Project) loadModules(dirs map[string]string) error {
	queue := append([]string(nil), p.Depends...)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, done := p.modules[name]; done {
			continue
		}
		def, err := p.readModule(name, dirs[name])
		if err != nil {
			return err
		}
		p.modules[name] = def
		sec := def.file.Section("module")
		for _, k := range sec.Keys() {
			if k.Name() == "depends" || strings.HasPrefix(k.Name(), "depends-") {
				queue = append(queue, splitList(k.Value())...)
			}
		}
		if err := p.checkPlugins(def); err != nil {
			return err
		}
		if err := p.validatePlugins(def); err != nil {
			return err
		}
	}
	return nil
}

func (p *Project) readModule(name, rel string) (*moduleDef, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("%s: module name %q is not valid: use a plain directory name, and map it to a path in [modules]", ProjectFile, name)
	}
	if rel == "" {
		rel = name
	}
	dir := rel
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(p.Dir, rel)
	}
	iniPath := filepath.Join(dir, filepath.Base(dir)+".ini")
	f, err := loadINI(iniPath, p.rel(iniPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("module %s: %s: no such file: create it with a [module] section, or map the module to its directory in [modules] of %s: %w", name, p.rel(iniPath), ProjectFile, ErrUnknownModule)
	}
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	if isEmpty(f) {
		return nil, fmt.Errorf("module %s: %s is empty: write a [module] section with path = /where/it/goes", name, p.rel(iniPath))
	}
	if !f.HasSection("module") {
		return nil, fmt.Errorf("module %s: %s has no [module] section: add one with path = /where/it/goes", name, p.rel(iniPath))
	}
	return &moduleDef{name: name, dir: dir, ini: p.rel(iniPath), file: f}, nil
}

func (p *Project) checkPlugins(def *moduleDef) error {
	for _, name := range pluginSections(def.file) {
		if name == "" {
			return fmt.Errorf("module %s: %s [plugin:%s]: names no plugin: write [plugin:IMPORT/PATH], the import path of a plugin your deploy program imports", def.name, def.ini, pluginSuffix(def.file))
		}
		if _, ok := lookupPlugin(name); !ok {
			return fmt.Errorf("module %s: %s [plugin:%s]: %w", def.name, def.ini, name, &PluginNotRegisteredError{Name: name})
		}
	}
	return nil
}

// pluginSuffix is what follows "plugin:" in the first [plugin:] section
// that names no plugin, as written.
func pluginSuffix(f *ini.File) string {
	for _, s := range f.Sections() {
		if name, ok := strings.CutPrefix(s.Name(), "plugin:"); ok && strings.TrimSpace(name) == "" {
			return name
		}
	}
	return ""
}

func pluginSections(f *ini.File) []string {
	var names []string
	for _, s := range f.Sections() {
		if name, ok := strings.CutPrefix(s.Name(), "plugin:"); ok {
			names = append(names, strings.TrimSpace(name))
		}
	}
	return names
}

func (p *Project) rel(path string) string {
	if r, err := filepath.Rel(p.Dir, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// ModuleNames returns every module of the project, sorted.
func (p *Project) ModuleNames() []string {
	names := make([]string, 0, len(p.modules))
	for n := range p.modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PluginsUsed returns the plugins that any module of the project names, sorted.
func (p *Project) PluginsUsed() []string {
	seen := map[string]bool{}
	var out []string
	for _, def := range p.modules {
		for _, n := range pluginSections(def.file) {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Order returns the modules in deploy order for the host named host ("" =
// no override): depth-first over depends from [project] depends,
// dependencies first, each module once, the order of the lists kept; a
// module shared by two others (a diamond) comes once, before both.
// A cycle is a *CycleError.
func (p *Project) Order(host string) ([]string, error) {
	var order []string
	done := map[string]bool{}
	var visit func(name string, stack []string) error
	visit = func(name string, stack []string) error {
		for i, s := range stack {
			if s == name {
				return &CycleError{Path: append(append([]string(nil), stack[i:]...), name)}
			}
		}
		if done[name] {
			return nil
		}
		def, ok := p.modules[name]
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownModule, name)
		}
		stack = append(stack, name)
		deps := p.settings(def, "module", host).List("depends")
		for _, d := range deps {
			if err := visit(d, stack); err != nil {
				return err
			}
		}
		done[name] = true
		order = append(order, name)
		return nil
	}
	for _, root := range p.Depends {
		if err := visit(root, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ModulePath returns where module goes on the host named host: [module]
// path with the host's override, cleaned. A relative path is relative to
// the login directory of the SSH user, as with scp and rsync.
func (p *Project) ModulePath(module, host string) (string, error) {
	def, ok := p.modules[module]
	if !ok {
		return "", fmt.Errorf("%w %q: modules of %s: %s", ErrUnknownModule, module, p.Name, strings.Join(p.ModuleNames(), ", "))
	}
	s := p.settings(def, "module", host)
	v, ok := s.Lookup("path")
	if !ok || v == "" {
		return "", fmt.Errorf("module %s: %s: path is not set: add path = /where/it/goes/on/the/host", module, s.Where())
	}
	if strings.ContainsAny(v, "\x00\n\r") {
		return "", fmt.Errorf("module %s: %s: path = %q: a path on the host cannot hold a NUL or a line break", module, s.Where(), v)
	}
	switch c := path.Clean(v); c {
	case "/", ".":
		what := map[string]string{"/": "the root directory", ".": "the login directory itself"}[c]
		return "", fmt.Errorf("module %s: %s: path = %s is %s: a deploy writes its records there and may delete what the source lacks: name a directory of the module's own, such as /srv/%s", module, s.Where(), v, what, module)
	default:
		return c, nil
	}
}

func (p *Project) settings(def *moduleDef, section, host string) Settings {
	s := Settings{host: host, hosts: p.HostNames(), where: def.ini + " [" + section + "]", module: def.name, dir: def.dir}
	if def.file.HasSection(section) {
		s.sec = def.file.Section(section)
	}
	return s
}
