package virtualenv_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/virtualenv"
)

// A deploy program whose modules have a Python virtualenv imports the
// plugin for its side effect:
//
//	import _ "github.com/porter-deploy/porter/plugins/virtualenv"
//
//	func main() { porter.Main() }
//
// Its deploy command then takes --update-requirements, which deploy --help
// lists under the plugin's name; here for the project of testdata/example:
//
//	deploy-program deploy --host production --config production --update-requirements
func Example() {
	var help strings.Builder
	cli := &porter.CLI{Args: []string{"--project", "testdata/example", "deploy", "--help"}, Stdout: &help}
	cli.Run(context.Background())
	_, flags, _ := strings.Cut(help.String(), "plugin "+virtualenv.Name+":\n")
	flags, _, _ = strings.Cut(flags, "\n\n") // the plugin's flags end with a blank line
	fmt.Println(flags)
	// Output:
	//       --update-requirements   pip install the requirements of plugin virtualenv
}

// The virtualenv of a module, for a hook or another plugin that runs the
// module's Python: the module of testdata/example sets no path, so it is
// .venv in the module's path. A hook registers its handlers before the
// plugins do, so it uses the virtualenv from deploy-finish on, once the
// plugin has created it after the send:
//
//	porter.RegisterDeployment("app", func(m *porter.Module) error {
//		m.PushSignalHandler(porter.SigDeployFinish, func(ctx context.Context, m *porter.Module, _ any) error {
//			_, err := m.Host().Run(ctx, remote.Quote(virtualenv.Dir(m)+"/bin/python")+" manage.py check")
//			return err
//		})
//		return nil
//	})
func ExampleDir() {
	p, err := porter.LoadProject("testdata/example")
	if err != nil {
		log.Fatal(err)
	}
	m, err := porter.LoadModule(p, "app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(virtualenv.Dir(m))
	// Output: /srv/app/.venv
}

// The commands the plugin runs after the send: the first always, the
// second with --update-requirements.
func ExampleInstallCommand() {
	p, err := porter.LoadProject("testdata/example")
	if err != nil {
		log.Fatal(err)
	}
	m, err := porter.LoadModule(p, "app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(virtualenv.CreateCommand(m))
	install, _ := virtualenv.InstallCommand(m)
	fmt.Println(install)
	// Output:
	// test -x /srv/app/.venv/bin/python || python3 -m venv -- /srv/app/.venv
	// /srv/app/.venv/bin/python -m pip install --no-index --find-links=/srv/wheels -r /srv/app/requirements.txt gunicorn==22.0.0
}
