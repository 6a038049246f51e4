package django_test

import (
	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/django"
	_ "github.com/porter-deploy/porter/plugins/virtualenv"
)

// A deploy program for Django modules imports the virtualenv and django
// plugins; deploy then has --update-requirements and --migrate-database:
//
//	deploy-program deploy --host production --config production --update-requirements --migrate-database
func Example() {
	porter.Main()
}
