// Command interopdeploy is the deploy program of the interop tests
// (interop_shells_test.go): porter's whole command line and nothing else, as
// the README tells a team to write it.
package main

import "github.com/porter-deploy/porter"

func main() { porter.Main() }
