// Command faultdeploy is the deploy program of the fault tests
// (fault_test.go): porter.Main(), plus a hook for the module "fm" that,
// when PORTER_FAULT_WAIT names a signal, prints "REACHED <signal>" on
// stdout there and waits for the deploy to be cancelled (the test then
// sends the program SIGINT or SIGTERM).
package main

import (
	"context"
	"fmt"
	"os"
	"path"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
)

func main() {
	at := porter.Signal(os.Getenv("PORTER_FAULT_WAIT"))
	porter.RegisterDeployment("fm", func(m *porter.Module) error {
		// The stand-in service of fault_test.go (serviceFile, setService).
		service := func(state string) porter.Handler {
			return func(ctx context.Context, m *porter.Module, _ any) error {
				_, err := m.Host().Run(ctx, "printf %s "+state+" > "+remote.Quote(path.Dir(m.Base())+"/service.state"))
				return err
			}
		}
		m.PushSignalHandler(porter.SigDeployStart, service("stopped"))
		m.PushSignalHandler(porter.SigDeployFinish, service("running"))
		m.PushSignalHandler(porter.SigDeployFailed, service("running"))
		if at == "" {
			return nil
		}
		m.PushSignalHandler(at, func(ctx context.Context, m *porter.Module, _ any) error {
			fmt.Println("REACHED", at)
			<-ctx.Done()
			return ctx.Err()
		})
		return nil
	})
	porter.Main()
}
