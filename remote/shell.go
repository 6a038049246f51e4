package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// The remote shell: the protocol, the environment and the bounds are in
// the package doc (remote.go), in one place.

// Bootstrap is the only command porter sends in an SSH exec request. It is
// one line with no backslash, no "!", no newline and no value in it, so
// that sh, dash, bash, zsh, fish, csh, tcsh and BusyBox ash all run the
// same thing: /bin/sh reading a length line and that many bytes of program
// from the channel.
const Bootstrap = `exec /bin/sh -c 'read n && eval "$(head -c $n)"'`

// shellLoop is the first frame: the shell's set-up and its loop.
const shellLoop = `d=$(mktemp -d 2>/dev/null) && [ -d "$d" ] || { echo "porter: mktemp -d failed on this host" >&2; exit 97; }
q() { rm -rf -- "$d"; }; trap q EXIT; trap exit HUP PIPE
[ "$(printf ab | head -c 1 2>/dev/null)" = a ] || { echo "porter: this host has no head -c" >&2; exit 97; }
exec 3<&0
printf 'porter-shell 2 %s\n' "$d"
while IFS= read -r n; do
case $n in ""|*[!0-9]*) exit 98;; esac
c=$(head -c "$n"; echo .); c=${c%.}
IFS= read -r t && [ "$t" = go ] || exit 98
eval "$c"
done
`

// MaxPreamble bounds what a login shell may print before the greeting.
const MaxPreamble = 1 << 20

// maxLine bounds a reply line (the bufio.Reader's size).
const maxLine = 64 << 10

// DefaultMaxOutput is the default bound of what one command run by
// [Host.Run] may print, on stdout and on stderr each (see [WithMaxOutput]).
const DefaultMaxOutput = 64 << 20

// greeting is the line a shell prints before its loop.
const greeting = "porter-shell 2 "

// ErrShellBroken marks a shell that died, was killed, or broke the
// protocol: it is unusable, and whether its last program ran is unknown.
var ErrShellBroken = errors.New("remote shell broke")

// Shell is one /bin/sh on a host, started through [Bootstrap] (see the
// package doc for the protocol). Get one with [Host.Shell] (pooled) or
// [Host.StartShell]; send programs with [Shell.Send]; read their replies
// with [Shell.ReadLine], [Shell.ReadRecord] or [Shell.Reader]; give it back
// with [Shell.Release] once a program's reply has been read whole, or end
// it with [Shell.Kill].
//
// A Shell is used by one goroutine at a time, but Kill may be called from
// any.
type Shell struct {
	h      *Host
	sess   *ssh.Session
	in     io.WriteCloser
	out    *bufio.Reader
	stderr *capped // the shell's own stderr
	dir    string
	done   chan struct{}
	err    error // the session's end (Wait), set before done closes

	pooled bool // from the Host's pool: Release gives it back
	mu     sync.Mutex
	killed bool
}

// StartShell starts a new shell that is not pooled: [Shell.Release] and
// [Shell.Close] end it. It fails within ctx and within the Host's start
// timeout ([WithTimeout]).
func (h *Host) StartShell(ctx context.Context) (*Shell, error) {
	return h.startShell(ctx)
}

