package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// supervisordConf is the demo's supervisord.conf; DIR is its directory.
// Launchers go to DIR/conf.d, the supervisor plugin's conf_dir-demo.
const supervisordConf = `[unix_http_server]
file = DIR/supervisor.sock

[supervisord]
nodaemon = true
logfile = DIR/supervisord.log
pidfile = DIR/supervisord.pid
childlogdir = DIR

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://DIR/supervisor.sock

[include]
files = DIR/conf.d/*.conf
`

// keeperScript runs supervisord for as long as its stdin, a pipe from the
// demo, stays open (sh -c SCRIPT sh CONF PIDFILE): the demo closes it to
// stop supervisord, and so does the system when the demo dies, however it
// dies, so supervisord and the app never outlive it. supervisord's log is
// relayed by a loop that ignores a failed write, SIGPIPE ignored: with
// the demo gone, supervisord still logs, and stops its programs, instead
// of dying of a broken pipe and leaving them behind.
const keeperScript = `trap '' PIPE
supervisord -c "$1" 2>&1 | while IFS= read -r line; do printf '%s\n' "$line" 2>/dev/null; done &
read -r _
kill -TERM "$(cat "$2" 2>/dev/null)" 2>/dev/null
wait
`

// supervisord is the demo host's supervisord, started by keeperScript.
type supervisord struct {
	cmd     *exec.Cmd
	keep    io.Closer     // closing it stops supervisord
	drained chan struct{} // closed when supervisord and the relay are gone
	said    *strings.Builder
}

// startSupervisord starts supervisord with its files in home/supervisor,
// in home (so the launcher's relative paths are the SSH user's), with
// $WEBAPP_PORT set to port for the app, and returns once supervisord says
// it serves its socket.
func startSupervisord(home string, port int) (*supervisord, error) {
	if _, err := exec.LookPath("supervisord"); err != nil {
		return nil, fmt.Errorf("the demo host runs the app under supervisord: install it (apt-get install supervisor): %w", err)
	}
	dir := filepath.Join(home, "supervisor")
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(conf, []byte(strings.ReplaceAll(supervisordConf, "DIR", dir)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("/bin/sh", "-c", keeperScript, "sh", conf, filepath.Join(dir, "supervisord.pid"))
	cmd.Dir = home
	cmd.Env = append(os.Environ(), "HOME="+home, "WEBAPP_PORT="+strconv.Itoa(port))
	// Its own process group: a Ctrl-C at the terminal reaches the demo,
	// which stops supervisord through its stdin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	keep, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start supervisord: %w", err)
	}
	s := &supervisord{cmd: cmd, keep: keep, drained: make(chan struct{}), said: &strings.Builder{}}
	ready := make(chan bool, 1)
	go s.read(out, ready)
	select {
	case ok := <-ready:
		if ok {
			return s, nil
		}
		return nil, errors.Join(fmt.Errorf("supervisord did not start: %s", s.said), s.stop())
	case <-time.After(30 * time.Second):
		return nil, errors.Join(fmt.Errorf("supervisord did not say it started within 30s: %s", s.said), s.stop())
	}
}

// read keeps the first 16 KiB of what supervisord logs, sends true on
// ready once it says it started (false if it ends before), and reads on
// until supervisord is gone.
func (s *supervisord) read(out io.Reader, ready chan<- bool) {
	defer close(s.drained)
	sc := bufio.NewScanner(out)
	sent := false
	for sc.Scan() {
		if !sent && s.said.Len() < 16<<10 {
			s.said.WriteString(sc.Text() + "\n")
		}
		if !sent && strings.Contains(sc.Text(), "supervisord started with pid") {
			ready <- true
			sent = true
		}
	}
	if !sent {
		ready <- false
	}
}

// stop stops supervisord, which stops the programs it runs first, and
// waits for it; after 30 s it kills what is left of its process group.
func (s *supervisord) stop() error {
	s.keep.Close()
	select {
	case <-s.drained:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.drained
	}
	return s.cmd.Wait()
}
