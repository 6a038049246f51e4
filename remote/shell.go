package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// The shared shell.
//
// Every exec session makes sshd start the user's login shell, which reads
// its rc files (~/.bashrc with pyenv, nvm, conda... costs 100-300 ms on many
// hosts) before the command starts. [Host.Run] instead hands its commands to
// a long-lived POSIX sh per host (a "shell" here), started once with one exec
// session: that sh runs each command as `"$SHELL" -c CMD </dev/null` in a new
// process (exec'd from a subshell, so that the sh does not print
// "Terminated" into its stderr when it dies of a signal), captures stdout and stderr in two files of a private mktemp -d
// directory, and sends back a framed reply. A bash started by the shell does
// not read ~/.bashrc again: its stdin is not a socket and the shell raises
// SHLVL (which bash lowered when it exec'd /bin/sh), so bash sees SHLVL >= 2
// and knows it is not sshd's child; it inherits the environment that the
// first login shell set up.
//
// Protocol, one command at a time (the client sends the next command only
// after the reply, so nothing but the command is ever in the pipe):
//
//	client -> shell:  "<len>\n" <len bytes of command> "go\n"
//	shell -> client:  "<status> <stdout len> <stderr len> [<signal>]\n" <stdout> <stderr>
//	                  or "lost\n" (the temp files vanished: the shell exits)
//
// The "go" line proves the command arrived whole: a Run cancelled while it
// sends a long command closes the session, and the shell must not run the
// part it got (it exits instead).
//
// The shell starts by printing "porter-shell 1 <dir>\n"; anything the login
// shell printed before (a chatty rc file) is skipped.
//
// While a command runs, a watcher (a subshell reading the shell's stdin,
// which the client leaves silent until the reply) waits: when the client
// closes the session (ctx cancelled, Host closed), the watcher reads EOF,
// removes the temp dir and kills the process group (the shell, the command
// and its children), like the SIGKILL that a session of its own gets. It
// needs no "signal" request, which OpenSSH refuses for root logins (no
// privilege separation after login). The shell kills the watcher before it
// replies. A shell that cannot
// start (no /bin/sh, no mktemp, no head -c, a restricted or forced-command
// shell, an exec refused) makes the Host fall back to a session per command.

// Channel requests sent with want-reply false, which OpenSSH ignores; they
// let an SSH server (portertest) see what the shared shell runs.
const (
	// shellRequest is sent on the shared shell's session before its exec.
	shellRequest = "porter-shell@porter-deploy.github.io"
	// commandRequest is sent on that session before each command, with the
	// command as an SSH string.
	commandRequest = "porter-command@porter-deploy.github.io"
)

// greetTimeout bounds the start of a shared shell (a login shell).
const greetTimeout = 30 * time.Second

// maxShells bounds the shared shells of one Host: each one holds a session
// (OpenSSH allows 10 per connection by default, MaxSessions) and started once
// a login shell.
const maxShells = 4

// shellScript is the exec command of a shared shell. It is one line, without
// single quotes and with no backslash but in "\n", so that every login shell
// (sh, bash, zsh, fish, csh) passes it to /bin/sh unchanged.
var shellScript = "exec /bin/sh -c '" + strings.Join([]string{
	`case ${SHLVL:-0} in *[!0-9]*|"") SHLVL=1;; *) SHLVL=$((SHLVL+1));; esac; export SHLVL;`,
	`d=$(mktemp -d 2>/dev/null) && [ -d "$d" ] || exit 97;`,
	`q() { rm -rf -- "$d"; }; trap q EXIT; trap exit HUP PIPE;`,
	`[ "$(printf ab | head -c 1 2>/dev/null)" = a ] || exit 97;`,
	`exec 3<&0;`,
	`printf "porter-shell 1 %s\n" "$d";`,
	`while IFS= read -r n; do`,
	`case $n in ""|*[!0-9]*) exit 98;; esac;`,
	`c=$(head -c "$n"; echo .); c=${c%.}; IFS= read -r t && [ "$t" = go ] || exit 98;`,
	`{ read -r x <&3; q; kill -KILL 0; } & w=$!;`,
	`( exec "${SHELL:-/bin/sh}" -c "$c" </dev/null >"$d/o" 2>"$d/e" 3<&- );`,
	`s=$?; kill "$w"; wait "$w"; g=;`,
	`[ -f "$d/o" ] && [ -f "$d/e" ] || { printf "lost\n"; exit 96; };`,
	`if [ "$s" -gt 128 ]; then g=$(kill -l "$s" 2>/dev/null); fi;`,
	`o=$(wc -c <"$d/o"); e=$(wc -c <"$d/e");`,
	`printf "%s %s %s %s\n" "$s" $o $e "$g";`,
	`head -c "$o" <"$d/o"; head -c "$e" <"$d/e";`,
	`rm -f -- "$d/o" "$d/e";`,
	`done 2>/dev/null'`,
}, " ")