// startShell runs the bootstrap, sends it the shell's loop and waits for
// the greeting.
func (h *Host) startShell(ctx context.Context) (_ *Shell, err error) {
	defer recoverInto(&err, "start a shell on "+h.name)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := h.sessionLimit()
	s, err := h.openSession(ctx, limit)
	if err != nil {
		return nil, &shellOpenError{err}
	}
	sh := &Shell{h: h, sess: s, stderr: &capped{max: 16 << 10}, done: make(chan struct{})}
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
	sh.out = bufio.NewReaderSize(out, maxLine)
	if h.announce {
		// Only for servers that asked (portertest): OpenSSH ignores it.
		if _, err := s.SendRequest(shellRequest, false, nil); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.Start(Bootstrap); err != nil {
		s.Close()
		return nil, fmt.Errorf("start %q: %w", Bootstrap, err)
	}
	go func() { sh.err = s.Wait(); close(sh.done) }()
	// The first frame, then the greeting after whatever the login shell
	// printed. A shell that never greets (a forced command that waits, a
	// login shell that rejected the bootstrap and waits) is given up.
	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	stop := context.AfterFunc(tctx, func() { s.Close() })
	defer stop()
	if _, err := io.WriteString(sh.in, strconv.Itoa(len(shellLoop))+"\n"+shellLoop); err != nil {
		sh.Kill()
		return nil, sh.startError(tctx, "send the shell's program", err)
	}
	dir, err := readGreeting(sh.out)
	if err != nil {
		sh.Kill()
		var ng *noGreetingError
		if errors.As(err, &ng) {
			return nil, sh.startError(tctx, "no greeting", ng.err)
		}
		return nil, err
	}
	sh.dir = dir
	return sh, nil
}

// noGreetingError is a shell's output that ended (or failed) before its
// greeting.
type noGreetingError struct{ err error }

func (e *noGreetingError) Error() string { return "no greeting: " + e.err.Error() }
func (e *noGreetingError) Unwrap() error { return e.err }

// readGreeting skips what the login shell printed (at most MaxPreamble
// bytes) up to the greeting line and returns the shell's temporary
// directory that the greeting names. Output that ends first is a
// *noGreetingError; a bad greeting, or too much before it, wraps
// ErrShellBroken.
func readGreeting(out *bufio.Reader) (string, error) {
	skipped := 0
	for {
		line, err := out.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return "", &noGreetingError{err}
		}
		if i := bytes.Index(line, []byte(greeting)); i >= 0 && err == nil {
			dir := strings.TrimSuffix(string(line[i+len(greeting):]), "\n")
			if !strings.HasPrefix(dir, "/") || strings.ContainsAny(dir, "\x00\r'") {
				return "", fmt.Errorf("%w: bad greeting %s", ErrShellBroken, Printable(shorten(string(line), 100)))
			}
			return dir, nil
		}
		if skipped += len(line); skipped > MaxPreamble {
			return "", fmt.Errorf("%w: the login shell printed more than %d bytes before the greeting", ErrShellBroken, MaxPreamble)
		}
	}
}

// openSession opens a session channel, bounded by ctx and limit: a server
// that answers keepalives but never the channel open (a stuck sshd) is an
// error, not a wait without end. A session that opens after that is closed.
func (h *Host) openSession(ctx context.Context, limit time.Duration) (*ssh.Session, error) {
	type opened struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := h.client.NewSession()
		ch <- opened{s, err}
	}()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case o := <-ch:
		return o.s, o.err
	case <-ctx.Done():
	case <-t.C:
	}
	go func() {
		if o := <-ch; o.s != nil {
			o.s.Close()
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("the server did not answer within %s", limit)
}

// sessionLimit bounds the opening of a session channel: the start
// timeout (see [WithTimeout]).
func (h *Host) sessionLimit() time.Duration {
	if h.startTimeout <= 0 {
		return defaultStartTimeout
	}
	return h.startTimeout
}

// defaultStartTimeout bounds a shell's start when no [WithTimeout] is set.
const defaultStartTimeout = 30 * time.Second

// startError explains a shell that did not start: the context, what the
// login shell said, or how the session ended.
func (sh *Shell) startError(ctx context.Context, what string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %s: no answer within the start timeout: %w", ErrShellBroken, what, cerr)
		}
		return cerr
	}
	return fmt.Errorf("%w: %s: %v%s", ErrShellBroken, what, err, sh.why())
}

// shellOpenError is a session the server would not open (e.g. MaxSessions).
type shellOpenError struct{ err error }

func (e *shellOpenError) Error() string { return "open session: " + e.err.Error() }
func (e *shellOpenError) Unwrap() error { return e.err }

