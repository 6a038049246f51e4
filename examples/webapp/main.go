// Command webapp is an example deploy program for the project in
// ./project: one module, app, a small Python web server deployed as
// releases (strategy = releases), run by supervisord (the supervisor
// plugin) and checked through its health endpoint after each deploy; a
// release whose check fails is rolled back by itself. Try it against an
// SSH server and a supervisord that it starts for the demo:
//
//	go run ./examples/webapp deploy --host demo --config testing
//
// It needs supervisord and python3 on this machine. Pointed at a real host
// ([hosts] of project/project.ini) it deploys it.
package main

import (
	"os"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/supervisor"
)

func main() {
	cli := &porter.CLI{ProjectDir: projectDir()}
	stop := serveDemoHost(cli) // only for --host demo
	code := cli.Exec()
	stop()
	os.Exit(code)
}
