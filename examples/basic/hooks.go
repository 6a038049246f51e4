package main

import (
	"context"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/scp"
)

// The api module's hook, the Go form of the original's deployment.py: after
// the source is sent, copy this environment's settings.ini next to it.
func init() {
	porter.RegisterDeployment("api", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(ctx context.Context, m *porter.Module, _ any) error {
			return scp.CopyConfigFile(ctx, m, "settings.ini")
		}, porter.Describe(func(_ context.Context, m *porter.Module, _ any) ([]string, error) {
			return []string{"copy settings.ini of the config to " + m.Path()}, nil
		}))
		return nil
	})
}
