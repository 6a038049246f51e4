// Package command is a porter plugin that runs the project's own shell
// commands on the host at the signals of a deploy, in the module's path:
//
//	[plugin:github.com/porter-deploy/porter/plugins/command]
//	source-post-send = make -C build assets
//	deploy-finish = sudo systemctl reload app
//	deploy-failed = sudo systemctl start app
//
// A key is the name of a signal (deploy-start, source-pre-send,
// source-post-send, deploy-finish, deploy-failed); its value is run through
// the remote shell as written, like a Makefile recipe: it is the project
// owner's command, not a value, so it is not quoted. The directory it runs in
// is quoted. The KEY-<host> overrides apply. --skip-commands runs none.
//
// In a plan (deploy --plan) each handler says the command line it would
// run, or that --skip-commands skips it, with the values of secret-looking
// names and URL credentials masked (porter.MaskCommand), as in the log.
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/command"
package command

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/command"

func init() { porter.RegisterPlugin(Name, New) }

// signals are the signals the plugin listens to, in deploy order.
var signals = []porter.Signal{
	porter.SigDeployStart, porter.SigSourcePreSend, porter.SigSourcePostSend,
	porter.SigDeployFinish, porter.SigDeployFailed,
}

// Plugin runs commands at signals.
type Plugin struct{}

var (
	_ porter.Plugin            = (*Plugin)(nil)
	_ porter.FlagProvider      = (*Plugin)(nil)
	_ porter.SettingsValidator = (*Plugin)(nil)
)

// New returns a new instance of the plugin.
func New() porter.Plugin { return &Plugin{} }

// Flags adds --skip-commands.
func (*Plugin) Flags() []porter.Flag {
	return []porter.Flag{{Name: "skip-commands", Bool: true, Default: "false", Usage: "run none of the commands of plugin command"}}
}

// ValidateSettings checks that every key of the section names a signal the
// plugin listens to.
func (*Plugin) ValidateSettings(s porter.Settings) error {
	keys := make([]string, len(signals))
	for i, sig := range signals {
		keys[i] = string(sig)
	}
	return s.OnlyKeys(keys...)
}

// RegisterSignalHandlers adds a handler for each signal the module's
// section names.
func (*Plugin) RegisterSignalHandlers(m *porter.Module) error {
	s := m.PluginSettings()
	for _, sig := range signals {
		cmd, ok := s.Lookup(string(sig))
		if !ok || strings.TrimSpace(cmd) == "" {
			continue
		}
		m.PushSignalHandler(sig, run(sig, cmd), porter.Describe(describe(sig, cmd)))
	}
	return nil
}

// skipped returns the step and why of a command that --skip-commands
// leaves out, or false when it runs.
func skipped(m *porter.Module, sig porter.Signal, cmd string) (step, why string, skip bool) {
	if !m.FlagBool("skip-commands") {
		return "", "", false
	}
	return string(sig) + " command " + strconv.Quote(porter.MaskCommand(cmd)), "--skip-commands", true
}

// Command returns the command line the plugin runs on the host for the
// section's command cmd: cmd in the module's path.
func Command(m *porter.Module, cmd string) string {
	//porter:quoted cmd is the user's own shell command, from the module's settings
	return "cd -- " + remote.Quote(m.Path()) + " && " + cmd
}

func run(sig porter.Signal, cmd string) porter.Handler {
	return func(ctx context.Context, m *porter.Module, _ any) error {
		shown := porter.MaskCommand(cmd)
		if step, why, skip := skipped(m, sig, cmd); skip {
			m.Skip(step, why)
			return nil
		}
		m.Log().Info("running", "signal", string(sig), "command", shown)
		out, err := m.Host().Run(ctx, Command(m, cmd))
		if len(out.Stdout) > 0 {
			m.Log().Info("output", "signal", string(sig), "stdout", strings.TrimSpace(string(out.Stdout)))
		}
		if err != nil {
			return fmt.Errorf("command %q: %w", shown, err)
		}
		return nil
	}
}

// describe says what run(sig, cmd) would do.
func describe(sig porter.Signal, cmd string) porter.Describer {
	return func(_ context.Context, m *porter.Module, _ any) ([]string, error) {
		if step, why, skip := skipped(m, sig, cmd); skip {
			return []string{"skip " + step + ": " + why}, nil
		}
		return []string{porter.DescribeRun(Command(m, cmd))}, nil
	}
}
