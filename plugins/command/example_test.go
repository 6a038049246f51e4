package command_test

import (
	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/command"
)

// A deploy program whose modules use the command plugin imports it for its
// side effect: it registers itself under its import path.
func Example() {
	porter.Main()
}
