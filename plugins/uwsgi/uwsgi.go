// Package uwsgi is a porter plugin for modules served by uWSGI in emperor
// mode: it ships the module's vassal launchers and reloads their masters:
//
//	[plugin:github.com/porter-deploy/porter/plugins/uwsgi]
//	launchers = api.ini, worker.ini   ; files of uwsgi/ in the module dir (default <module>.ini)
//	vassals_dir = /etc/uwsgi/vassals  ; the emperor's directory (this is the default)
//	pid_dir = /run/uwsgi              ; where each master writes <launcher name>.pid (this is the default)
//	copy_domains = true               ; also copy config/<--config>/domains.txt to the module's path
//	emperor = true                    ; false: copy no launcher, only --restart
//
// After the send, in emperor mode, it copies each launcher to vassals_dir
// when the host has none of that name yet, or always with
// --update-vassal-launcher (the emperor then reloads the vassal by itself),
// and with copy_domains the config file domains.txt into the module's path.
// With --restart it sends SIGHUP, at deploy-finish, to the master of each
// launcher, whose pid it reads from <pid_dir>/<launcher without .ini>.pid:
// every pid file is read and checked to hold a process id before any
// signal is sent.
//
// When the deploy fails after a launcher was replaced, the launcher that
// was there before is put back (a new one is removed), so the emperor runs
// the previous vassal again. Every path is quoted for the remote shell.
//
// In a plan (deploy --plan) it describes itself: which launchers it would
// copy and which it keeps (vassals_dir looked at over SFTP), the domains
// file, the reload commands with the pids the pid files hold now (read
// over SFTP, a few bytes each), and what a failed deploy would put back.
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/uwsgi"
package uwsgi

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

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/scp"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/uwsgi"

// The plugin's flags.
const (
	FlagRestart              = "restart"
	FlagUpdateVassalLauncher = "update-vassal-launcher"
)

// Defaults of the section's keys.
const (
	DefaultVassalsDir = "/etc/uwsgi/vassals"
	DefaultPidDir     = "/run/uwsgi"
)

// DomainsFile is the config file copied with copy_domains = true.
const DomainsFile = "domains.txt"

func init() { porter.RegisterPlugin(Name, New) }

// Plugin is the uwsgi plugin for one module on one host.
type Plugin struct {
	launchers   []string // base names, in uwsgi/
	dir         string   // local uwsgi/ dir
	vassalsDir  string
	pidDir      string
	copyDomains bool
	emperor     bool
	replaced    []*scp.Snapshot // launchers this deploy wrote, to put back on failure
}

var (
	_ porter.Plugin            = (*Plugin)(nil)
	_ porter.FlagProvider      = (*Plugin)(nil)
	_ porter.SettingsValidator = (*Plugin)(nil)
)

// New returns a new instance of the plugin.
func New() porter.Plugin { return &Plugin{} }

// Flags adds --restart and --update-vassal-launcher.
func (*Plugin) Flags() []porter.Flag {
	return []porter.Flag{
		{Name: FlagRestart, Bool: true, Default: "false", Usage: "reload the uWSGI masters (SIGHUP) at the end of the deploy"},
		{Name: FlagUpdateVassalLauncher, Bool: true, Default: "false", Usage: "copy the uWSGI vassal launchers even when the host has them"},
	}
}

// ValidateSettings checks the section's keys and values, and that every
// launcher exists in the module's uwsgi directory.
func (*Plugin) ValidateSettings(s porter.Settings) error {
	var p Plugin
	return p.read(s)
}