// shell is one shared shell: a session running shellScript.
type shell struct {
	sess   *ssh.Session
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *capped // the shell's own stderr (not the commands')
	dir    string  // its temp dir, removed when it exits normally
	done   chan struct{}
	err    error // the session's end (Wait), set before done closes
}

// errShellBroken marks a shared shell that died or broke the protocol.
var errShellBroken = errors.New("shared shell broke")

// startShell starts a shared shell and waits for its greeting.
func (h *Host) startShell() (*shell, error) {
	s, err := h.client.NewSession()
	if err != nil {
		return nil, &shellOpenError{err}
	}
	sh := &shell{sess: s, stderr: &capped{max: 4096}, done: make(chan struct{})}
	s.Stderr = sh.stderr
	if sh.in, err = s.StdinPipe(); err != nil {
		s.Close()
		return nil, err
	}
	out, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	sh.out = bufio.NewReaderSize(out, 64<<10)
	if _, err := s.SendRequest(shellRequest, false, nil); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Start(h.shells.script); err != nil {
		s.Close()
		return nil, err
	}
	go func() { sh.err = s.Wait(); close(sh.done) }()
	// The greeting, after whatever the login shell printed. A shell that
	// never greets (a forced command that waits) is given up.
	timer := time.AfterFunc(greetTimeout, func() { s.Close() })
	defer timer.Stop()
	const greet = "porter-shell 1 "
	skipped := 0
	for {
		line, err := sh.out.ReadString('\n')
		if err != nil {
			sh.close()
			return nil, fmt.Errorf("%w: no greeting: %v%s", errShellBroken, err, sh.why())
		}
		if i := strings.Index(line, greet); i >= 0 {
			dir := strings.TrimSuffix(line[i+len(greet):], "\n")
			if !strings.HasPrefix(dir, "/") || strings.ContainsAny(dir, "\x00\r") {
				sh.close()
				return nil, fmt.Errorf("%w: bad greeting %q", errShellBroken, line)
			}
			sh.dir = dir
			return sh, nil
		}
		if skipped += len(line); skipped > 1<<20 {
			sh.close()
			return nil, fmt.Errorf("%w: no greeting in the first MiB", errShellBroken)
		}
	}
}

// shellOpenError is a session the server would not open (e.g. MaxSessions):
// no reason to give the shared shell up for good.
type shellOpenError struct{ err error }

func (e *shellOpenError) Error() string { return "open session: " + e.err.Error() }
func (e *shellOpenError) Unwrap() error { return e.err }

// why is the shell's own stderr and end, for an error message.
func (sh *shell) why() string {
	var b strings.Builder
	select {
	case <-sh.done:
		if sh.err != nil {
			fmt.Fprintf(&b, " (%v)", sh.err)
		}
	case <-time.After(time.Second):
	}
	if s := firstLine(sh.stderr.String()); s != "" {
		b.WriteString(": " + s)
	}
	return b.String()
}

// reply is one command's result through a shared shell.
type reply struct {
	out    Output
	status int
	signal string
}

