package uwsgi_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/uwsgi"
)

// A deploy program whose modules run under a uWSGI emperor imports the
// plugin for its side effect:
//
//	import _ "github.com/porter-deploy/porter/plugins/uwsgi"
//
//	func main() { porter.Main() }
//
// Its deploy command then takes --restart and --update-vassal-launcher,
// which deploy --help lists under the plugin's name; here for the project
// of testdata/example:
//
//	deploy-program deploy --host production --config production --restart
func Example() {
	var help strings.Builder
	cli := &porter.CLI{Args: []string{"--project", "testdata/example", "deploy", "--help"}, Stdout: &help}
	cli.Run(context.Background())
	_, flags, _ := strings.Cut(help.String(), "plugin "+uwsgi.Name+":\n")
	flags, _, _ = strings.Cut(flags, "\n\n") // the plugin's flags end with a blank line
	fmt.Println(flags)
	// Output:
	//       --restart                  reload the uWSGI masters (SIGHUP) at the end of the deploy
	//       --update-vassal-launcher   copy the uWSGI vassal launchers even when the host has them
}
