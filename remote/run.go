package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter/internal/mask"
)

// Output is what a remote command printed.
type Output struct {
	Stdout, Stderr []byte
}

// ExitError reports a remote command that exited non-zero, or that was
// killed by a signal (Signal set), or that ended without an exit status
// (Status -1). Test for it with errors.As.
type ExitError struct {
	// Host is the host's name, as given to Dial.
	Host string
	// Cmd is the command as run, credentials and all; Error shows it with
	// its credentials masked.
	Cmd string
	// Status is the exit status; -1 when the server sent none.
	Status int
	// Signal is the signal that killed the command ("KILL", "TERM"...), if any.
	Signal string
	// Stderr is what the command wrote to its standard error.
	Stderr string
}

// Error reads `run "CMD" on HOST: exit status N: first line of stderr`,
// CMD shown as shownCmd shows it, and credentials in the stderr line
// masked the same way (the Stderr field keeps them).
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %q on %s: ", shownCmd(e.Cmd), e.Host)
	switch {
	case e.Signal != "":
		fmt.Fprintf(&b, "killed by signal %s", e.Signal)
	case e.Status < 0:
		b.WriteString("exited without an exit status (connection lost or command killed)")
	default:
		fmt.Fprintf(&b, "exit status %d", e.Status)
	}
	// The command may echo its credentials (git's "unable to access
	// 'https://user:token@host/...'"): masked as the command is, before
	// the line is cut short, so that no part of a secret is left.
	if line := firstLineWhole(e.Stderr); line != "" {
		b.WriteString(": ")
		b.WriteString(shorten(mask.Command(line), 300))
	}
	return b.String()
}

// firstLine is the first non-blank line of s, trimmed and bounded.
func firstLine(s string) string { return shorten(firstLineWhole(s), 300) }

// firstLineWhole is the first non-blank line of s, trimmed.
func firstLineWhole(s string) string {
	for s != "" {
		var l string
		l, s, _ = strings.Cut(s, "\n")
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// shownCmd is cmd as errors and logs quote it: its credentials (URL
// userinfo, values of words named like password, token, secret) masked
// (see internal/mask), then bounded to 200 bytes.
func shownCmd(cmd string) string { return shorten(mask.Command(cmd), 200) }

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Run runs cmd, a POSIX sh command, on the host and returns its stdout and
// stderr. A non-zero exit status is an [*ExitError] (the output is
// returned too). When ctx ends first the command is killed (with its
// process group) and the error wraps ctx.Err(). Runs may go in parallel.
//
// cmd never passes through the user's login shell: it is sent to a
// [Shell] (a /bin/sh reached through [Bootstrap], see the package doc),
// which runs it as `/bin/sh -c CMD` in a new process, with stdin empty, in
// the login directory, in the environment the package doc describes (not
// a login shell's: source ~/.profile in cmd when it needs that). A cd, an
// export or a ulimit does not carry over to the next Run. Its stdout and
// stderr are spooled in the shell's private temporary directory and sent
// back whole, each bounded by [WithMaxOutput] (default 64 MiB; beyond it
// Run fails and says so). A cmd holding a NUL byte fails with [ErrNUL]
// before anything is sent.
//
// The shells are pooled: up to 4 per host, started when Runs overlap and
// kept until Close, so the login shell's start-up (~/.bashrc...) is paid
// once per shell, not per command (see [WithoutSharedShell]). An exit
// status of 128+N is reported as death by signal N (a shell cannot tell
// `exit 143` from SIGTERM). A background process a command leaves behind
// (`nohup app &`) stays in the shell's process group: a later Run that is
// cancelled kills that group, so start daemons with setsid or a service
// manager.
func (h *Host) Run(ctx context.Context, cmd string) (Output, error) {
	if err := ctx.Err(); err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, err)
	}
	if strings.IndexByte(cmd, 0) >= 0 {
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, ErrNUL)
	}
	sh, err := h.Shell(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, err)
	}
	return h.runShell(ctx, sh, cmd)
}

// runProgram is the program that runs one command for Run: the command
// runs in its own /bin/sh with stdout and stderr in two files, while a
// watcher reads the shell's stdin (which the client leaves silent until the
// reply): when the client closes the session (ctx cancelled, Host closed)
// the watcher reads EOF, removes the temp dir and kills the process group
// (the shell, the command and its children), like the SIGKILL a session of
// its own gets, without the "signal" request that OpenSSH refuses for root
// logins. The shell kills the watcher before it replies.
func runProgram(cmd string) string {
	return `c=` + Quote(cmd) + `
{ read -r x <&3; q; kill -KILL 0; } 2>/dev/null & w=$!
( exec /bin/sh -c "$c" </dev/null >"$d/o" 2>"$d/e" 3<&- ); s=$?
kill "$w" 2>/dev/null; wait "$w" 2>/dev/null; g=
[ -f "$d/o" ] && [ -f "$d/e" ] || { printf 'lost\n'; exit 96; }
if [ "$s" -gt 128 ]; then g=$(kill -l "$s" 2>/dev/null); fi
o=$(wc -c <"$d/o"); e=$(wc -c <"$d/e")
printf '%s %s %s %s\n' "$s" $o $e "$g"
head -c "$o" <"$d/o"; head -c "$e" <"$d/e"; rm -f -- "$d/o" "$d/e"`
}