// run runs one command. An error is errShellBroken (wrapped): the shell is
// unusable, and whether the command ran is unknown.
// When announce is set, the command is first named to the server in a
// commandRequest.
func (sh *shell) run(cmd string, announce bool) (reply, error) {
	var r reply
	if announce {
		if _, err := sh.sess.SendRequest(commandRequest, false, ssh.Marshal(struct{ Command string }{cmd})); err != nil {
			return r, fmt.Errorf("%w: %v", errShellBroken, err)
		}
	}
	msg := make([]byte, 0, len(cmd)+24)
	msg = strconv.AppendInt(msg, int64(len(cmd)), 10)
	msg = append(msg, '\n')
	msg = append(msg, cmd...)
	msg = append(msg, "go\n"...)
	if _, err := sh.in.Write(msg); err != nil {
		return r, fmt.Errorf("%w: send command: %v", errShellBroken, err)
	}
	line, err := sh.out.ReadSlice('\n')
	if err != nil {
		return r, fmt.Errorf("%w: read reply: %v", errShellBroken, err)
	}
	f := strings.Fields(string(line))
	if len(f) == 1 && f[0] == "lost" {
		return r, fmt.Errorf("%w: its temporary directory %s was removed while the command ran; its output is lost", errShellBroken, sh.dir)
	}
	if len(f) < 3 || len(f) > 4 {
		return r, fmt.Errorf("%w: bad reply %q", errShellBroken, shorten(string(line), 100))
	}
	var n [3]int
	for i := range n {
		if n[i], err = strconv.Atoi(f[i]); err != nil || n[i] < 0 {
			return r, fmt.Errorf("%w: bad reply %q", errShellBroken, shorten(string(line), 100))
		}
	}
	r.status = n[0]
	if len(f) == 4 && r.status > 128 && r.status <= 128+31 && isSignalName(f[3]) {
		r.signal = f[3]
	}
	for i, p := range []*[]byte{&r.out.Stdout, &r.out.Stderr} {
		*p = make([]byte, n[i+1]) // empty, not nil, as from a session
		if _, err := io.ReadFull(sh.out, *p); err != nil {
			return r, fmt.Errorf("%w: read output: %v", errShellBroken, err)
		}
	}
	return r, nil
}

