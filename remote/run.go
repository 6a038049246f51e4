package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
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
	// Cmd is the command as run.
	Cmd string
	// Status is the exit status; -1 when the server sent none.
	Status int
	// Signal is the signal that killed the command ("KILL", "TERM"...), if any.
	Signal string
	// Stderr is what the command wrote to its standard error.
	Stderr string
}

// Error reads `run "CMD" on HOST: exit status N: first line of stderr`.
func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %q on %s: ", shorten(e.Cmd, 200), e.Host)
	switch {
	case e.Signal != "":
		fmt.Fprintf(&b, "killed by signal %s", e.Signal)
	case e.Status < 0:
		b.WriteString("exited without an exit status (connection lost or command killed)")
	default:
		fmt.Fprintf(&b, "exit status %d", e.Status)
	}
	if line := firstLine(e.Stderr); line != "" {
		b.WriteString(": ")
		b.WriteString(line)
	}
	return b.String()
}

// firstLine is the first non-blank line of s, trimmed and bounded.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return shorten(l, 300)
		}
	}
	return ""
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Run runs cmd through the remote user's shell ($SHELL -c CMD, stdin
// empty) and returns its stdout and stderr. A non-zero exit status is an
// [*ExitError] (the output is returned too). When ctx ends first the command
// is sent SIGKILL and the error wraps ctx.Err(). Runs may go in parallel.
//
// Commands go to a shared shell: a sh started once per host (up to 4 when
// Runs overlap) that starts each command as a new process of the user's
// shell, so the login shell's start-up (~/.bashrc...) is paid once, not per
// command. Each command still starts afresh: in the login directory, with
// the login environment; a cd or an export does not carry over. The
// differences with a session per command, and how to turn the shared shell
// off, are under [WithoutSharedShell]. Where the shared shell cannot start,
// Run opens a session per command, as [Host.RunInput] always does.
func (h *Host) Run(ctx context.Context, cmd string) (Output, error) {
	if err := ctx.Err(); err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, err)
	}
	if h.shells == nil || strings.IndexByte(cmd, 0) >= 0 {
		return h.runSession(ctx, cmd, nil)
	}
	sh, err := h.shells.get(ctx.Done())
	if err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, ctx.Err())
	}
	if sh == nil {
		return h.runSession(ctx, cmd, nil)
	}
	return h.runShell(ctx, sh, cmd)
}

// runShell runs cmd through the shared shell sh.
func (h *Host) runShell(ctx context.Context, sh *shell, cmd string) (Output, error) {
	h.log.Debug("ssh: run", "host", h.name, "cmd", cmd, "shared", true)
	stale := h.shells.takeStale()
	type result struct {
		r    reply
		err  error
		sent bool // cmd was sent: it may have run
	}
	c := make(chan result, 1)
	go func() {
		if len(stale) > 0 {
			if _, err := sh.run(cleanCommand(stale), false); err != nil {
				c <- result{err: err}
				return
			}
		}
		r, err := sh.run(cmd, true)
		c <- result{r, err, true}
	}()
	var res result
	select {
	case res = <-c:
	case <-ctx.Done():
		sh.kill()
		h.shells.discard(sh)
		return Output{}, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, ctx.Err())
	}
	if res.err != nil {
		h.shells.discard(sh)
		if !res.sent {
			// The cleanup broke the shell; cmd was not sent.
			sh.kill()
			h.shells.addStale(stale)
			return h.runSession(ctx, cmd, nil)
		}
		return Output{}, h.shellDied(sh, cmd, res.err)
	}
	h.shells.put(sh)
	if res.r.status == 0 {
		return res.r.out, nil
	}
	return res.r.out, &ExitError{Host: h.name, Cmd: cmd, Status: res.r.status, Signal: res.r.signal, Stderr: string(res.r.out.Stderr)}
}

// shellDied reports a command whose shared shell ended or broke before it
// replied, the way a session of its own would have: a shell killed by a
// signal (say the command ran `kill 0`) is an [*ExitError] with that signal,
// a lost connection one without an exit status.
func (h *Host) shellDied(sh *shell, cmd string, err error) error {
	t := time.NewTimer(5 * time.Second)
	select {
	case <-sh.done:
	case <-t.C:
	}
	t.Stop()
	sh.kill()
	var se *ssh.ExitError
	var me *ssh.ExitMissingError
	switch {
	case !sh.exited():
	case errors.As(sh.err, &se) && se.Signal() != "":
		return &ExitError{Host: h.name, Cmd: cmd, Status: se.ExitStatus(), Signal: se.Signal()}
	case errors.As(sh.err, &me):
		return &ExitError{Host: h.name, Cmd: cmd, Status: -1}
	}
	return fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, err)
}

// RunInput is Run with stdin fed from r (e.g. a tar stream); nil = no input.
// It always opens a session of its own.
func (h *Host) RunInput(ctx context.Context, cmd string, stdin io.Reader) (Output, error) {
	if err := ctx.Err(); err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, err)
	}
	return h.runSession(ctx, cmd, stdin)
}

// runSession runs cmd in a session of its own.
func (h *Host) runSession(ctx context.Context, cmd string, stdin io.Reader) (Output, error) {
	s, err := h.client.NewSession()
	if err != nil {
		return Output{}, fmt.Errorf("run %q on %s: open session: %w", shorten(cmd, 200), h.name, err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	// stdin is fed here rather than by the session, so that a command that
	// exits without reading all its input is not an error, while a failure
	// to read the input kills the command (it must not act on a truncated
	// stream).
	var in io.WriteCloser
	if stdin != nil {
		if in, err = s.StdinPipe(); err != nil {
			return Output{}, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, err)
		}
	}
	h.log.Debug("ssh: run", "host", h.name, "cmd", cmd)
	if err := s.Start(cmd); err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, err)
	}
	var readErr atomic.Pointer[error]
	if stdin != nil {
		go func() {
			_, err := io.Copy(in, readErrorOf{stdin, &readErr})
			if readErr.Load() != nil {
				_ = s.Signal(ssh.SIGKILL)
				s.Close()
				return
			}
			if err == nil {
				in.Close()
			}
		}()
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGKILL)
		s.Close()
		// Wait returns once the channel is closed, unless stdin blocks;
		// the output buffers are left to it either way.
		return Output{}, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, ctx.Err())
	}
	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if rerr := readErr.Load(); rerr != nil {
		return out, fmt.Errorf("run %q on %s: read input: %w", shorten(cmd, 200), h.name, *rerr)
	}
	if err == nil {
		return out, nil
	}
	ee := &ExitError{Host: h.name, Cmd: cmd, Stderr: stderr.String()}
	var se *ssh.ExitError
	var me *ssh.ExitMissingError
	switch {
	case errors.As(err, &se):
		ee.Status, ee.Signal = se.ExitStatus(), se.Signal()
	case errors.As(err, &me):
		ee.Status = -1
	default:
		if cerr := ctx.Err(); cerr != nil {
			return out, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, ctx.Err())
		}
		return out, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, err)
	}
	return out, ee
}

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