// runShell runs cmd through sh and gives sh back (or kills it).
func (h *Host) runShell(ctx context.Context, sh *Shell, cmd string) (Output, error) {
	if h.log.Enabled(ctx, slog.LevelDebug) { // masking parses the command: only when logged
		h.log.Debug("ssh: run", "host", h.name, "cmd", mask.Command(cmd))
	}
	type result struct {
		r   reply
		err error
	}
	c := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if p := recover(); p != nil {
				res.err = fmt.Errorf("%w: internal error on host data: %v", ErrShellBroken, p)
			}
			c <- res
		}()
		res.r, res.err = sh.runCommand(cmd)
	}()
	var res result
	select {
	case res = <-c:
	case <-ctx.Done():
		sh.Kill()
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, ctx.Err())
	}
	if res.err != nil {
		if errors.Is(res.err, io.EOF) || errors.Is(res.err, io.ErrUnexpectedEOF) || errors.Is(res.err, errLost) {
			// The shell ended: say how, as a session of its own would.
			return Output{}, h.shellDied(sh, cmd, res.err)
		}
		sh.Kill() // a reply beyond a bound, or not one at all
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, res.err)
	}
	sh.Release()
	if res.r.status == 0 {
		return res.r.out, nil
	}
	return res.r.out, &ExitError{Host: h.name, Cmd: cmd, Status: res.r.status, Signal: res.r.signal, Stderr: string(res.r.out.Stderr)}
}

// reply is one command's result.
type reply struct {
	out    Output
	status int
	signal string
}

// errLost is a shell whose temporary directory was removed.
var errLost = errors.New("output lost")

// capError is output beyond WithMaxOutput.
type capError struct {
	stream string
	n, max int64
}

func (e *capError) Error() string {
	return fmt.Sprintf("its %s holds %d bytes, more than the %d that remote.WithMaxOutput allows", e.stream, e.n, e.max)
}

// runCommand sends runProgram(cmd) and reads its reply. An error means the
// shell is unusable and whether the command ran is unknown.
func (sh *Shell) runCommand(cmd string) (reply, error) {
	var r reply
	if err := sh.announce(cmd); err != nil {
		return r, err
	}
	if err := sh.Send(runProgram(cmd)); err != nil {
		return r, err
	}
	return sh.readReply()
}

