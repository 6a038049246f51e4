package django_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/django"
	"github.com/porter-deploy/porter/plugins/virtualenv"
)

// A deploy program for Django modules imports the virtualenv and django
// plugins for their side effect:
//
//	import (
//		_ "github.com/porter-deploy/porter/plugins/django"
//		_ "github.com/porter-deploy/porter/plugins/virtualenv"
//	)
//
//	func main() { porter.Main() }
//
// Its deploy command then takes --migrate-database and
// --update-requirements, which deploy --help lists under the plugins'
// names; here for the project of testdata/example:
//
//	deploy-program deploy --host production --config production --update-requirements --migrate-database
func Example() {
	var help strings.Builder
	cli := &porter.CLI{Args: []string{"--project", "testdata/example", "deploy", "--help"}, Stdout: &help}
	cli.Run(context.Background())
	for _, name := range []string{django.Name, virtualenv.Name} {
		_, flags, _ := strings.Cut(help.String(), "plugin "+name+":\n")
		flags, _, _ = strings.Cut(flags, "\n\n") // the plugin's flags end with a blank line
		fmt.Println(name + ":\n" + flags)
	}
	// Output:
	// github.com/porter-deploy/porter/plugins/django:
	//       --migrate-database   run manage.py migrate in the virtualenv after the send
	// github.com/porter-deploy/porter/plugins/virtualenv:
	//       --update-requirements   pip install the requirements of plugin virtualenv
}

// The migration --migrate-database runs, in the module's path, with the
// Python of its virtualenv.
func ExampleMigrateCommand() {
	p, err := porter.LoadProject("testdata/example")
	if err != nil {
		log.Fatal(err)
	}
	m, err := porter.LoadModule(p, "app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(django.MigrateCommand(m))
	// Output: cd -- /srv/app && /srv/app/.venv/bin/python manage.py migrate --noinput
}
