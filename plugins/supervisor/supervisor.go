// Package supervisor is a porter plugin that stops a module's supervisord
// process group while the module is deployed, installs its launcher (the
// supervisord program config) and starts the group again:
//
//	[plugin:github.com/porter-deploy/porter/plugins/supervisor]
//	launcher = root.conf              ; supervisor/root.conf in the module dir (default <module>.conf)
//	group_name = root                 ; the group to stop and start (default the module name)
//	use_sudo = true                   ; run supervisorctl and install the launcher with sudo -n
//	conf_dir = /etc/supervisor/conf.d ; where the launcher goes (this is the default)
//	config = /etc/supervisor/supervisord.conf ; passed as supervisorctl -c (default: none)
//
// At deploy-start it runs supervisorctl stop GROUP:* (a group supervisord does
// not know yet, as on a first deploy, is not an error). After the send it
// copies supervisor/<launcher> to conf_dir when the host has none there yet,
// or always with --update-launcher, and then sends SigLauncherUpdated with a
// LauncherUpdated payload so that other plugins (virtualenv) can fill the
// launcher's placeholders in. At deploy-finish it runs supervisorctl update and
// supervisorctl start GROUP:*. When the deploy fails after the group was
// stopped, it starts the group again, so a failed deploy never leaves the
// service down.
//
// Every value (group, paths) is quoted for the remote shell. With use_sudo,
// commands run as sudo -n (never prompting: allow them in sudoers), and the
// launcher is staged in the module's path, edited there by the
// listeners of SigLauncherUpdated, then installed with sudo -n install.
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/supervisor"
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/supervisor"

// SigLauncherUpdated is sent after the launcher was copied to the host, with
// a LauncherUpdated payload. It is the original's
// "supervisor-launcher-updated" signal.
const SigLauncherUpdated porter.Signal = "supervisor-launcher-updated"

// FlagUpdateLauncher is the name of the --update-launcher flag.
const FlagUpdateLauncher = "update-launcher"

// DefaultConfDir is where launchers go unless conf_dir says otherwise.
const DefaultConfDir = "/etc/supervisor/conf.d"

// LauncherUpdated is the payload of SigLauncherUpdated.
type LauncherUpdated struct {
	// Path is the launcher on the host, as a file the SSH user may edit:
	// the file in conf_dir, or with UseSudo the staged copy that is
	// installed into conf_dir with sudo once every handler is done.
	Path string
	// UseSudo reports that the launcher is installed with sudo.
	UseSudo bool
}

func init() { porter.RegisterPlugin(Name, New) }

// Plugin is the supervisor plugin for one module on one host.
type Plugin struct {
	cfg     config
	stopped bool // the group was stopped by this deploy and not started again
}

var (
	_ porter.Plugin       = (*Plugin)(nil)
	_ porter.FlagProvider = (*Plugin)(nil)
)

// New returns a new instance of the plugin.
func New() porter.Plugin { return &Plugin{} }

// Flags adds --update-launcher.
func (*Plugin) Flags() []porter.Flag {
	return []porter.Flag{{Name: FlagUpdateLauncher, Bool: true, Default: "false",
		Usage: "copy the supervisor launcher to the host even when it is already there"}}
}

type config struct {
	launcher string // local file
	name     string // launcher's base name
	group    string
	useSudo  bool
	confDir  string
	ctlConf  string // supervisorctl -c
}

var knownKeys = map[string]bool{"launcher": true, "group_name": true, "use_sudo": true, "conf_dir": true, "config": true}