// readReply reads the reply of runProgram: the line "STATUS OUT ERR
// [SIGNAL]", then OUT bytes of stdout and ERR of stderr, each bounded by
// WithMaxOutput.
func (sh *Shell) readReply() (reply, error) {
	var r reply
	line, err := sh.ReadLine()
	if err != nil {
		return r, fmt.Errorf("%w: read reply: %w", ErrShellBroken, err)
	}
	bad := func() error {
		return fmt.Errorf("%w: bad reply %s", ErrShellBroken, Printable(shorten(string(line), 100)))
	}
	f := strings.Fields(string(line))
	if len(f) == 1 && f[0] == "lost" {
		return r, fmt.Errorf("%w: %w: its temporary directory %s was removed while the command ran; its output is lost", ErrShellBroken, errLost, Printable(sh.dir))
	}
	if len(f) < 3 || len(f) > 4 {
		return r, bad()
	}
	var n [3]int64
	for i := range n {
		if n[i], err = strconv.ParseInt(f[i], 10, 64); err != nil || n[i] < 0 {
			return r, bad()
		}
	}
	if n[0] > 255 {
		return r, bad()
	}
	max := sh.h.maxOutput
	for i, name := range []string{"stdout", "stderr"} {
		if n[i+1] > max {
			return r, &capError{stream: name, n: n[i+1], max: max}
		}
	}
	r.status = int(n[0])
	if len(f) == 4 && r.status > 128 && r.status <= 128+31 && isSignalName(f[3]) {
		r.signal = f[3]
	}
	for i, p := range []*[]byte{&r.out.Stdout, &r.out.Stderr} {
		*p = make([]byte, n[i+1]) // empty, not nil, as from a session
		if _, err := io.ReadFull(sh.out, *p); err != nil {
			return r, fmt.Errorf("%w: read output: %w", ErrShellBroken, err)
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

// shellDied reports a command whose shell ended or broke before it
// replied: a shell killed by a signal (say the command ran `kill 0`) is an
// [*ExitError] with that signal, a lost connection one without an exit
// status.
func (h *Host) shellDied(sh *Shell, cmd string, err error) error {
	t := time.NewTimer(5 * time.Second)
	select {
	case <-sh.done:
	case <-t.C:
	}
	t.Stop()
	sh.Kill()
	var se *ssh.ExitError
	var me *ssh.ExitMissingError
	switch {
	case errors.Is(err, errLost), !sh.exited():
	case errors.As(sh.err, &se) && se.Signal() != "":
		return &ExitError{Host: h.name, Cmd: cmd, Status: se.ExitStatus(), Signal: se.Signal()}
	case errors.As(sh.err, &me):
		return &ExitError{Host: h.name, Cmd: cmd, Status: -1}
	}
	return fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, err)
}

// inputProgram runs cmd with the rest of the shell's stdin as its input
// and stdout and stderr as the session's; the shell then ends as cmd did
// (killing itself with cmd's signal), so the session's exit status is
// cmd's.
func inputProgram(cmd string) string {
	return `/bin/sh -c ` + Quote(cmd) + ` 3<&-; s=$?; q; trap - EXIT HUP PIPE
if [ "$s" -gt 128 ] && g=$(kill -l "$s" 2>/dev/null); then kill -s "$g" $$; fi
exit "$s"`
}

// RunInput is Run with stdin fed from r (e.g. a tar stream); nil = no
// input. It always starts a shell of its own (not pooled), which runs cmd
// with stdout and stderr streamed back rather than spooled (bounded by
// [WithMaxOutput] all the same); the shell ends with cmd.
func (h *Host) RunInput(ctx context.Context, cmd string, stdin io.Reader) (out Output, err error) {
	if err := ctx.Err(); err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, err)
	}
	if strings.IndexByte(cmd, 0) >= 0 {
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, ErrNUL)
	}
	defer recoverInto(&err, fmt.Sprintf("run %q on %s", shownCmd(cmd), h.name))
	sh, err := h.startShell(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, err)
	}
	defer sh.sess.Close()
	if h.log.Enabled(ctx, slog.LevelDebug) {
		h.log.Debug("ssh: run", "host", h.name, "cmd", mask.Command(cmd), "input", stdin != nil)
	}
	if err := sh.announce(cmd); err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, err)
	}
	if err := sh.Send(inputProgram(cmd)); err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, err)
	}
	stdout := &limitedWriter{max: h.maxOutput}
	stderr := sh.stderr
	stderr.reset(h.maxOutput)
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(stdout, sh.out)
		copied <- err
	}()
	// stdin is fed here, so that a command that exits without reading all
	// its input is not an error, while a failure to read the input kills
	// the command (it must not act on a truncated stream).
	var readErr atomic.Pointer[error]
	if stdin != nil {
		go func() {
			_, err := io.Copy(sh.in, readErrorOf{stdin, &readErr})
			if readErr.Load() != nil {
				sh.sess.Close()
				return
			}
			if err == nil {
				sh.in.Close()
			}
		}()
	} else {
		sh.in.Close()
	}
	select {
	case <-sh.done:
	case <-ctx.Done():
		sh.sess.Close()
		return Output{}, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, ctx.Err())
	}
	<-copied
	out = Output{Stdout: stdout.Bytes(), Stderr: []byte(stderr.String())}
	if rerr := readErr.Load(); rerr != nil {
		return out, fmt.Errorf("run %q on %s: read input: %w", shownCmd(cmd), h.name, *rerr)
	}
	if stdout.over {
		return out, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, &capError{stream: "stdout", n: stdout.n, max: h.maxOutput})
	}
	if stderr.over() {
		return out, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, &capError{stream: "stderr", n: stderr.written(), max: h.maxOutput})
	}
	err = sh.err
	if err == nil {
		return out, nil
	}
	ee := &ExitError{Host: h.name, Cmd: cmd, Stderr: string(out.Stderr)}
	var se *ssh.ExitError
	var me *ssh.ExitMissingError
	switch {
	case errors.As(err, &se):
		ee.Status, ee.Signal = se.ExitStatus(), se.Signal()
	case errors.As(err, &me):
		ee.Status = -1
	default:
		return out, fmt.Errorf("run %q on %s: %w", shownCmd(cmd), h.name, err)
	}
	return out, ee
}

// limitedWriter keeps the first max bytes and counts the rest.
type limitedWriter struct {
	max  int64
	n    int64
	over bool
	b    bytes.Buffer
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if room := w.max - int64(w.b.Len()); room > 0 {
		w.b.Write(p[:min(int64(len(p)), room)])
	}
	if w.n > w.max {
		w.over = true
	}
	return len(p), nil
}

func (w *limitedWriter) Bytes() []byte { return w.b.Bytes() }

// readErrorOf records the error of its reader (not of the writer io.Copy
// feeds), io.EOF aside.
type readErrorOf struct {
	r   io.Reader
	err *atomic.Pointer[error]
}

func (r readErrorOf) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err.Store(&err)
	}
	return n, err
}
