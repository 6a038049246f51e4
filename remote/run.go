package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

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

// Run runs cmd through the remote user's shell and returns its stdout and
// stderr. A non-zero exit status is an [*ExitError] (the output is returned
// too). When ctx ends first the command is sent SIGKILL, its session is
// closed, and the error wraps ctx.Err(). Each Run opens its own session on
// the host's one connection, so Runs may go in parallel.
func (h *Host) Run(ctx context.Context, cmd string) (Output, error) {
	return h.RunInput(ctx, cmd, nil)
}

// RunInput is Run with stdin fed from r (e.g. a tar stream); nil = no input.
func (h *Host) RunInput(ctx context.Context, cmd string, stdin io.Reader) (Output, error) {
	if err := ctx.Err(); err != nil {
		return Output{}, fmt.Errorf("run %q on %s: %w", shorten(cmd, 200), h.name, err)
	}
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
