// Command basic is an example deploy program: the whole porter command line
// for the project in ./project, its api module's hook, and the command
// plugin. Try it against an SSH server it embeds for the demo:
//
//	go run ./examples/basic deploy --host demo --config testing
//	go run ./examples/basic deploy --host demo-fleet --config testing
//
// Pointed at real hosts ([hosts] of project/project.ini) it deploys them.
package main

import (
	"os"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/command"
)

func main() {
	cli := &porter.CLI{ProjectDir: projectDir()}
	stop := serveDemoHost(cli) // only for --host demo or demo-fleet
	code := cli.Exec()
	stop()
	os.Exit(code)
}
