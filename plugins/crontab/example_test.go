package crontab_test

import (
	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/crontab"
)

// A deploy program whose modules have a
// [plugin:github.com/porter-deploy/porter/plugins/crontab] section imports
// the plugin for its side effect; deploy then has --update-crontab:
//
//	deploy-program deploy --host production --config production --update-crontab
func Example() {
	porter.Main()
}
