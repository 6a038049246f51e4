package virtualenv_test

import (
	"context"
	"fmt"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/virtualenv"
)

// A module hook that uses the module's virtualenv. A hook registers its
// handlers before the plugins do, so it waits for deploy-finish, when the
// plugin has created the virtualenv after the send.
func ExampleDir() {
	porter.RegisterDeployment("example-venv", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigDeployFinish, func(ctx context.Context, m *porter.Module, _ any) error {
			fmt.Println("virtualenv of", m.Name(), "is", virtualenv.Dir(m))
			return nil
		})
		return nil
	})
}
