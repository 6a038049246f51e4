package uwsgi_test

import (
	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/uwsgi"
)

// A deploy program whose modules run under a uWSGI emperor imports the
// plugin; deploy then has --restart and --update-vassal-launcher:
//
//	deploy-program deploy --host production --config production --restart
func Example() {
	porter.Main()
}