func isSignalName(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// kill ends what the shell runs: the session is closed, the watcher reads
// EOF and kills the shell's process group. (portertest kills it itself.)
func (sh *shell) kill() { sh.close() }

// close closes the session without waiting. (Not stdin: a Run may be
// writing to it, and x/crypto's CloseWrite and Write race.)
func (sh *shell) close() { sh.sess.Close() }

// stop ends an idle shell cleanly: EOF on its input makes it remove its temp
// dir and exit. It waits up to wait for that, then closes the session.
func (sh *shell) stop(wait time.Duration) {
	sh.in.Close()
	t := time.NewTimer(wait)
	select {
	case <-sh.done:
	case <-t.C:
	}
	t.Stop()
	sh.sess.Close()
}

// exited reports whether the shell's session has ended.
func (sh *shell) exited() bool {
	select {
	case <-sh.done:
		return true
	default:
		return false
	}
}

// capped is a bytes.Buffer that keeps the first max bytes written.
type capped struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// shellPool is a Host's shared shells: up to maxShells, started when a Run
// finds them all busy, kept until Close.
type shellPool struct {
	h      *Host
	max    int
	script string // shellScript (tests change it)

	mu       sync.Mutex
	idle     []*shell
	all      map[*shell]struct{} // idle and busy
	live     int                 // shells running or starting
	starting int
	waiting  int           // Runs waiting for a shell
	failures int           // starts that failed, ever
	off      bool          // the shared shell cannot work here: sessions only
	closed   bool          // Close was called
	wake     chan struct{} // closed and replaced on every change
	stale    []string      // temp dirs of killed shells, to remove
}

func newShellPool(h *Host, max int) *shellPool {
	return &shellPool{h: h, max: max, script: shellScript, all: map[*shell]struct{}{}, wake: make(chan struct{})}
}

// broadcast wakes the waiting Runs; p.mu is held.
func (p *shellPool) broadcast() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// get returns an idle shell, or starts one when all are busy and there is
// room, taking whichever is free first. It returns nil when this Run should
// use a session of its own: the shared shell is off, closed, or a start
// failed while this Run waited. done is ctx.Done().
func (p *shellPool) get(done <-chan struct{}) (*shell, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiting++
	defer func() { p.waiting-- }()
	failures := p.failures
	for {
		if p.closed {
			return nil, nil
		}
		if n := len(p.idle); n > 0 {
			sh := p.idle[n-1]
			p.idle = p.idle[:n-1]
			return sh, nil
		}
		if p.off || p.failures != failures {
			return nil, nil
		}
		if p.live < p.max && p.starting < p.waiting {
			p.live++
			p.starting++
			go p.start()
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
			p.mu.Lock()
		case <-done:
			p.mu.Lock()
			return nil, errCanceled
		}
	}
}

var errCanceled = errors.New("canceled")

// start starts one shell and makes it idle.
func (p *shellPool) start() {
	sh, err := p.h.startShell()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	defer p.broadcast()
	if err != nil {
		p.live--
		p.failures++
		var oe *shellOpenError
		if !errors.As(err, &oe) {
			if !p.off {
				p.h.log.Debug("ssh: no shared shell, a session per command", "host", p.h.name, "err", err)
			}
			p.off = true
		}
		return
	}
	if p.closed {
		p.live--
		go sh.stop(time.Second)
		return
	}
	p.h.log.Debug("ssh: shared shell started", "host", p.h.name, "dir", sh.dir)
	p.all[sh] = struct{}{}
	p.idle = append(p.idle, sh)
}

// put gives back a shell after a command that completed.
func (p *shellPool) put(sh *shell) {
	if sh.exited() {
		p.discard(sh)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		delete(p.all, sh)
		p.live--
		go sh.stop(time.Second)
		return
	}
	p.idle = append(p.idle, sh)
	p.broadcast()
}

// discard drops a shell that was killed or broke; its temp dir is left for
// the next shell to remove.
func (p *shellPool) discard(sh *shell) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.all[sh]; !ok {
		return
	}
	delete(p.all, sh)
	p.live--
	if sh.dir != "" {
		p.stale = append(p.stale, sh.dir)
	}
	p.broadcast()
}

// addStale puts back temp dirs that could not be removed.
func (p *shellPool) addStale(dirs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stale = append(p.stale, dirs...)
}

// takeStale returns the temp dirs to remove, once.
func (p *shellPool) takeStale() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stale
	p.stale = nil
	return s
}

// cleanCommand removes the temp dirs of killed shells.
func cleanCommand(dirs []string) string {
	var b strings.Builder
	b.WriteString("rm -rf --")
	for _, d := range dirs {
		b.WriteString(" " + Quote(d))
	}
	return b.String()
}

// close stops every shell: an idle one cleanly (it removes its temp dir,
// after removing those of killed shells), a busy one by closing its session.
func (p *shellPool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	var busy []*shell
	for sh := range p.all {
		delete(p.all, sh)
		busy = append(busy, sh)
	}
	stale := p.stale
	p.stale = nil
	p.broadcast()
	p.mu.Unlock()
	isIdle := map[*shell]bool{}
	for _, sh := range idle {
		isIdle[sh] = true
	}
	for _, sh := range busy {
		if !isIdle[sh] {
			sh.close()
		}
	}
	if len(stale) > 0 && len(idle) > 0 {
		sh := idle[0]
		done := make(chan struct{})
		go func() { defer close(done); _, _ = sh.run(cleanCommand(stale), false) }()
		t := time.NewTimer(2 * time.Second)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
	}
	var wg sync.WaitGroup
	for _, sh := range idle {
		wg.Go(func() { sh.stop(2 * time.Second) })
	}
	wg.Wait()
}
