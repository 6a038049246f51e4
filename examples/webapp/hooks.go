package main

import (
	"context"
	"fmt"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/scp"
)

// The app module's hook: once the supervisor plugin has staged the
// launcher, fill its __current__ in with <path>/current, the live release.
// Not Module.Path: during a deploy that is the release being built, and
// the launcher, installed once, must follow current to every later
// release and back on a rollback.
func init() {
	porter.RegisterDeployment("app", func(m *porter.Module) error {
		m.PushSignalHandler(supervisor.SigLauncherUpdated, fillLauncher,
			porter.Describe(func(_ context.Context, m *porter.Module, _ any) ([]string, error) {
				return []string{"fill in the supervisor launcher: __current__ = " + m.CurrentPath()}, nil
			}))
		return nil
	})
}

func fillLauncher(ctx context.Context, m *porter.Module, payload any) error {
	lu, ok := payload.(supervisor.LauncherUpdated)
	if !ok {
		return fmt.Errorf("%s: payload %T: want a supervisor.LauncherUpdated", supervisor.SigLauncherUpdated, payload)
	}
	// lu.Path is the staged file as the host names it (relative to the
	// login directory when the module's path is): not relative to the path.
	return scp.ReplacePlaceholders(ctx, m.Host(), lu.Path, map[string]string{"current": m.CurrentPath()})
}
