package command_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/command"
)

// A deploy program whose modules use the command plugin imports it for its
// side effect (it registers itself under its import path):
//
//	import _ "github.com/porter-deploy/porter/plugins/command"
//
//	func main() { porter.Main() }
//
// Its deploy command then takes --skip-commands, which deploy --help lists
// under the plugin's name; here for the project of testdata/example, whose
// module reloads its service at deploy-finish:
//
//	[plugin:github.com/porter-deploy/porter/plugins/command]
//	deploy-finish = sudo systemctl reload app
func Example() {
	var help strings.Builder
	cli := &porter.CLI{Args: []string{"--project", "testdata/example", "deploy", "--help"}, Stdout: &help}
	cli.Run(context.Background())
	_, flags, _ := strings.Cut(help.String(), "plugin "+command.Name+":\n")
	flags, _, _ = strings.Cut(flags, "\n\n") // the plugin's flags end with a blank line
	fmt.Println(flags)
	// Output:
	//       --skip-commands   run none of the commands of plugin command
}
