package systemd_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/systemd"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// A deploy program whose modules run as systemd units imports the plugin
// for its side effect:
//
//	import _ "github.com/porter-deploy/porter/plugins/systemd"
//
//	func main() { porter.Main() }
//
// Its deploy command then takes --skip-restart, which deploy --help lists
// under the plugin's name. Here, for the project of testdata/example
// (units = app, worker.service and user = true), the flag and what the
// plugin's handlers would do at the finish of a deploy:
//
//	deploy-program deploy --host production --config production [--skip-restart]
func Example() {
	var help strings.Builder
	cli := &porter.CLI{Args: []string{"--project", "testdata/example", "deploy", "--help"}, Stdout: &help}
	cli.Run(context.Background())
	_, flags, _ := strings.Cut(help.String(), "plugin "+systemd.Name+":\n")
	flags, _, _ = strings.Cut(flags, "\n\n") // the plugin's flags end with a blank line
	fmt.Println(flags)

	p, err := porter.LoadProject("testdata/example")
	if err != nil {
		fmt.Println(err)
		return
	}
	// A plan describes on a connected module (here a portertest server's):
	// what it says of the finish reads nothing from the host.
	srv, err := portertest.Start()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	h, err := remote.Dial(context.Background(), srv.Address(), srv.DialOptions()...)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	m, err := porter.LoadModule(p, "app", porter.OnHost("production"), porter.WithConnection(h))
	if err != nil {
		fmt.Println(err)
		return
	}
	plan, err := m.DescribeSignal(context.Background(), porter.SigDeployFinish, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range plan {
		fmt.Println(strings.Join(h.Lines, "\n"))
	}
	// Output:
	//       --skip-restart   leave the systemd units of plugin systemd alone (no restart or reload)
	// restart app.service worker.service (systemctl --user)
	// wait up to 30s until each is active
}
