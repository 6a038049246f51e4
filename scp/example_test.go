package scp_test

import (
	"context"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/scp"
)

// A module hook that copies this environment's settings next to the source
// once it is sent: config/<--config>/local_settings.py -> <path>/local_settings.py.
func ExampleCopyConfigFile() {
	porter.RegisterDeployment("example-api", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(ctx context.Context, m *porter.Module, _ any) error {
			return scp.CopyConfigFile(ctx, m, "local_settings.py")
		})
		return nil
	})
}
