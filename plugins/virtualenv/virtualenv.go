// Package virtualenv is a porter plugin that keeps a Python virtual
// environment for a module on the host and installs its requirements:
//
//	[plugin:github.com/porter-deploy/porter/plugins/virtualenv]
//	path = /home/app/venvs/root            ; the virtualenv (default <module path>/.venv; relative = under the module path)
//	requirements = file:__destpath__/requirements.txt, gunicorn==22.0.0
//	python = python3.12                    ; the interpreter that creates it (default python3)
//	pip_options = --no-index, --find-links=/srv/wheels   ; extra pip install arguments
//
// After the send it creates the virtualenv with PYTHON -m venv -- PATH when the
// host has none there yet. With --update-requirements it then runs
// PATH/bin/python -m pip install with every requirement: file:X stands for
// -r X, and __destpath__ in any item is replaced by the module's path.
//
// When the supervisor plugin sends supervisor.SigLauncherUpdated, it fills
// the launcher's placeholders in: __env__ becomes the virtualenv's path and
// __project__ the module's path, both through the live path (<path>/current
// with strategy = releases: a rollback's restart runs the old release).
// They are written as they are: supervisord splits command= like a shell,
// so quote them there when a path may hold a space
// (command="__env__/bin/gunicorn" app:wsgi).
//
// Every value (paths, requirements, options) is quoted for the remote shell:
// each is one argument, never shell syntax. A failed deploy leaves the
// virtualenv as it is: pip install cannot be undone, and the next deploy
// installs the requirements again.
//
// In a plan (deploy --plan) it describes itself: the command that creates
// the virtualenv (and whether the host has it already, looked up over
// SFTP), the pip install command with its URL credentials masked, or why
// it is skipped, and the placeholders it would fill in.
//
// With [module] delete = true, add .venv to [module] exclude so that the
// sync does not remove a virtualenv kept in the module's path.
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/virtualenv"
package virtualenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/virtualenv"

// FlagUpdateRequirements is the name of the --update-requirements flag.
const FlagUpdateRequirements = "update-requirements"

// DefaultDir is the virtualenv's path, under the module's path, when the
// section sets none.
const DefaultDir = ".venv"

func init() { porter.RegisterPlugin(Name, New) }

// Plugin is the virtualenv plugin for one module on one host.
type Plugin struct{}

var (
	_ porter.Plugin            = (*Plugin)(nil)
	_ porter.FlagProvider      = (*Plugin)(nil)
	_ porter.SettingsValidator = (*Plugin)(nil)
)

// settings returns the plugin's section of m. The exported helpers below
// serve other plugins too (django runs the virtualenv's Python), so they
// name the section rather than take m.PluginSettings, which is the calling
// plugin's.
func settings(m *porter.Module) porter.Settings { return m.Section("plugin:" + Name) }

// New returns a new instance of the plugin.
func New() porter.Plugin { return &Plugin{} }

// Flags adds --update-requirements.
func (*Plugin) Flags() []porter.Flag {
	return []porter.Flag{{Name: FlagUpdateRequirements, Bool: true, Default: "false",
		Usage: "pip install the requirements of plugin virtualenv"}}
}

// Dir returns the virtualenv of m on its host: the section's path (relative
// to the module's path), or <module path>/.venv. Other plugins (django) use
// it to run the module's Python.
func Dir(m *porter.Module) string { return dirUnder(m, m.Path()) }

// dirUnder is the virtualenv's path with a relative one under root.
func dirUnder(m *porter.Module, root string) string {
	d := settings(m).String("path", DefaultDir)
	if d == "" {
		d = DefaultDir
	}
	if !path.IsAbs(d) {
		d = path.Join(root, d)
	}
	return path.Clean(d)
}

// launcherValues are what a launcher's __env__ and __project__ become: the
// virtualenv and the module through its live path ([porter.Module.CurrentPath]:
// <path>/current with strategy = releases), not the release being built,
// so that supervisord runs the live release: the new one once current is
// switched, the old one again after a rollback restarts the group.
func launcherValues(m *porter.Module) map[string]string {
	return map[string]string{"env": dirUnder(m, m.CurrentPath()), "project": m.CurrentPath()}
}

// Requirements returns the pip install arguments for the section's
// requirements: file:X becomes -r X, and __destpath__ the module's path.
func Requirements(m *porter.Module) []string {
	return requirements(settings(m), m.Path())
}

func requirements(s porter.Settings, destpath string) []string {
	var args []string
	for _, r := range s.List("requirements") {
		r = strings.ReplaceAll(r, "__destpath__", destpath)
		if f, ok := strings.CutPrefix(r, "file:"); ok {
			args = append(args, "-r", strings.TrimSpace(f))
			continue
		}
		args = append(args, r)
	}
	return args
}

// ValidateSettings checks the section's keys, that python names an
// interpreter, and that no requirement is a pip option.
func (*Plugin) ValidateSettings(s porter.Settings) error {
	if err := s.OnlyKeys("path", "requirements", "python", "pip_options"); err != nil {
		return err
	}
	if v, ok := s.Lookup("python"); ok && v == "" {
		return fmt.Errorf("%s: python is empty: name the interpreter (e.g. python3.12) or remove the key", s.Where())
	}
	for _, r := range requirements(s, "/") { // any absolute path: it starts no option
		if strings.HasPrefix(r, "-") && r != "-r" {
			return fmt.Errorf("%s: requirements: %q looks like an option: put pip options in pip_options", s.Where(), r)
		}
	}
	return nil
}

