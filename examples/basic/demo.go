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

// serveDemoHost starts an SSH server on loopback whose login directory is a
// new temporary directory, when the command deploys to the host "demo", and
// points the CLI at it: a real SSH and SFTP server on this machine, trusted
// through its own known_hosts file. It returns a function that stops it.
func serveDemoHost(cli *porter.CLI) (stop func()) {
	if !slices.Contains(os.Args, "demo") {
		return func() {}
	}
	home, err := os.MkdirTemp("", "porter-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo host:", err)
		os.Exit(1)
	}
	srv, err := portertest.Start(portertest.WithHome(home))
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo host:", err)
		os.Exit(1)
	}
	cli.Addresses = map[string]string{"demo": srv.Address()}
	cli.Dial = srv.DialOptions()
	fmt.Fprintf(os.Stderr, "demo host: SSH server on %s, login directory %s\n", srv.Addr(), home)
	return func() {
		srv.Close()
		fmt.Fprintf(os.Stderr, "demo host: stopped; its login directory (what was deployed) is %s\n", home)
	}
}