// why is the shell's own stderr and end, for an error message.
func (sh *Shell) why() string {
	var b strings.Builder
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-sh.done:
		if sh.err != nil {
			fmt.Fprintf(&b, " (%v)", sh.err)
		}
	case <-t.C:
	}
	if s := firstLine(sh.stderr.String()); s != "" {
		b.WriteString(": " + Printable(s))
	}
	return b.String()
}

// Host returns the host the shell runs on.
func (sh *Shell) Host() *Host { return sh.h }

// Dir returns the shell's private temporary directory on the host.
func (sh *Shell) Dir() string { return sh.dir }

// Send sends one program, framed (see the package doc). A program that
// holds a NUL byte is refused with [ErrNUL] before anything is sent.
func (sh *Shell) Send(program string) error {
	if strings.IndexByte(program, 0) >= 0 {
		return fmt.Errorf("send a program to %s: %w", sh.h.name, ErrNUL)
	}
	msg := make([]byte, 0, len(program)+24)
	msg = strconv.AppendInt(msg, int64(len(program)), 10)
	msg = append(msg, '\n')
	msg = append(msg, program...)
	msg = append(msg, "go\n"...)
	if _, err := sh.in.Write(msg); err != nil {
		return fmt.Errorf("%w: send a program: %v", ErrShellBroken, err)
	}
	return nil
}

// Write writes raw bytes to the shell's stdin, for a program that reads
// exactly that many (e.g. `head -c N | tar -x`).
func (sh *Shell) Write(p []byte) (int, error) { return sh.in.Write(p) }

// CloseWrite closes the shell's stdin: a program reading it to the end (a
// streamed `tar -x`) sees its end, and the shell then exits.
func (sh *Shell) CloseWrite() error { return sh.in.Close() }

// ReadLine reads one line of a reply, without its "\n"; a line longer than
// 64 KiB is an error.
func (sh *Shell) ReadLine() ([]byte, error) {
	line, err := sh.out.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: a reply line longer than %d bytes", ErrShellBroken, maxLine)
	}
	if err != nil {
		return nil, err
	}
	return line[:len(line)-1], nil
}

