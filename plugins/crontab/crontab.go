// Package crontab is a porter plugin that ships a module's crontab to the
// host and installs it for the SSH user:
//
//	[plugin:github.com/porter-deploy/porter/plugins/crontab]
//	file = root          ; ships crontab/root.crontab (default: the module's name)
//
// After the send it copies crontab/<file>.crontab from the module's
// directory to <module path>/<file>.crontab. With --update-crontab it then
// installs that file at deploy-finish with crontab - < FILE (on stdin:
// Debian's crontab cuts long file names), which checks the file and refuses
// a malformed one, leaving the installed crontab as it was.
// Before installing it saves the user's current crontab (crontab -l); if the
// deploy fails afterwards, it puts the saved one back (or removes the new one
// when the user had none).
//
// Every path is quoted for the remote shell.
//
// In a plan (deploy --plan) it describes itself: the file it would copy
// and where, whether it would install it (and whether it differs from the
// installed crontab, which it reads with crontab -l, changing nothing),
// what a failed deploy would put back, and what a rollback would install.
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/crontab"
package crontab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scp"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/crontab"

// FlagUpdateCrontab is the name of the --update-crontab flag.
const FlagUpdateCrontab = "update-crontab"

func init() { porter.RegisterPlugin(Name, New) }

// Plugin is the crontab plugin for one module on one host.
type Plugin struct {
	local, remote string
	base          string // the crontab's file name in the module's path
	// what crontab -l printed before this deploy installed its crontab
	installed bool
	hadOld    bool
	old       []byte
}

var (
	_ porter.Plugin            = (*Plugin)(nil)
	_ porter.FlagProvider      = (*Plugin)(nil)
	_ porter.SettingsValidator = (*Plugin)(nil)
)

// New returns a new instance of the plugin.
func New() porter.Plugin { return &Plugin{} }

// Flags adds --update-crontab.
func (*Plugin) Flags() []porter.Flag {
	return []porter.Flag{{Name: FlagUpdateCrontab, Bool: true, Default: "false",
		Usage: "install the module's crontab (crontab - < FILE) at the end of the deploy"}}
}

// ValidateSettings checks the section's keys and that the crontab file
// exists in the module's crontab directory.
func (*Plugin) ValidateSettings(s porter.Settings) error {
	_, err := localCrontab(s)
	return err
}

// localCrontab returns the module's crontab file the section names.
func localCrontab(s porter.Settings) (string, error) {
	if err := s.OnlyKeys("file"); err != nil {
		return "", err
	}
	module := s.Module()
	name := s.String("file", module)
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", fmt.Errorf("%s: file = %q: name a file NAME.crontab of %s without its extension", s.Where(), name, filepath.Join(module, "crontab"))
	}
	base := name + ".crontab"
	local := filepath.Join(s.ModuleDir(), "crontab", base)
	if st, err := os.Stat(local); err != nil || !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s: %s: no such file: create it, or set file = NAME of a NAME.crontab in %s",
			s.Where(), filepath.Join(module, "crontab", base), filepath.Join(module, "crontab"))
	}
	return local, nil
}

// RegisterSignalHandlers finds the crontab file and adds the plugin's
// handlers.
func (p *Plugin) RegisterSignalHandlers(m *porter.Module) error {
	var err error
	if p.local, err = localCrontab(m.PluginSettings()); err != nil {
		return err
	}
	p.base = filepath.Base(p.local)
	p.remote = path.Join(m.Path(), p.base)
	m.PushSignalHandler(porter.SigSourcePostSend, p.ship, porter.Describe(p.describeShip))
	m.PushSignalHandler(porter.SigDeployFinish, p.install, porter.Describe(p.describeInstall))
	m.PushSignalHandler(porter.SigDeployFailed, p.undo, porter.Describe(p.describeUndo))
	m.PushSignalHandler(porter.SigRollbackFinish, p.rollback, porter.Describe(p.describeRollback))
	return nil
}