// read reads the section into p.
func (p *Plugin) read(s porter.Settings) error {
	if err := s.OnlyKeys("launchers", "vassals_dir", "pid_dir", "copy_domains", "emperor"); err != nil {
		return err
	}
	var err error
	if p.copyDomains, err = s.Bool("copy_domains", false); err != nil {
		return err
	}
	if p.emperor, err = s.Bool("emperor", true); err != nil {
		return err
	}
	p.vassalsDir = s.String("vassals_dir", DefaultVassalsDir)
	p.pidDir = s.String("pid_dir", DefaultPidDir)
	if p.vassalsDir == "" || p.pidDir == "" {
		return fmt.Errorf("%s: vassals_dir and pid_dir cannot be empty: remove them to use %s and %s", s.Where(), DefaultVassalsDir, DefaultPidDir)
	}
	p.launchers = s.List("launchers")
	if _, set := s.Lookup("launchers"); !set {
		p.launchers = []string{s.Module() + ".ini"}
	}
	local := filepath.Join(s.Module(), "uwsgi") // for messages
	if len(p.launchers) == 0 {
		return fmt.Errorf("%s: launchers is empty: list files of %s", s.Where(), local)
	}
	p.dir = filepath.Join(s.ModuleDir(), "uwsgi")
	for _, l := range p.launchers {
		if strings.ContainsAny(l, `/\`) || l == "." || l == ".." {
			return fmt.Errorf("%s: launchers: %q: name a file of %s", s.Where(), l, local)
		}
		if st, err := os.Stat(filepath.Join(p.dir, l)); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("%s: launcher %s: no such file: create it, or fix launchers", s.Where(), filepath.Join(local, l))
		}
	}
	return nil
}

// RegisterSignalHandlers reads the section, checks the domains file for
// the deploy's config, and adds the plugin's handlers.
func (p *Plugin) RegisterSignalHandlers(m *porter.Module) error {
	s := m.PluginSettings()
	if err := p.read(s); err != nil {
		return err
	}
	if p.copyDomains && m.ConfigName() != "" {
		if _, err := scp.ConfigFile(m, DomainsFile); err != nil {
			return fmt.Errorf("%s: copy_domains: %w", s.Where(), err)
		}
	}
	m.PushSignalHandler(porter.SigSourcePostSend, p.ship, porter.Describe(p.describeShip))
	m.PushSignalHandler(porter.SigDeployFinish, p.restart, porter.Describe(p.describeRestart))
	m.PushSignalHandler(porter.SigDeployFailed, p.undo, porter.Describe(p.describeUndo))
	return nil
}

// pidFile returns the pid file of the master of launcher.
func (p *Plugin) pidFile(launcher string) string {
	return path.Join(p.pidDir, strings.TrimSuffix(launcher, path.Ext(launcher))+".pid")
}

func (p *Plugin) ship(ctx context.Context, m *porter.Module, _ any) error {
	h := m.Host()
	if p.emperor {
		c, err := h.SFTP(ctx)
		if err != nil {
			return fmt.Errorf("copy uwsgi launchers: %w", err)
		}
		update := m.FlagBool(FlagUpdateVassalLauncher)
		for _, l := range p.launchers {
			dst := path.Join(p.vassalsDir, l)
			_, err := c.Stat(dst)
			switch {
			case err == nil && !update:
				m.Log().Info("uwsgi launcher kept: pass --update-vassal-launcher to replace it", "launcher", dst)
				continue
			case err != nil && !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("copy uwsgi launcher %s: stat %s:%s: %w", l, h.Name(), dst, err)
			}
			b, err := scp.Save(ctx, h, dst)
			if err != nil {
				return fmt.Errorf("copy uwsgi launcher %s: keep the old one: %w", l, err)
			}
			if err := scp.CopyFile(ctx, h, filepath.Join(p.dir, l), dst); err != nil {
				return fmt.Errorf("copy uwsgi launcher: %w: make %s writable by the SSH user", err, p.vassalsDir)
			}
			p.replaced = append(p.replaced, b)
			m.Log().Info("uwsgi launcher copied", "to", dst)
		}
	}
	if p.copyDomains {
		return scp.CopyConfigFile(ctx, m, DomainsFile)
	}
	return nil
}

func (p *Plugin) restart(ctx context.Context, m *porter.Module, _ any) error {
	if !m.FlagBool(FlagRestart) {
		return nil
	}
	h := m.Host()
	pids := make([]int, len(p.launchers))
	for i, l := range p.launchers {
		file := p.pidFile(l)
		out, err := h.Run(ctx, catCommand(file))
		if err != nil {
			return fmt.Errorf("restart uwsgi %s: read pid file %s: %w: is its master running with pidfile = %s?", l, file, err, file)
		}
		pid, err := parsePid(out.Stdout)
		if err != nil {
			return fmt.Errorf("restart uwsgi %s: pid file %s: %w", l, file, err)
		}
		pids[i] = pid
	}
	for i, l := range p.launchers {
		cmd := reloadCommand(pids[i])
		m.Log().Info("reload uwsgi", "launcher", l, "command", cmd)
		if _, err := h.Run(ctx, cmd); err != nil {
			return fmt.Errorf("restart uwsgi %s: %w: the pid file %s names no process of the SSH user: is the master running?", l, err, p.pidFile(l))
		}
	}
	return nil
}

// parsePid returns the process id a pid file holds: one decimal number
// greater than 1 (never 0 or -1, which kill reads as a process group or
// every process), surrounded by white space at most.
func parsePid(b []byte) (int, error) {
	s := string(bytes.TrimSpace(b))
	n, err := strconv.Atoi(s)
	if err != nil || n <= 1 || strconv.Itoa(n) != s {
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return 0, fmt.Errorf("holds %q, not a process id: remove it and restart the master", s)
	}
	return n, nil
}

// undo puts back the launchers this deploy replaced.
func (p *Plugin) undo(ctx context.Context, m *porter.Module, _ any) error {
	var errs []error
	for i := len(p.replaced) - 1; i >= 0; i-- {
		b := p.replaced[i]
		m.Log().Warn("deploy failed: putting the uwsgi launcher back", "launcher", b.Path, "existed", b.Existed)
		if err := b.Restore(ctx, m.Host()); err != nil {
			errs = append(errs, err)
		}
	}
	p.replaced = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("put the uwsgi launchers back: %w", err)
	}
	return nil
}
