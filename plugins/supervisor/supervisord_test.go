package supervisor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// supervisord is a real supervisord started for one test, with its own
// config, unix socket and include directory.
type supervisord struct {
	dir     string // holds supervisord.conf, the socket, logs
	cfg     string // supervisord.conf, for supervisorctl -c
	confDir string // [include] files = confDir/*.conf
}

// startSupervisord starts supervisord in the foreground for the test,
// waits for the line that says it serves its socket (it opens the socket
// before it logs it: no polling), and stops it when the test ends, passed
// or failed. The directory is a short one of os.MkdirTemp, not
// t.TempDir(): a unix socket path must fit in 108 bytes, and test names
// make t.TempDir() long.
//
// supervisord (and the programs it runs) must never outlive the test run,
// even one killed by -timeout or a signal before its clean-ups ran: it is
// started by a small sh that reads its stdin, a pipe from this process, and
// stops supervisord when that read returns, which happens when the test
// closes the pipe and when this process dies (see supervisordScript).
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

	// The sh runs supervisord, relays what it logs to fd 3 (the write end of
	// out, which only the sh and its children hold: out ends once
	// supervisord has exited), and stops supervisord when its stdin ends.
	out, logw, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command("/bin/sh", append([]string{"-c", supervisordScript, "sh", s.cfg, filepath.Join(dir, "supervisord.pid")}, quickTick(t, dir)...)...)
	cmd.ExtraFiles = []*os.File{logw}
	deadman, err := cmd.StdinPipe()
	require.NoError(t, err)
	err = cmd.Start()
	logw.Close()
	if err != nil {
		out.Close()
		require.NoError(t, err)
	}
	ready := make(chan bool, 1)
	drained := make(chan struct{})
	var log strings.Builder // written by the goroutine until drained is closed
	go func() {
		defer close(drained)
		defer out.Close()
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
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		deadman.Close() // the sh sends supervisord SIGTERM
		select {
		case <-drained:
		case <-time.After(30 * time.Second):
			// supervisord did not stop its programs and exit: kill it.
			if b, err := os.ReadFile(filepath.Join(dir, "supervisord.pid")); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			<-drained
		}
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	select {
	case ok := <-ready:
		if !ok {
			stop()
			t.Fatalf("supervisord did not start:\n%s", log.String())
		}
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("supervisord did not say it started within 30s:\n%s", log.String())
	}
	return s
}

// quickTick returns the command that starts supervisord for the tests: its
// own entry point, run by its own Python with the poller's wait cut from
// 1 s to 20 ms. supervisord looks at a stop's deferred reply once per pass
// of its loop, and a pass waits up to a second for a socket to be ready: a
// stop that takes a few milliseconds is reported after about two seconds,
// and most of these tests' time went to that. The code that runs is
// supervisord's; only the loop turns faster. When supervisord is not a
// Python script (a packaging this wrapper does not know), it is run as it
// is.
//
// The wrapper is given to its Python as an argument, not executed: a file
// this process just wrote may still be open for writing in a child that
// another test forked meanwhile (until that child's exec closes it), and
// executing it then fails with "text file busy" (ETXTBSY).
func quickTick(t *testing.T, dir string) []string {
	t.Helper()
	path, err := exec.LookPath("supervisord")
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(b), "\n")
	python, ok := strings.CutPrefix(first, "#!")
	if !ok || !strings.Contains(python, "python") || strings.ContainsAny(strings.TrimSpace(python), " \t") {
		return []string{path}
	}
	wrapper := filepath.Join(dir, "quicktick.py")
	require.NoError(t, os.WriteFile(wrapper, []byte(quickTickPy), 0o644))
	return []string{strings.TrimSpace(python), wrapper}
}

// quickTickPy is the Python of quickTick's wrapper.
const quickTickPy = `import sys
import supervisor.poller as poller
for name in ("SelectPoller", "PollPoller", "KQueuePoller"):
    cls = getattr(poller, name, None)
    if cls is not None:
        cls.poll = (lambda poll: lambda self, timeout: poll(self, min(timeout, 0.02)))(cls.poll)
from supervisor.supervisord import main
sys.exit(main())
`

// supervisordScript is the sh of startSupervisord: sh -c SCRIPT sh CONFIG
// PIDFILE COMMAND... (quickTick's). The relay loop ignores a failed write, and SIGPIPE is ignored:
// when the test process dies, supervisord can still log, and so stop its
// programs before it exits, instead of dying of a broken pipe.
const supervisordScript = `trap '' PIPE
cfg=$1 pid=$2
shift 2
"$@" -c "$cfg" 2>&1 3>&- | while IFS= read -r line; do printf '%s\n' "$line" >&3 2>/dev/null; done &
relay=$!
exec 3>&-
read -r _
while kill -0 "$relay" 2>/dev/null; do
	kill -TERM "$(cat "$pid" 2>/dev/null)" 2>/dev/null && break
	sleep 1
done
wait
`

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
// STOPPED, ... or the fault supervisord answered.
func (s *supervisord) state(t *testing.T, name string) string {
	t.Helper()
	return s.processField(t, name, "statename")
}

// pid returns the pid of process name, or the fault supervisord answered.
func (s *supervisord) pid(t *testing.T, name string) string {
	t.Helper()
	return s.processField(t, name, "pid")
}

// processField returns one member of process name's info, or the fault
// supervisord answered.
func (s *supervisord) processField(t *testing.T, name, field string) string {
	t.Helper()
	info, fault := s.processInfo(t, name)
	if fault != "" {
		return fault
	}
	return info[field]
}

// processInfo asks supervisord for supervisor.getProcessInfo(name) over
// its XML-RPC socket, as supervisorctl does, without supervisorctl's
// Python start (a few hundred milliseconds a call, most of these tests'
// checks): it returns the struct's members as text, or the fault's
// faultString.
func (s *supervisord) processInfo(t *testing.T, name string) (map[string]string, string) {
	t.Helper()
	var arg bytes.Buffer
	require.NoError(t, xml.EscapeText(&arg, []byte(name)))
	body := `<?xml version="1.0"?><methodCall><methodName>supervisor.getProcessInfo</methodName>` +
		`<params><param><value><string>` + arg.String() + `</string></value></param></params></methodCall>`
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(s.dir, "sock"))
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("http://supervisord/RPC2", "text/xml", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var r struct {
		Param xmlValue `xml:"params>param>value"`
		Fault xmlValue `xml:"fault>value"`
	}
	require.NoError(t, xml.NewDecoder(resp.Body).Decode(&r))
	if len(r.Fault.Members) > 0 {
		return nil, r.Fault.members()["faultString"]
	}
	return r.Param.members(), ""
}

// xmlValue is an XML-RPC <value>: a scalar or a struct.
type xmlValue struct {
	Inner   string `xml:",innerxml"`
	Members []struct {
		Name  string   `xml:"name"`
		Value xmlValue `xml:"value"`
	} `xml:"struct>member"`
}

// members returns a struct's members, each scalar as its text.
func (v xmlValue) members() map[string]string {
	m := map[string]string{}
	for _, mb := range v.Members {
		var scalar struct {
			Text string `xml:",chardata"`
			Any  struct {
				Text string `xml:",chardata"`
			} `xml:",any"`
		}
		_ = xml.Unmarshal([]byte("<v>"+mb.Value.Inner+"</v>"), &scalar)
		m[mb.Name] = strings.TrimSpace(scalar.Any.Text + scalar.Text)
	}
	return m
}