func (p *Plugin) ship(ctx context.Context, m *porter.Module, _ any) error {
	p.remote = path.Join(m.Path(), p.base) // the release being built, with strategy = releases
	if err := scp.CopyFile(ctx, m.Host(), p.local, p.remote); err != nil {
		return fmt.Errorf("copy crontab: %w", err)
	}
	m.Log().Info("crontab copied", "to", p.remote)
	return nil
}

func (p *Plugin) install(ctx context.Context, m *porter.Module, _ any) error {
	if !m.FlagBool(FlagUpdateCrontab) {
		m.Log().Info("crontab not installed: pass --update-crontab to install it", "file", p.remote)
		return nil
	}
	h := m.Host()
	var err error
	if p.hadOld, p.old, err = installed(ctx, h); err != nil {
		return fmt.Errorf("install crontab: read the current one: %w: install cron on the host (Debian: apt install cron)", err)
	}
	cmd := installCommand(p.remote)
	m.Log().Info("install crontab", "command", cmd)
	if _, err := h.Run(ctx, cmd); err != nil {
		return fmt.Errorf("install crontab %s: %w: fix the lines crontab names in %s", p.remote, err, filepath.Join(m.Name(), "crontab", filepath.Base(p.local)))
	}
	p.installed = true
	return nil
}

// The crontab commands the plugin runs but installCommand: print the
// user's crontab, install the one on stdin, remove the user's crontab.
const (
	listCommand    = "crontab -l"
	restoreCommand = "crontab -"
	removeCommand  = "crontab -r"
)

// installCommand installs file as the user's crontab. It is fed on stdin
// rather than named: Debian's crontab cuts a file name longer than 99
// bytes and then reads the wrong file.
func installCommand(file string) string { return "crontab - < " + remote.Quote(file) }

// installed returns the user's crontab (crontab -l), and false when the
// user has none.
func installed(ctx context.Context, h *remote.Host) (bool, []byte, error) {
	out, err := h.Run(ctx, listCommand)
	var ee *remote.ExitError
	switch {
	case err == nil:
		return true, out.Stdout, nil
	case errors.As(err, &ee) && ee.Status == 1 && strings.Contains(ee.Stderr+string(out.Stderr), "no crontab"):
		return false, nil, nil
	}
	return false, nil, err
}

// rollback installs the crontab of the release rolled back to, when the
// installed crontab is the one of the release rolled back from (the one a
// deploy installed); a crontab porter did not install is left alone.
func (p *Plugin) rollback(ctx context.Context, m *porter.Module, payload any) error {
	info, ok := payload.(porter.RollbackInfo)
	if !ok {
		return fmt.Errorf("%s: payload %T: want a porter.RollbackInfo", porter.SigRollbackFinish, payload)
	}
	h := m.Host()
	q := remote.Quote
	from := path.Join(m.Base(), ledger.ReleasesDir, info.From.ID, p.base)
	to := path.Join(m.Path(), p.base)
	now, err := h.Run(ctx, listCommand)
	if err != nil {
		m.Log().Info("no crontab installed: none reinstalled after the rollback", "file", to)
		return nil
	}
	old, err := h.Run(ctx, "cat -- "+q(from))
	if err != nil || !bytes.Equal(now.Stdout, old.Stdout) {
		m.Log().Info("the installed crontab is not the one of the release rolled back from: left as it is", "release", info.From.ID)
		return nil
	}
	if _, err := h.Run(ctx, installCommand(to)); err != nil {
		return fmt.Errorf("install the crontab of release %s: %w", info.To.ID, err)
	}
	m.Log().Info("crontab of the release rolled back to installed", "file", to)
	return nil
}

func (p *Plugin) undo(ctx context.Context, m *porter.Module, _ any) error {
	if !p.installed {
		return nil
	}
	var err error
	if p.hadOld {
		m.Log().Warn("deploy failed: putting the previous crontab back")
		_, err = m.Host().RunInput(ctx, restoreCommand, bytes.NewReader(p.old))
	} else {
		m.Log().Warn("deploy failed: removing the crontab it installed")
		_, err = m.Host().Run(ctx, removeCommand)
	}
	if err != nil {
		return fmt.Errorf("restore the previous crontab: %w: check crontab -l on the host", err)
	}
	p.installed = false
	return nil
}
