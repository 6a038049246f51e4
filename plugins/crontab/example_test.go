package crontab_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/crontab"
)

// A deploy program whose modules have a
// [plugin:github.com/porter-deploy/porter/plugins/crontab] section imports
// the plugin for its side effect:
//
//	import _ "github.com/porter-deploy/porter/plugins/crontab"
//
//	func main() { porter.Main() }
//
// Its deploy command then takes --update-crontab, which deploy --help lists
// under the plugin's name; here for the project of testdata/example:
//
//	deploy-program deploy --host production --config production --update-crontab
func Example() {
	var help strings.Builder
	cli := &porter.CLI{Args: []string{"--project", "testdata/example", "deploy", "--help"}, Stdout: &help}
	cli.Run(context.Background())
	_, flags, _ := strings.Cut(help.String(), "plugin "+crontab.Name+":\n")
	flags, _, _ = strings.Cut(flags, "\n\n") // the plugin's flags end with a blank line
	fmt.Println(flags)
	// Output:
	//       --update-crontab   install the module's crontab (crontab - < FILE) at the end of the deploy
}
