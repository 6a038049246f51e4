package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
)

// projectDir is the example project next to this file, so that the program
// runs from anywhere with go run; --project overrides it.
func projectDir() string {
	_, file, _, ok := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "project")
	if _, err := os.Stat(dir); ok && err == nil {
		return dir
	}
	return "."
}

// appAddr is where the project's health check finds the app, as the host
// sees it: [module] health = http://127.0.0.1:8000/healthz.
const appAddr = "127.0.0.1:8000"

// demoHost is the host "demo": a real SSH and SFTP server on loopback
// (portertest) with a login directory of its own, and a supervisord that
// runs as this user with its files in that directory. The app listens on
// a free port of this machine; the server makes it the host's own
// 127.0.0.1:8000, so the health check goes where it would on a real host.
type demoHost struct {
	dir  string // removed by nobody: what was deployed stays to be looked at
	home string // the SSH user's login directory
	port int    // the app's port on this machine ($WEBAPP_PORT)
	srv  *portertest.Server
	sv   *supervisord
}

// startDemoHost starts the demo host's supervisord and SSH server.
func startDemoHost() (*demoHost, error) {
	dir, err := os.MkdirTemp("", "porter-webapp-")
	if err != nil {
		return nil, err
	}
	d := &demoHost{dir: dir, home: filepath.Join(dir, "home")}
	if d.port, err = freePort(); err != nil {
		return nil, err
	}
	if d.sv, err = startSupervisord(d.home, d.port); err != nil {
		return nil, err
	}
	to := net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port))
	if d.srv, err = portertest.Start(portertest.WithHome(d.home), portertest.WithTunnelRedirect(appAddr, to)); err != nil {
		return nil, errors.Join(err, d.sv.stop())
	}
	return d, nil
}

// stop stops the SSH server, then supervisord and the app it runs.
func (d *demoHost) stop() error {
	d.srv.Close()
	return d.sv.stop()
}

// freePort returns a port of 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// serveDemoHost starts the demo host when the command names the host
// "demo", and points the CLI at it. It returns a function that stops it.
func serveDemoHost(cli *porter.CLI) (stop func()) {
	if !slices.Contains(os.Args, "demo") && !slices.Contains(os.Args, "--host=demo") {
		return func() {}
	}
	d, err := startDemoHost()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo host:", err)
		os.Exit(1)
	}
	cli.Addresses = map[string]string{"demo": d.srv.Address()}
	cli.Dial = d.srv.DialOptions()
	fmt.Fprintf(os.Stderr, "demo: an SSH server and a supervisord on loopback, login directory %s; the host's %s is 127.0.0.1:%d here\n",
		d.home, appAddr, d.port)
	return func() {
		if err := d.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop supervisord:", err)
		}
		fmt.Fprintf(os.Stderr, "demo: stopped; what was deployed is under %s\n", d.home)
	}
}
