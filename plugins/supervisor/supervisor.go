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
// not know yet, as on a first deploy, is not an error). After the send, when
// the host has no launcher in conf_dir yet, or always with --update-launcher,
// it copies supervisor/<launcher>, mode kept, into a private directory it
// makes with mktemp -d (0700, the SSH user's: a launcher's environment= may
// hold secrets), sends SigLauncherUpdated with a LauncherUpdated payload
// naming that file so that other plugins (virtualenv) can fill the
// launcher's placeholders in, and only then moves it into conf_dir:
// atomically over SFTP (written under a temporary name in conf_dir, then
// renamed over the launcher), or with sudo -n install -m MODE, MODE the
// local file's; the directory is removed then. A listener that fails leaves
// conf_dir untouched. At deploy-finish it runs supervisorctl update and
// supervisorctl start GROUP:*.
//
// When the deploy fails, it puts back the launcher it replaced (kept in
// memory: its content and mode, and without use_sudo its modification
// time; with use_sudo the mode is read with sudo -n stat), or removes the one it installed where
// there was none, running supervisorctl update again if supervisord had read
// the new one; then it starts the group again if it stopped it, so a failed
// deploy never leaves the service down nor a launcher of its own behind.
// Once deploy-finish has started the group, the new launcher is kept.
//
// Every value (group, paths) is quoted for the remote shell. With use_sudo,
// commands run as sudo -n (never prompting: allow them in sudoers), the
// launcher is read with sudo -n cat and stat and installed with sudo -n
// install.
//
// In a plan (deploy --plan) it describes itself: the supervisorctl commands
// it would run, whether it would install the launcher (it looks whether
// conf_dir has it, over SFTP or with sudo -n test -e, changing nothing) and
// how, and what a failed deploy would put back.
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/supervisor"
package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/supervisor"

// SigLauncherUpdated is sent after the launcher was staged on the host, before
// it is installed into conf_dir, with a LauncherUpdated payload. It is the original's
// "supervisor-launcher-updated" signal.
const SigLauncherUpdated porter.Signal = "supervisor-launcher-updated"

// FlagUpdateLauncher is the name of the --update-launcher flag.
const FlagUpdateLauncher = "update-launcher"

// DefaultConfDir is where launchers go unless conf_dir says otherwise.
const DefaultConfDir = "/etc/supervisor/conf.d"

// LauncherUpdated is the payload of SigLauncherUpdated.
type LauncherUpdated struct {
	// Path is the launcher on the host, as a file the SSH user may edit:
	// the staged copy in a private directory (mktemp -d), moved into
	// conf_dir once every handler is done (and never when one fails). The
	// directory is removed after.
	Path string
	// UseSudo reports that the launcher is installed with sudo.
	UseSudo bool
}

func init() { porter.RegisterPlugin(Name, New) }

// Plugin is the supervisor plugin for one module on one host.
type Plugin struct {
	cfg      config
	stopped  bool          // the group was stopped by this deploy and not started again
	replaced *scp.Snapshot // the launcher as it was before this deploy wrote conf_dir; nil = untouched
	updated  bool          // supervisorctl update ran in this deploy
}

