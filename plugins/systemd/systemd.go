// Package systemd is a porter plugin that restarts (or reloads) a module's
// systemd units at the end of a deploy and waits until each is active:
//
//	[plugin:github.com/porter-deploy/porter/plugins/systemd]
//	units = app.service, worker    ; required; a name without a unit suffix gets .service
//	action = restart               ; restart (default), reload or reload-or-restart
//	user = false                   ; true: systemctl --user (the SSH user's own manager)
//	use_sudo = false               ; true: sudo -n systemctl and sudo -n journalctl
//	timeout = 30s                  ; how long the action and the wait may take together
//
// At deploy-finish it runs one systemctl ACTION -- UNIT... for all the
// units, which returns once systemd has done the jobs, then asks
// systemctl show -p Id,LoadState,ActiveState,SubState,Result for their
// states, again and again (after 50 ms, then twice as long each time, at
// most a second apart, the last one when the timeout runs out; each
// bounded to 10 s), until every unit is active. A unit that is failed or
// inactive, or not loaded, ends the wait at once, and one still
// activating at the last poll ends it too: the error (a
// *UnitError) gives each unit that is not active, its states, and its last
// journal lines (journalctl -u UNIT -n 20 --no-pager, at most 8 KiB of them
// per unit). Active is what systemd reports: for a Type=simple service it
// means the process was started, not that it answers (a oneshot service
// needs RemainAfterExit=yes to stay active).
//
// --skip-restart leaves the units alone; the deploy's report lists the
// step as skipped.
//
// After a rollback (SigRollbackFinish, once current points to the release
// rolled back to) it acts on the units again and waits, so that they run
// the old code. It does nothing at SigRollbackStart: current has not moved
// yet then.
//
// When the deploy fails after this plugin acted on the units, its
// SigDeployFailed handler starts again what it stopped, only among the
// units it acted on (with strategy = releases current is back on the
// previous release by then, so they run the old code again), and waits for
// them as at the finish. A restart stops every unit before starting it, and
// a unit whose new code fails stays down: with action = restart every unit
// counts as stopped, and is restarted. A reload stops nothing, but the
// units read the new code: with action = reload the units that are not
// active are started and the others reloaded, and with action =
// reload-or-restart the units are reload-or-restarted (which starts those
// that are down). A deploy that fails before deploy-finish, or with
// --skip-restart, touches no unit.
//
// Every value is quoted for the remote shell, and unit names come after
// --. With use_sudo, the actions and journalctl run as sudo -n (never
// prompting: allow them in sudoers); systemctl show, which any user may
// run, does not use sudo. With user = true the SSH user needs a running
// user manager (loginctl enable-linger USER keeps it running without a
// login); use_sudo and user cannot both be set.
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/systemd"
package systemd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/porter-deploy/porter"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/systemd"

// FlagSkipRestart is the name of the --skip-restart flag.
const FlagSkipRestart = "skip-restart"

// DefaultTimeout is how long the action and the wait for the units may take
// together unless timeout says otherwise.
const DefaultTimeout = 30 * time.Second

// Action is what the plugin asks systemd to do with the units.
type Action string

// The actions of the action setting: systemctl's verbs.
const (
	Restart         Action = "restart"
	Reload          Action = "reload"
	ReloadOrRestart Action = "reload-or-restart"
)

func init() { porter.RegisterPlugin(Name, New) }

// Plugin is the systemd plugin for one module on one host.
type Plugin struct {
	cfg config
	// acted is the units this deploy acted on at deploy-finish, which a
	// failed deploy starts again; nil when it acted on none.
	acted []string
}

var (
	_ porter.Plugin            = (*Plugin)(nil)
	_ porter.FlagProvider      = (*Plugin)(nil)
	_ porter.SettingsValidator = (*Plugin)(nil)
)

// New returns a new instance of the plugin.
func New() porter.Plugin { return &Plugin{} }

// Flags adds --skip-restart.
func (*Plugin) Flags() []porter.Flag {
	return []porter.Flag{{Name: FlagSkipRestart, Bool: true, Default: "false",
		Usage: "leave the systemd units of plugin systemd alone (no restart or reload)"}}
}

// ValidateSettings checks the section's keys and values.
func (*Plugin) ValidateSettings(s porter.Settings) error {
	_, err := readConfig(s)
	return err
}

