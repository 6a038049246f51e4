package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
)

// projectDir is the example project next to this file, so that the program
// runs from anywhere with go run; --project overrides it.
func projectDir() string {
	_, file, _, ok := runtime.Caller(0)
	if dir := filepath.Join(filepath.Dir(file), "project"); ok && exists(dir) {
		return dir
	}
	return "."
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// demoFleet are the hosts of [hosts] demo-fleet.
var demoFleet = []string{"demo@web1.demo", "demo@web2.demo", "demo@web3.demo"}

// serveDemoHost starts SSH servers on loopback, each with a new temporary
// login directory, when the command names the host "demo" (one server) or
// "demo-fleet" (three), and points the CLI at them: real SSH and SFTP
// servers on this machine, trusted through their own known_hosts file. It
// returns a function that stops them.
func serveDemoHost(cli *porter.CLI) (stop func()) {
	var hosts []string
	named := func(h string) bool { return slices.Contains(os.Args, h) || slices.Contains(os.Args, "--host="+h) }
	switch {
	case named("demo-fleet"):
		hosts = demoFleet
	case named("demo"):
		hosts = []string{"demo"}
	default:
		return func() {}
	}
	dir, err := os.MkdirTemp("", "porter-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo host:", err)
		os.Exit(1)
	}
	homes := make([]string, len(hosts))
	for i := range hosts {
		homes[i] = filepath.Join(dir, fmt.Sprint("host", i+1))
	}
	fleet, err := portertest.StartFleet(homes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo host:", err)
		os.Exit(1)
	}
	cli.Addresses = fleet.Addresses(hosts...)
	cli.Dial = fleet.DialOptions()
	fmt.Fprintf(os.Stderr, "demo: %d SSH server(s) on loopback, login directories under %s\n", len(hosts), dir)
	return func() {
		fleet.Close()
		fmt.Fprintf(os.Stderr, "demo: stopped; what was deployed is under %s\n", dir)
	}
}