var (
	_ porter.Plugin            = (*Plugin)(nil)
	_ porter.FlagProvider      = (*Plugin)(nil)
	_ porter.SettingsValidator = (*Plugin)(nil)
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

// ValidateSettings checks the section's keys and values, and that the
// launcher exists in the module's supervisor directory.
func (*Plugin) ValidateSettings(s porter.Settings) error {
	_, err := readConfig(s)
	return err
}

func readConfig(s porter.Settings) (config, error) {
	if err := s.OnlyKeys("launcher", "group_name", "use_sudo", "conf_dir", "config"); err != nil {
		return config{}, err
	}
	var err error
	var c config
	if c.useSudo, err = s.Bool("use_sudo", false); err != nil {
		return c, err
	}
	module := s.Module()
	c.group = s.String("group_name", module)
	if c.group == "" {
		return c, fmt.Errorf("%s: group_name is empty: name the supervisord group, or remove the key to use %q", s.Where(), module)
	}
	c.confDir = s.String("conf_dir", DefaultConfDir)
	if c.confDir == "" {
		return c, fmt.Errorf("%s: conf_dir is empty: remove it to use %s", s.Where(), DefaultConfDir)
	}
	c.ctlConf = s.String("config", "")
	c.name = s.String("launcher", module+".conf")
	if c.name == "" || strings.ContainsAny(c.name, `/\`) || c.name == "." || c.name == ".." {
		return c, fmt.Errorf("%s: launcher = %q: name a file of %s", s.Where(), c.name, filepath.Join(module, "supervisor"))
	}
	c.launcher = filepath.Join(s.ModuleDir(), "supervisor", c.name)
	if st, err := os.Stat(c.launcher); err != nil || !st.Mode().IsRegular() {
		return c, fmt.Errorf("%s: launcher %s: no such file: create it, or set launcher = NAME of a file in %s",
			s.Where(), filepath.Join(module, "supervisor", c.name), filepath.Join(module, "supervisor"))
	}
	return c, nil
}

// RegisterSignalHandlers reads the module's settings and adds the plugin's
// handlers.
func (p *Plugin) RegisterSignalHandlers(m *porter.Module) error {
	var err error
	if p.cfg, err = readConfig(m.PluginSettings()); err != nil {
		return err
	}
	m.PushSignalHandler(porter.SigDeployStart, p.stop, porter.Describe(p.describeStop))
	m.PushSignalHandler(porter.SigSourcePostSend, p.copyLauncher, porter.Describe(p.describeCopy))
	m.PushSignalHandler(porter.SigDeployFinish, p.finish, porter.Describe(p.describeFinish))
	m.PushSignalHandler(porter.SigDeployFailed, p.undo, porter.Describe(p.describeUndo))
	m.PushSignalHandler(porter.SigRollbackFinish, p.restart, porter.Describe(p.describeRestart))
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
	//porter:quoted every part is a literal or passed through remote.Quote above
	return strings.Join(parts, " ")
}

func (p *Plugin) run(ctx context.Context, m *porter.Module, what string, args ...string) (remote.Output, error) {
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
// --update-launcher is given. The launcher is staged in a private directory,
// SigLauncherUpdated is sent with the staged copy (its listeners fill its
// placeholders in), and only then is it moved into conf_dir, so conf_dir
// never holds a launcher with its placeholders left. The launcher it
// replaces is kept in memory for undo.
func (p *Plugin) copyLauncher(ctx context.Context, m *porter.Module, _ any) error {
	h := m.Host()
	dst := path.Join(p.cfg.confDir, p.cfg.name)
	exists, err := p.exists(ctx, m, dst)
	if err != nil {
		return err
	}
	if exists && !m.FlagBool(FlagUpdateLauncher) {
		m.Log().Info("supervisor launcher kept: pass --update-launcher to replace it", "launcher", dst)
		return nil
	}
	old := &scp.Snapshot{Path: dst}
	if exists {
		if old, err = p.save(ctx, m, dst); err != nil {
			return err
		}
	}
	c, err := h.SFTP(ctx)
	if err != nil {
		return fmt.Errorf("copy supervisor launcher: %w", err)
	}
	dir, err := stagingDir(ctx, m)
	if err != nil {
		return fmt.Errorf("copy supervisor launcher: %w", err)
	}
	defer removeStaging(m, c, dir)
	staged := path.Join(dir, p.cfg.name)
	if err := scp.CopyFile(ctx, h, p.cfg.launcher, staged); err != nil {
		return fmt.Errorf("copy supervisor launcher: stage it in %s: %w", dir, err)
	}
	if err := m.Signal(ctx, SigLauncherUpdated, LauncherUpdated{Path: staged, UseSudo: p.cfg.useSudo}); err != nil {
		return err
	}
	// From here conf_dir may change: undo puts the old launcher back.
	p.replaced = old
	if p.cfg.useSudo {
		st, err := os.Stat(p.cfg.launcher)
		if err != nil {
			return fmt.Errorf("install supervisor launcher %s: %w", dst, err)
		}
		cmd := sudoInstall(staged, dst, st.Mode().Perm())
		m.Log().Info("install supervisor launcher", "command", cmd)
		if _, err := h.Run(ctx, cmd); err != nil {
			return fmt.Errorf("install supervisor launcher %s: %w: allow the deploy user to sudo install without a password", dst, err)
		}
		return nil
	}
	if err := moveInto(ctx, h, c, staged, dst); err != nil {
		return fmt.Errorf("install supervisor launcher %s: %w: make %s writable by the SSH user, or set use_sudo = true", dst, err, p.cfg.confDir)
	}
	m.Log().Info("supervisor launcher installed", "to", dst)
	return nil
}

// save reads the launcher dst this deploy is about to replace: with sudo
// its bytes (sudo cat) and mode (sudo stat), else over SFTP with its time.
func (p *Plugin) save(ctx context.Context, m *porter.Module, dst string) (*scp.Snapshot, error) {
	h := m.Host()
	if p.cfg.useSudo {
		out, err := h.Run(ctx, sudoCat(dst))
		if err != nil {
			return nil, fmt.Errorf("copy supervisor launcher: keep the old one: %w: allow the deploy user to sudo cat without a password", err)
		}
		st, err := h.Run(ctx, sudoMode(dst))
		if err != nil {
			return nil, fmt.Errorf("copy supervisor launcher: keep the old one's mode: %w: allow the deploy user to sudo stat without a password", err)
		}
		mode, err := strconv.ParseUint(strings.TrimSpace(string(st.Stdout)), 8, 32)
		if err != nil || mode > 0o7777 {
			return nil, fmt.Errorf("copy supervisor launcher: keep the old one's mode: %s printed %s, not a mode", sudoMode(dst), remote.Printable(strings.TrimSpace(string(st.Stdout))))
		}
		return &scp.Snapshot{Path: dst, Existed: true, Data: out.Stdout, Mode: fs.FileMode(mode).Perm()}, nil
	}
	old, err := scp.Save(ctx, h, dst)
	if err != nil {
		return nil, fmt.Errorf("copy supervisor launcher: keep the old one: %w", err)
	}
	return old, nil
}

// moveInto copies the staged file src over dst atomically (scp.WriteAtomic;
// the staged file may be on another file system than conf_dir, so it is not
// renamed itself).
func moveInto(ctx context.Context, h *remote.Host, c *sftp.Client, src, dst string) error {
	st, err := c.Stat(src)
	if err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	f, err := c.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer f.Close()
	return scp.WriteAtomic(ctx, h, dst, f, st.Mode(), time.Time{})
}

// restore puts back the launcher this deploy replaced, or removes the one it
// installed where there was none. With sudo the old one is staged in a
// private temporary directory and installed with its mode.
func (p *Plugin) restore(ctx context.Context, m *porter.Module) error {
	b := p.replaced
	h := m.Host()
	m.Log().Warn("deploy failed: putting the supervisor launcher back", "launcher", b.Path, "existed", b.Existed)
	if !p.cfg.useSudo {
		return b.Restore(ctx, h)
	}
	if !b.Existed {
		_, err := h.Run(ctx, sudoRemove(b.Path))
		return err
	}
	c, err := h.SFTP(ctx)
	if err != nil {
		return err
	}
	dir, err := stagingDir(ctx, m)
	if err != nil {
		return fmt.Errorf("stage the old launcher: %w", err)
	}
	defer removeStaging(m, c, dir)
	staged := path.Join(dir, p.cfg.name)
	if err := scp.WriteAtomic(ctx, h, staged, bytes.NewReader(b.Data), 0o600, time.Time{}); err != nil {
		return fmt.Errorf("stage the old launcher: %w", err)
	}
	_, err = h.Run(ctx, sudoInstall(staged, b.Path, b.Mode))
	return err
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
	p.updated = true
	if _, err := p.run(ctx, m, "start supervisor group "+p.cfg.group, "start", p.groupPattern()); err != nil {
		return err
	}
	p.stopped, p.replaced, p.updated = false, nil, false
	return nil
}

// restart restarts the group after a rollback switched the module's
// current release, so that it runs the old code.
func (p *Plugin) restart(ctx context.Context, m *porter.Module, _ any) error {
	_, err := p.run(ctx, m, "restart supervisor group "+p.cfg.group+" after the rollback", "restart", p.groupPattern())
	return err
}

// undo puts back the launcher this deploy replaced (or removes the one it
// added), then starts the group again when this deploy stopped it.
func (p *Plugin) undo(ctx context.Context, m *porter.Module, _ any) error {
	var errs []error
	if p.replaced != nil {
		if err := p.restore(ctx, m); err != nil {
			errs = append(errs, fmt.Errorf("put the supervisor launcher %s back: %w", p.replaced.Path, err))
		} else if p.updated {
			// supervisord read the new launcher already: make it read the old one.
			if _, err := p.run(ctx, m, "supervisorctl update after the failed deploy", "update"); err != nil {
				errs = append(errs, err)
			}
		}
		p.replaced, p.updated = nil, false
	}
	if p.stopped {
		m.Log().Warn("deploy failed: starting the supervisor group it stopped", "group", p.cfg.group)
		if _, err := p.run(ctx, m, "restart supervisor group "+p.cfg.group+" after the failed deploy", "start", p.groupPattern()); err != nil {
			errs = append(errs, err)
		} else {
			p.stopped = false
		}
	}
	return errors.Join(errs...)
}
