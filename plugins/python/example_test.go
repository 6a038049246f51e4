package python_test

import (
	"fmt"
	"log"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/python"
)

// A deploy program whose modules have a
// [plugin:github.com/porter-deploy/porter/plugins/python] section imports
// the plugin for its side effect: it registers itself under its import
// path, so the modules that use it load (without the import, loading the
// project of testdata/example fails with a *porter.PluginNotRegisteredError):
//
//	import _ "github.com/porter-deploy/porter/plugins/python"
//
//	func main() { porter.Main() }
func Example() {
	p, err := porter.LoadProject("testdata/example")
	if err != nil {
		log.Fatal(err)
	}
	m, err := porter.LoadModule(p, "app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Name(), m.Plugins())
	// Output: app [github.com/porter-deploy/porter/plugins/python]
}

// The command the plugin runs on the host after the send, for the module's
// path.
func ExampleCleanCommand() {
	fmt.Println(python.CleanCommand("/srv/app"))
	fmt.Println(python.CleanCommand("/srv/my app"))
	// Output:
	// if [ -d /srv/app ]; then find -H /srv/app -name '*.pyc' -delete; fi
	// if [ -d '/srv/my app' ]; then find -H '/srv/my app' -name '*.pyc' -delete; fi
}
