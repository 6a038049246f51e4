package supervisor_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// supervisord is a real supervisord started for one test, with its own
// config, unix socket and include directory.
type supervisord struct {
	dir     string // holds supervisord.conf, the socket, logs
	cfg     string // supervisord.conf, for supervisorctl -c
	confDir string // [include] files = confDir/*.conf
}

// startSupervisord starts supervisord in the foreground as a child of the
// test, waits for the line that says it serves its socket (it opens the
// socket before it logs it: no polling), and stops it when the test ends.
// The directory is a short one of os.MkdirTemp, not t.TempDir(): a unix
// socket path must fit in 108 bytes, and test names make t.TempDir() long.
func startSupervisord(t *testing.T) *supervisord {
	t.Helper()
	if _, err := exec.LookPath("supervisord"); err != nil {
		t.Skip("supervisord is not installed: apt-get install supervisor (the CI script installs it)")
	}
	dir, err := os.MkdirTemp("", "porter-sv")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &supervisord{dir: dir, cfg: filepath.Join(dir, "supervisord.conf"), confDir: filepath.Join(dir, "conf.d")}
	require.NoError(t, os.Mkdir(s.confDir, 0o755))
	conf := strings.NewReplacer("DIR", dir).Replace(`[unix_http_server]
file=DIR/sock
[supervisord]
nodaemon=true
logfile=DIR/supervisord.log
pidfile=DIR/supervisord.pid
childlogdir=DIR
user=` + currentUser(t) + `
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://DIR/sock
[include]
files = DIR/conf.d/*.conf
`)
	require.NoError(t, os.WriteFile(s.cfg, []byte(conf), 0o644))

	cmd := exec.Command("supervisord", "-c", s.cfg)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	ready := make(chan bool, 1)
	drained := make(chan struct{})
	var log strings.Builder // written by the goroutine until drained is closed
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), "supervisord started with pid") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-drained
		_ = cmd.Wait()
	}
	if !<-ready {
		stop()
		t.Fatalf("supervisord did not start:\n%s", log.String())
	}
	t.Cleanup(stop)
	return s
}

func currentUser(t *testing.T) string {
	u := os.Getenv("USER")
	if u == "" {
		out, err := exec.Command("id", "-un").Output()
		require.NoError(t, err)
		u = strings.TrimSpace(string(out))
	}
	return u
}

// ctl runs supervisorctl against s and returns what it printed.
func (s *supervisord) ctl(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := exec.Command("supervisorctl", append([]string{"-c", s.cfg}, args...)...).CombinedOutput()
	return string(out)
}

// state returns the state of process name (group:program): RUNNING,
// STOPPED, ... or the error supervisorctl printed.
func (s *supervisord) state(t *testing.T, name string) string {
	t.Helper()
	f := strings.Fields(s.ctl(t, "status", name))
	if len(f) < 2 {
		return strings.Join(f, " ")
	}
	return f[1]
}
