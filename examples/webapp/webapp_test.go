package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
)

// TestDeployThenBrokenHealthRollsBack deploys the example project to the
// demo host (a real SSH server, a real supervisord running the app, as
// go run ./examples/webapp deploy --host demo does), then deploys a
// release whose health endpoint answers 503: porter switches current back
// by itself and supervisord runs the old release again.
func TestDeployThenBrokenHealthRollsBack(t *testing.T) {
	for _, prog := range []string{"supervisord", "python3"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("the demo host runs the app with %s, which is not installed", prog)
		}
	}
	project := t.TempDir() // a copy: the second deploy breaks the app
	require.NoError(t, os.CopyFS(project, os.DirFS("project")))
	d, err := startDemoHost()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.stop()); os.RemoveAll(d.dir) })
	ctl := func(args ...string) string {
		cmd := exec.Command("supervisorctl", append([]string{"-c", filepath.Join(d.home, "supervisor", "supervisord.conf")}, args...)...)
		cmd.Dir = d.home
		out, _ := cmd.CombinedOutput()
		return strings.TrimSpace(string(out))
	}

	// The first deploy: the release is current, and the app answers.
	out, code := d.deploy(t, project)
	require.Equal(t, porter.ExitOK, code, out)
	assert.Contains(t, out, "health check passed check=http://127.0.0.1:8000/healthz")
	first := d.currentRelease(t)
	assert.Equal(t, []string{first}, d.releaseDirs(t))
	assert.Equal(t, "200 ok testing\n", d.get(t, "/healthz"))
	assert.Equal(t, []string{
		"supervisorctl -c supervisor/supervisord.conf stop 'app:*'",
		"supervisorctl -c supervisor/supervisord.conf update",
		"supervisorctl -c supervisor/supervisord.conf start 'app:*'",
	}, d.supervisorctl())
	tunnels := d.srv.Tunnels()
	require.NotEmpty(t, tunnels)
	for _, a := range tunnels {
		assert.Equal(t, appAddr, a, "the check went to the host's own 127.0.0.1:8000")
	}
	pid := ctl("pid", "app:web")

	// A release whose health endpoint is broken: rolled back by itself.
	appPy := filepath.Join(project, "app", "src", "app.py")
	src, err := os.ReadFile(appPy)
	require.NoError(t, err)
	broken := strings.Replace(string(src), "HEALTHY = True", "HEALTHY = False", 1)
	require.NotEqual(t, string(src), broken)
	require.NoError(t, os.WriteFile(appPy, []byte(broken), 0o644))
	n := len(d.srv.Commands())
	out, code = d.deploy(t, project)
	require.Equal(t, porter.ExitError, code, out)
	assert.Contains(t, out, `deploy app to demo: health check http://127.0.0.1:8000/healthz failed after 4 tries: status 503, want 200: body "not ready testing\n"`)
	assert.Equal(t, first, d.currentRelease(t), "current is the first release again")
	assert.Equal(t, []string{first}, d.releaseDirs(t), "the failed release is removed")
	assert.Equal(t, []string{
		"supervisorctl -c supervisor/supervisord.conf stop 'app:*'",
		"supervisorctl -c supervisor/supervisord.conf update",
		"supervisorctl -c supervisor/supervisord.conf start 'app:*'",
		"supervisorctl -c supervisor/supervisord.conf restart 'app:*'", // SigRollbackFinish: the old code
	}, d.supervisorctl()[3:])
	assert.Contains(t, strings.Join(d.srv.Commands()[n:], "\n"), "ln -s -- releases/"+first+" ", "current switched back")
	assert.Equal(t, "200 ok testing\n", d.get(t, "/healthz"), "the first release answers again")
	assert.NotEqual(t, pid, ctl("pid", "app:web"), "a new process, on the first release")
}

// deploy runs the example program's deploy command against the demo host
// and returns what it printed and its exit status.
func (d *demoHost) deploy(t *testing.T, project string) (string, int) {
	var out bytes.Buffer
	cli := &porter.CLI{
		Args:   []string{"deploy", "--host", "demo", "--config", "testing", "--project", project},
		Stdout: &out, Stderr: &out,
		Addresses: map[string]string{"demo": d.srv.Address()},
		Dial:      d.srv.DialOptions(),
	}
	code := cli.Run(context.Background())
	return out.String(), code
}

// currentRelease returns the release id the module's current link names.
func (d *demoHost) currentRelease(t *testing.T) string {
	link, err := os.Readlink(filepath.Join(d.home, "webapp", "app", "current"))
	require.NoError(t, err)
	id, ok := strings.CutPrefix(link, "releases/")
	require.True(t, ok, "current -> %s", link)
	return id
}

// releaseDirs lists the module's releases/ directory.
func (d *demoHost) releaseDirs(t *testing.T) []string {
	entries, err := os.ReadDir(filepath.Join(d.home, "webapp", "app", "releases"))
	require.NoError(t, err)
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// get returns the status and body of a GET of the app, on its real port.
func (d *demoHost) get(t *testing.T, path string) string {
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(d.port) + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return strconv.Itoa(resp.StatusCode) + " " + string(b)
}

// supervisorctl returns the supervisorctl commands the host ran, in order.
func (d *demoHost) supervisorctl() []string {
	var cmds []string
	for _, c := range d.srv.Commands() {
		if strings.HasPrefix(c, "supervisorctl ") {
			cmds = append(cmds, c)
		}
	}
	return cmds
}
