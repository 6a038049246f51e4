package supervisor_test

import (
	"context"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/scp"
)

// A module hook that listens to the launcher the supervisor plugin
// staged, to fill a placeholder of its own in before it is installed.
func ExampleLauncherUpdated() {
	porter.RegisterDeployment("example-supervised", func(m *porter.Module) error {
		m.PushSignalHandler(supervisor.SigLauncherUpdated, func(ctx context.Context, m *porter.Module, payload any) error {
			lu := payload.(supervisor.LauncherUpdated)
			return scp.ReplacePlaceholders(ctx, m.Host(), lu.Path, map[string]string{"workers": "4"})
		})
		return nil
	})
}