// RegisterSignalHandlers reads the module's settings and adds the plugin's
// handlers, each with what it would do in a plan.
func (p *Plugin) RegisterSignalHandlers(m *porter.Module) error {
	cfg, err := readConfig(m.PluginSettings())
	if err != nil {
		return err
	}
	p.cfg = cfg
	m.PushSignalHandler(porter.SigDeployFinish, p.finish, porter.Describe(p.describeFinish))
	m.PushSignalHandler(porter.SigDeployFailed, p.undo, porter.Describe(p.describeUndo))
	m.PushSignalHandler(porter.SigRollbackFinish, p.rollback, porter.Describe(p.describeRollback))
	return nil
}

// finish acts on every unit and waits until each is active.
func (p *Plugin) finish(ctx context.Context, m *porter.Module, _ any) error {
	if m.FlagBool(FlagSkipRestart) {
		m.Skip(p.what(p.cfg.action), "--skip-restart")
		return nil
	}
	p.acted = p.cfg.units // from here a failed deploy starts them again
	return p.actAndWait(ctx, m, []step{{p.cfg.action, p.cfg.units}}, p.cfg.units)
}

// rollback acts on every unit after a rollback switched current, so that
// they run the old code.
func (p *Plugin) rollback(ctx context.Context, m *porter.Module, _ any) error {
	if err := p.actAndWait(ctx, m, []step{{p.cfg.action, p.cfg.units}}, p.cfg.units); err != nil {
		return fmt.Errorf("after the rollback: %w", err)
	}
	// A deploy whose health check failed rolls back before it sends
	// SigDeployFailed: the units run the old code already.
	p.acted = nil
	return nil
}

// undo starts again what this deploy stopped (see the package doc).
func (p *Plugin) undo(ctx context.Context, m *porter.Module, _ any) error {
	units := p.acted
	if len(units) == 0 {
		return nil
	}
	p.acted = nil
	m.Log().Warn("deploy failed: starting the systemd units it acted on again", "units", strings.Join(units, " "))
	steps := []step{{p.cfg.action, units}}
	if p.cfg.action == Reload {
		down, up, err := p.split(ctx, m, units)
		if err != nil {
			return fmt.Errorf("after the failed deploy: %w", err)
		}
		steps = []step{{"start", down}, {Reload, up}}
	}
	if err := p.actAndWait(ctx, m, steps, units); err != nil {
		return fmt.Errorf("after the failed deploy: %w", err)
	}
	return nil
}

// what names an action on the plugin's units: "restart app.service worker.service".
func (p *Plugin) what(a Action) string { return string(a) + " " + strings.Join(p.cfg.units, " ") }

// how names the program that acts: "systemctl", "systemctl --user" or
// "sudo -n systemctl".
func (p *Plugin) how() string {
	switch {
	case p.cfg.user:
		return "systemctl --user"
	case p.cfg.useSudo:
		return "sudo -n systemctl"
	}
	return "systemctl"
}

func (p *Plugin) describeActAndWait() []string {
	return []string{
		fmt.Sprintf("%s (%s)", p.what(p.cfg.action), p.how()),
		fmt.Sprintf("wait up to %s until each is active", p.cfg.timeout),
	}
}

func (p *Plugin) describeFinish(_ context.Context, m *porter.Module, _ any) ([]string, error) {
	if m.FlagBool(FlagSkipRestart) {
		return []string{fmt.Sprintf("skip %s (--skip-restart)", p.what(p.cfg.action))}, nil
	}
	return p.describeActAndWait(), nil
}

func (p *Plugin) describeRollback(context.Context, *porter.Module, any) ([]string, error) {
	return p.describeActAndWait(), nil
}

func (p *Plugin) describeUndo(_ context.Context, m *porter.Module, _ any) ([]string, error) {
	if m.FlagBool(FlagSkipRestart) {
		return nil, nil
	}
	units := strings.Join(p.cfg.units, " ")
	again := fmt.Sprintf("%s %s again", p.cfg.action, units)
	if p.cfg.action == Reload {
		again = "start those of " + units + " that are not active, reload the others"
	}
	return []string{fmt.Sprintf("if deploy-finish acted on the units: %s (%s), and wait up to %s until each is active",
		again, p.how(), p.cfg.timeout)}, nil
}
