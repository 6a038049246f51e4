package python_test

import (
	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/python"
)

// A deploy program whose modules have a
// [plugin:github.com/porter-deploy/porter/plugins/python] section imports
// the plugin for its side effect: it registers itself under its import path.
func Example() {
	porter.Main()
}