// RegisterSignalHandlers adds the plugin's handlers (LoadModule has
// validated the section).
func (p *Plugin) RegisterSignalHandlers(m *porter.Module) error {
	m.PushSignalHandler(porter.SigSourcePostSend, p.update, porter.Describe(p.describeUpdate))
	m.PushSignalHandler(supervisor.SigLauncherUpdated, p.fillLauncher, porter.Describe(p.describeFill))
	return nil
}

// CreateCommand is the command that creates the virtualenv of m when the
// host has none.
func CreateCommand(m *porter.Module) string {
	venv := Dir(m)
	py := settings(m).String("python", "python3")
	return "test -x " + remote.Quote(path.Join(venv, "bin", "python")) + " || " +
		remote.Quote(py) + " -m venv -- " + remote.Quote(venv)
}

// InstallCommand is the command that installs the requirements of m, and
// false when there are none.
func InstallCommand(m *porter.Module) (string, bool) {
	reqs := Requirements(m)
	if len(reqs) == 0 {
		return "", false
	}
	args := append(settings(m).List("pip_options"), reqs...)
	cmd := remote.Quote(path.Join(Dir(m), "bin", "python")) + " -m pip install"
	for _, a := range args {
		cmd += " " + remote.Quote(a)
	}
	return cmd, true
}

// installStep returns the pip install command update runs, or why it runs
// none.
func installStep(m *porter.Module) (cmd, skip string) {
	if !m.FlagBool(FlagUpdateRequirements) {
		return "", "--" + FlagUpdateRequirements + " not given"
	}
	cmd, ok := InstallCommand(m)
	if !ok {
		return "", "no requirements in [plugin:" + Name + "]"
	}
	return cmd, ""
}

// describeUpdate says what update would do. It looks at the host (over
// SFTP, changing nothing) to say whether the virtualenv is there already.
func (p *Plugin) describeUpdate(ctx context.Context, m *porter.Module, _ any) ([]string, error) {
	create := porter.DescribeRun(CreateCommand(m))
	py := path.Join(Dir(m), "bin", "python")
	if c, err := m.Host().SFTP(ctx); err == nil {
		switch st, err := c.Stat(py); {
		case err == nil && st.Mode()&0o111 != 0:
			create += " (" + py + " is there: it creates nothing)"
		case errors.Is(err, fs.ErrNotExist):
			create += " (no " + py + " yet: it creates the virtualenv)"
		}
	}
	cmd, skip := installStep(m)
	if skip != "" {
		return []string{create, "skip pip install: " + skip}, nil
	}
	return []string{create, porter.DescribeRun(cmd)}, nil
}

func (p *Plugin) update(ctx context.Context, m *porter.Module, _ any) error {
	h := m.Host()
	cmd := CreateCommand(m)
	m.Log().Info("virtualenv", "command", cmd)
	if _, err := h.Run(ctx, cmd); err != nil {
		return fmt.Errorf("create virtualenv %s: %w: install the interpreter's venv module on the host (Debian: apt install python3-venv) or set python = the interpreter to use", Dir(m), err)
	}
	cmd, skip := installStep(m)
	if skip != "" {
		m.Log().Debug("pip install skipped", "why", skip)
		return nil
	}
	m.Log().Info("pip install", "command", porter.MaskCommand(cmd))
	if _, err := h.Run(ctx, cmd); err != nil {
		return fmt.Errorf("install requirements in %s: %w: check the requirements and that the host reaches the package index (or set pip_options)", Dir(m), err)
	}
	return nil
}

// launcherOf returns the launcher a SigLauncherUpdated payload names.
func launcherOf(payload any) (string, error) {
	lu, ok := payload.(supervisor.LauncherUpdated) // a value, as every payload
	if !ok {
		return "", fmt.Errorf("virtualenv: %s: payload %T: want a supervisor.LauncherUpdated", supervisor.SigLauncherUpdated, payload)
	}
	if lu.Path == "" {
		return "", errors.New("virtualenv: " + string(supervisor.SigLauncherUpdated) + ": the payload names no launcher")
	}
	return lu.Path, nil
}

// describeFill says what fillLauncher would write; a plan sends no payload
// (no launcher is staged), so the launcher is then named by its role.
func (p *Plugin) describeFill(_ context.Context, m *porter.Module, payload any) ([]string, error) {
	launcher := "the staged supervisor launcher"
	if payload != nil {
		l, err := launcherOf(payload)
		if err != nil {
			return nil, err
		}
		launcher = l
	}
	v := launcherValues(m)
	return []string{"fill in " + launcher + ": __env__ = " + v["env"] + ", __project__ = " + v["project"]}, nil
}

// fillLauncher replaces __env__ and __project__ in the launcher.
func (p *Plugin) fillLauncher(ctx context.Context, m *porter.Module, payload any) error {
	launcher, err := launcherOf(payload)
	if err != nil {
		return err
	}
	v := launcherValues(m)
	err = scp.ReplaceModulePlaceholders(ctx, m, launcher, v)
	if err != nil {
		return fmt.Errorf("virtualenv: fill the launcher in: %w", err)
	}
	m.Log().Info("launcher filled in", "launcher", launcher, "env", v["env"])
	return nil
}