// RegisterSignalHandlers reads the module's settings, checks the launcher
// exists locally, and adds the plugin's handlers.
func (p *Plugin) RegisterSignalHandlers(m *porter.Module) error {
	s := m.PluginSettings(Name)
	for _, k := range s.Keys() {
		if !knownKeys[k] {
			return fmt.Errorf("%s: unknown key %q: use launcher, group_name, use_sudo, conf_dir or config", s.Where(), k)
		}
	}
	var err error
	c := &p.cfg
	if c.useSudo, err = s.Bool("use_sudo", false); err != nil {
		return err
	}
	c.group = s.String("group_name", m.Name())
	if c.group == "" {
		return fmt.Errorf("%s: group_name is empty: name the supervisord group, or remove the key to use %q", s.Where(), m.Name())
	}
	c.confDir = s.String("conf_dir", DefaultConfDir)
	if c.confDir == "" {
		return fmt.Errorf("%s: conf_dir is empty: remove it to use %s", s.Where(), DefaultConfDir)
	}
	c.ctlConf = s.String("config", "")
	c.name = s.String("launcher", m.Name()+".conf")
	if c.name == "" || strings.ContainsAny(c.name, `/\`) || c.name == "." || c.name == ".." {
		return fmt.Errorf("%s: launcher = %q: name a file of %s", s.Where(), c.name, filepath.Join(m.Name(), "supervisor"))
	}
	c.launcher = filepath.Join(m.Dir(), "supervisor", c.name)
	if st, err := os.Stat(c.launcher); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("%s: launcher %s: no such file: create it, or set launcher = NAME of a file in %s",
			s.Where(), filepath.Join(m.Name(), "supervisor", c.name), filepath.Join(m.Name(), "supervisor"))
	}
	m.PushSignalHandler(porter.SigDeployStart, p.stop)
	m.PushSignalHandler(porter.SigSourcePostSend, p.copyLauncher)
	m.PushSignalHandler(porter.SigDeployFinish, p.finish)
	m.PushSignalHandler(porter.SigDeployFailed, p.undo)
	return nil
}

// ctl builds a supervisorctl command line from quoted arguments.
func (p *Plugin) ctl(args ...string) string {
	parts := []string{}
	if p.cfg.useSudo {
		parts = append(parts, "sudo", "-n")
	}
	parts = append(parts, "supervisorctl")
	if p.cfg.ctlConf != "" {
		parts = append(parts, "-c", remote.Quote(p.cfg.ctlConf))
	}
	for _, a := range args {
		parts = append(parts, remote.Quote(a))
	}
	return strings.Join(parts, " ")
}

func (p *Plugin) run(ctx context.Context, m *porter.Module, what string, args ...string) (remote.Output, error) {
	if m.Host() == nil {
		return remote.Output{}, fmt.Errorf("%s: module %s is not connected to a host", what, m.Name())
	}
	cmd := p.ctl(args...)
	m.Log().Info(what, "command", cmd)
	out, err := m.Host().Run(ctx, cmd)
	if err != nil {
		said := "" // supervisorctl reports on stdout
		if o := strings.TrimSpace(string(out.Stdout)); o != "" {
			if len(o) > 300 {
				o = o[:300] + "..."
			}
			said = fmt.Sprintf(" (supervisorctl: %q)", o)
		}
		return out, fmt.Errorf("%s: %w%s: check that supervisord runs on the host, knows the group, and that supervisorctl reaches it%s",
			what, err, said, p.hint())
	}
	return out, nil
}

func (p *Plugin) hint() string {
	h := " (set config = /path/to/supervisord.conf if it is not the default one"
	if p.cfg.useSudo {
		h += "; with use_sudo, allow the deploy user to sudo supervisorctl without a password"
	} else {
		h += "; set use_sudo = true if only root may use it"
	}
	return h + ")"
}

func (p *Plugin) groupPattern() string { return p.cfg.group + ":*" }

// stop stops the group; a group supervisord does not know is left alone.
func (p *Plugin) stop(ctx context.Context, m *porter.Module, _ any) error {
	out, err := p.run(ctx, m, "stop supervisor group "+p.cfg.group, "stop", p.groupPattern())
	if err != nil {
		if strings.Contains(string(out.Stdout)+string(out.Stderr), "no such group") {
			m.Log().Info("supervisor group not known yet: nothing to stop", "group", p.cfg.group)
			return nil
		}
		return err
	}
	p.stopped = true
	return nil
}

// copyLauncher installs the launcher when the host lacks it or
// --update-launcher is given, then sends SigLauncherUpdated.
func (p *Plugin) copyLauncher(ctx context.Context, m *porter.Module, _ any) error {
	h := m.Host()
	if h == nil {
		return fmt.Errorf("copy supervisor launcher: module %s is not connected to a host", m.Name())
	}
	dst := path.Join(p.cfg.confDir, p.cfg.name)
	if !m.FlagBool(FlagUpdateLauncher) {
		exists, err := p.exists(ctx, m, dst)
		if err != nil {
			return err
		}
		if exists {
			m.Log().Info("supervisor launcher kept: pass --update-launcher to replace it", "launcher", dst)
			return nil
		}
	}
	if !p.cfg.useSudo {
		if err := scp.CopyFile(ctx, h, p.cfg.launcher, dst); err != nil {
			return fmt.Errorf("copy supervisor launcher: %w: make %s writable by the SSH user, or set use_sudo = true", err, p.cfg.confDir)
		}
		m.Log().Info("supervisor launcher copied", "to", dst)
		return m.Signal(ctx, SigLauncherUpdated, LauncherUpdated{Path: dst})
	}
	staged := path.Join(m.Path(), ".supervisor-"+p.cfg.name+".porter-staged")
	if err := scp.CopyFile(ctx, h, p.cfg.launcher, staged); err != nil {
		return fmt.Errorf("copy supervisor launcher: stage it: %w", err)
	}
	defer func() {
		if _, err := h.Run(context.WithoutCancel(ctx), "rm -f -- "+remote.Quote(staged)); err != nil {
			m.Log().Warn("could not remove the staged launcher", "file", staged, "error", err)
		}
	}()
	if err := m.Signal(ctx, SigLauncherUpdated, LauncherUpdated{Path: staged, UseSudo: true}); err != nil {
		return err
	}
	cmd := "sudo -n install -m 0644 -- " + remote.Quote(staged) + " " + remote.Quote(dst)
	m.Log().Info("install supervisor launcher", "command", cmd)
	if _, err := h.Run(ctx, cmd); err != nil {
		return fmt.Errorf("install supervisor launcher %s: %w: allow the deploy user to sudo install without a password", dst, err)
	}
	return nil
}

// exists reports whether the launcher is on the host already.
func (p *Plugin) exists(ctx context.Context, m *porter.Module, dst string) (bool, error) {
	if !p.cfg.useSudo {
		c, err := m.Host().SFTP(ctx)
		if err != nil {
			return false, fmt.Errorf("copy supervisor launcher: %w", err)
		}
		_, err = c.Stat(dst)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, os.ErrNotExist):
			return false, nil
		}
		return false, fmt.Errorf("copy supervisor launcher: stat %s:%s: %w", m.Host().Name(), dst, err)
	}
	_, err := m.Host().Run(ctx, "sudo -n test -e "+remote.Quote(dst))
	var ee *remote.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.Status == 1:
		return false, nil
	}
	return false, fmt.Errorf("copy supervisor launcher: %w: allow the deploy user to sudo test without a password", err)
}

// finish makes supervisord read the launchers and starts the group.
func (p *Plugin) finish(ctx context.Context, m *porter.Module, _ any) error {
	if _, err := p.run(ctx, m, "supervisorctl update", "update"); err != nil {
		return err
	}
	if _, err := p.run(ctx, m, "start supervisor group "+p.cfg.group, "start", p.groupPattern()); err != nil {
		return err
	}
	p.stopped = false
	return nil
}

// undo starts the group again when this deploy stopped it.
func (p *Plugin) undo(ctx context.Context, m *porter.Module, _ any) error {
	if !p.stopped {
		return nil
	}
	m.Log().Warn("deploy failed: starting the supervisor group it stopped", "group", p.cfg.group)
	if _, err := p.run(ctx, m, "restart supervisor group "+p.cfg.group+" after the failed deploy", "start", p.groupPattern()); err != nil {
		return err
	}
	p.stopped = false
	return nil
}
