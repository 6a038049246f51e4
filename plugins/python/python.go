// Package python is a porter plugin for Python modules, the original's
// python.base: after the send it deletes the compiled *.pyc files under the
// module's path, so that no stale bytecode of a removed or renamed module is
// imported. It has no settings:
//
//	[plugin:github.com/porter-deploy/porter/plugins/python]
//
// The command it runs is find -H PATH -name '*.pyc' -delete, with the path
// quoted; a path that does not exist on the host is skipped. With -H a path
// that is a symlink to a directory (current -> releases/x) is followed, and
// no symlink below it is. In a plan (deploy --plan) it describes itself:
// the command it would run.
//
// Import it in the deploy program to use it:
//
//	import _ "github.com/porter-deploy/porter/plugins/python"
package python

import (
	"context"
	"fmt"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
)

// Name is the plugin's name in a module's ini: [plugin:Name].
const Name = "github.com/porter-deploy/porter/plugins/python"

func init() { porter.RegisterPlugin(Name, New) }

// Plugin is the python plugin for one module on one host.
type Plugin struct{}

var (
	_ porter.Plugin            = (*Plugin)(nil)
	_ porter.SettingsValidator = (*Plugin)(nil)
)

// New returns a new instance of the plugin.
func New() porter.Plugin { return &Plugin{} }

// ValidateSettings checks that the section is empty: the plugin takes no
// settings.
func (*Plugin) ValidateSettings(s porter.Settings) error { return s.OnlyKeys() }

// RegisterSignalHandlers adds the *.pyc cleaning after the send.
func (*Plugin) RegisterSignalHandlers(m *porter.Module) error {
	m.PushSignalHandler(porter.SigSourcePostSend, clean, porter.Describe(describeClean))
	return nil
}

// CleanCommand returns the command that deletes the *.pyc files under dir.
func CleanCommand(dir string) string {
	if strings.HasPrefix(dir, "-") {
		dir = "./" + dir // never an option of find
	}
	q := remote.Quote(dir)
	return "if [ -d " + q + " ]; then find -H " + q + " -name " + remote.Quote("*.pyc") + " -delete; fi"
}

// describeClean says the command clean would run.
func describeClean(_ context.Context, m *porter.Module, _ any) ([]string, error) {
	return []string{porter.DescribeRun(CleanCommand(m.Path()))}, nil
}

func clean(ctx context.Context, m *porter.Module, _ any) error {
	cmd := CleanCommand(m.Path())
	m.Log().Info("delete *.pyc", "command", cmd)
	if _, err := m.Host().Run(ctx, cmd); err != nil {
		return fmt.Errorf("delete *.pyc under %s: %w: check that the SSH user may write there", m.Path(), err)
	}
	return nil
}