// ReadRecord reads one NUL-terminated record of at most max bytes, without
// its NUL. The slice is valid until the next read.
func (sh *Shell) ReadRecord(max int) ([]byte, error) {
	b, err := sh.out.ReadSlice(0)
	if err == nil {
		if len(b)-1 > max {
			return nil, fmt.Errorf("%w: a record of %d bytes, more than %d", ErrShellBroken, len(b)-1, max)
		}
		return b[:len(b)-1], nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	long := append([]byte(nil), b...)
	for {
		if len(long) > max {
			return nil, fmt.Errorf("%w: a record longer than %d bytes", ErrShellBroken, max)
		}
		b, err = sh.out.ReadSlice(0)
		long = append(long, b...)
		if err == nil {
			if len(long)-1 > max {
				return nil, fmt.Errorf("%w: a record of %d bytes, more than %d", ErrShellBroken, len(long)-1, max)
			}
			return long[:len(long)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// Reader returns the shell's stdout, for a reply of a known length: the
// caller reads exactly that many bytes (io.ReadFull, io.CopyN).
func (sh *Shell) Reader() io.Reader { return sh.out }

// Stderr returns the end of what the shell wrote to its stderr (the last
// 16 KiB are kept), with control characters made visible.
func (sh *Shell) Stderr() string { return Printable(sh.stderr.String()) }

// StderrMark returns how many bytes the shell wrote to its stderr so far:
// pass it to StderrSince after a program to get what that program wrote.
func (sh *Shell) StderrMark() int64 { return sh.stderr.written() }

// StderrSince returns what the shell wrote to its stderr after mark (see
// StderrMark), as far as the last 16 KiB hold it, with control characters
// made visible.
func (sh *Shell) StderrSince(mark int64) string { return Printable(sh.stderr.since(mark)) }

// Watch makes ctx ending kill the shell, until the returned stop is called
// (it reports whether it stopped the watch before ctx ended).
func (sh *Shell) Watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, sh.Kill)
}

// Kill ends the shell at once: its session is closed (what it runs sees
// the end of its input, and [Host.Run]'s command is killed). A killed
// shell is never pooled again. Kill may be called from any goroutine.
func (sh *Shell) Kill() {
	sh.mu.Lock()
	sh.killed = true
	sh.mu.Unlock()
	sh.sess.Close()
	if sh.pooled && sh.h.shells != nil {
		sh.h.shells.discard(sh)
	}
}

// Wait waits for the shell's session to end and returns how it ended.
func (sh *Shell) Wait() error {
	<-sh.done
	return sh.err
}

// Release gives the shell back after its last program's reply was read
// whole: a pooled shell goes back to the Host's pool, any other is closed.
func (sh *Shell) Release() {
	if sh.pooled && sh.h.shells != nil {
		sh.h.shells.put(sh)
		return
	}
	sh.stop(2 * time.Second)
}

// Close ends the shell cleanly: EOF on its stdin makes it remove its
// temporary directory and exit. A pooled shell is taken out of the pool.
func (sh *Shell) Close() error {
	if sh.pooled && sh.h.shells != nil {
		sh.h.shells.discard(sh)
	}
	sh.stop(2 * time.Second)
	return nil
}

// isKilled reports whether Kill was called.
func (sh *Shell) isKilled() bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.killed
}

// stop closes stdin, waits up to wait for the shell to exit, then closes
// the session.
func (sh *Shell) stop(wait time.Duration) {
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
func (sh *Shell) exited() bool {
	select {
	case <-sh.done:
		return true
	default:
		return false
	}
}

// capped keeps the last max bytes written to it and counts them all: the
// bytes held are those from offset total-b.Len() to total.
type capped struct {
	mu    sync.Mutex
	max   int
	total int64
	b     []byte
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += int64(len(p))
	if len(p) >= c.max {
		c.b = append(c.b[:0], p[len(p)-c.max:]...)
		return len(p), nil
	}
	c.b = append(c.b, p...)
	if len(c.b) > c.max+min(c.max, 1<<20) {
		c.b = append(c.b[:0], c.b[len(c.b)-c.max:]...)
	}
	return len(p), nil
}

// String returns the last max bytes.
func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b[max(len(c.b)-c.max, 0):])
}

// since returns what was written after offset n, as far as it is held.
func (c *capped) since(n int64) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := c.b[max(len(c.b)-c.max, 0):]
	start := n - (c.total - int64(len(held)))
	if start >= int64(len(held)) {
		return ""
	}
	return string(held[max(start, 0):])
}

// reset empties c and makes it keep max bytes from now on.
func (c *capped) reset(max int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = c.b[:0]
	c.total = 0
	c.max = int(min(max, 1<<30))
}

// over reports whether more than max bytes were written.
func (c *capped) over() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total > int64(c.max)
}

// written returns how many bytes were written in all.
func (c *capped) written() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// recoverInto turns a panic in code that reads host data into an error.
func recoverInto(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: %w: internal error on host data: %v", what, ErrShellBroken, r)
	}
}

// Channel requests sent with want-reply false, only when the server asked
// for them ([WithCommandAnnouncements]): OpenSSH ignores them; portertest
// lists the commands in its Commands.
const (
	// shellRequest is sent on a shell's session before its exec.
	shellRequest = "porter-shell@porter-deploy.github.io"
	// commandRequest is sent on that session before each command of
	// [Host.Run], with the command as an SSH string.
	commandRequest = "porter-command@porter-deploy.github.io"
)

// announce names cmd to the server, when asked for.
func (sh *Shell) announce(cmd string) error {
	if !sh.h.announce {
		return nil
	}
	if _, err := sh.sess.SendRequest(commandRequest, false, ssh.Marshal(struct{ Command string }{cmd})); err != nil {
		return fmt.Errorf("%w: %v", ErrShellBroken, err)
	}
	return nil
}
