package supervisor_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/scp"
)

// A deploy program whose modules run under supervisord imports the plugin
// for its side effect:
//
//	import _ "github.com/porter-deploy/porter/plugins/supervisor"
//
//	func main() { porter.Main() }
//
// Its deploy command then takes --update-launcher, which deploy --help
// lists under the plugin's name; here for the project of testdata/example:
//
//	deploy-program deploy --host production --config production --update-launcher
func Example() {
	var help strings.Builder
	cli := &porter.CLI{Args: []string{"--project", "testdata/example", "deploy", "--help"}, Stdout: &help}
	cli.Run(context.Background())
	_, flags, _ := strings.Cut(help.String(), "plugin "+supervisor.Name+":\n")
	flags, _, _ = strings.Cut(flags, "\n\n") // the plugin's flags end with a blank line
	fmt.Println(flags)
	// Output:
	//       --update-launcher   copy the supervisor launcher to the host even when it is already there
}

// A module hook that listens to the launcher the supervisor plugin
// staged, to fill a placeholder of its own in before it is installed.
// (It has no output to check: the hook runs in a deploy, on a host with
// supervisord.)
func ExampleLauncherUpdated() {
	porter.RegisterDeployment("example-supervised", func(m *porter.Module) error {
		m.PushSignalHandler(supervisor.SigLauncherUpdated, func(ctx context.Context, m *porter.Module, payload any) error {
			lu := payload.(supervisor.LauncherUpdated)
			return scp.ReplacePlaceholders(ctx, m.Host(), lu.Path, map[string]string{"workers": "4"})
		})
		return nil
	})
}
