package rsync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter/remote"
)

// An agent is the one remote shell a sync runs: it lists dst, then runs the
// programs the client sends on its stdin (hash files, then prepare and
// extract the tar stream). A host whose login shell is slow to start (a
// heavy .bashrc costs 100 ms and more) pays that once per sync.
//
// Protocol: the agent prints a header record ("porter-list1 TAR GZIP SHA"),
// the find records of dst and an end record ("X", find's exit status). Then
// it loops: it reads a line with a byte count n and n bytes of shell code,
// and evals them; n = 0 or the end of stdin stops it. Every record on stdout
// ends with a NUL.
type agent struct {
	h      *remote.Host
	sess   *ssh.Session
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *limitedBuffer
	caps   hostCaps // what the host's shell offers, from the header

	waitOnce sync.Once
	waitErr  error
	stop     func() bool // stops the ctx watcher
}

// capsScript prints the header: what the host's shell offers.
const capsScript = `t=-; case "$(tar --version 2>/dev/null)" in *"GNU tar"*|*bsdtar*) t=tar;; esac; ` +
	`g=-; command -v gzip >/dev/null 2>&1 && g=gzip; ` +
	`s=-; case "$(sha256sum --help 2>&1)" in *--zero*) s=sha;; esac; ` +
	`printf 'porter-list1 %s %s %s\0' "$t" "$g" "$s"; `

// agentScript is the agent's program; dst is its only input. Without
// list, it skips the listing (an agent started for Apply only).
func agentScript(dst string, list bool) string {
	f := remote.Quote(findFormat)
	script := capsScript + `D=` + remote.Quote(dst) + `; `
	if list {
		script += `if [ -d "$D" ]; then ` +
			`(cd -- "$D" && exec find . -path ./.porter -prune -o -path './.porter-tmp-*' -prune -printf ` + f + ` -o -printf ` + f + `); ` +
			`printf 'X\0%s\0' "$?"; ` +
			`elif [ -e "$D" ] || [ -h "$D" ]; then echo "porter: $D exists and is not a directory" >&2; exit 4; ` +
			`else printf 'X\0-\0'; fi; `
	} else {
		script += `printf 'X\0-\0'; `
	}
	return script + `while IFS= read -r n && [ "$n" -gt 0 ]; do c=$(head -c "$n"); eval "$c"; done`
}

// findFormat prints, for each entry: type, mode, size, mtime, link target,
// path relative to the starting point; each field NUL-terminated (names may
// hold newlines).
const findFormat = `%y\0%m\0%s\0%T@\0%l\0%P\0`

// startAgent starts the agent for dst on h. Until a.stop is called, ctx
// ending closes its session (which unblocks any read).
func startAgent(ctx context.Context, h *remote.Host, dst string, list bool) (*agent, error) {
	return startShell(ctx, h, agentScript(dst, list))
}

// startShell runs cmd on h with pipes to its stdin and stdout.
func startShell(ctx context.Context, h *remote.Host, cmd string) (*agent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sess, err := h.Client().NewSession()
	if err != nil {
		return nil, fmt.Errorf("open a session on %s: %w", h.Name(), err)
	}
	a := &agent{h: h, sess: sess, stderr: &limitedBuffer{max: 16 << 10}}
	if a.stdin, err = sess.StdinPipe(); err != nil {
		sess.Close()
		return nil, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, err
	}
	a.stdout = bufio.NewReaderSize(out, 64<<10)
	sess.Stderr = a.stderr
	if err := sess.Start(cmd); err != nil {
		sess.Close()
		return nil, fmt.Errorf("start a shell on %s: %w", h.Name(), err)
	}
	a.stop = context.AfterFunc(ctx, func() { sess.Close() })
	return a, nil
}

// field reads one NUL-terminated field.
func (a *agent) field() ([]byte, error) {
	b, err := a.stdout.ReadSlice(0)
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), b...)
		rest, err := a.stdout.ReadBytes(0)
		return append(long, rest[:max(len(rest)-1, 0)]...), err
	}
	if err != nil {
		return nil, err
	}
	return b[:len(b)-1], nil
}

// fail turns a read error into the agent's own error: its exit status and
// what it printed on stderr.
func (a *agent) fail(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		werr := a.wait()
		var xe *ssh.ExitError
		if errors.As(werr, &xe) {
			if xe.ExitStatus() == 4 {
				return fmt.Errorf("%s: it exists and is not a directory: remove it or choose another destination", what)
			}
			return fmt.Errorf("%s: the shell exited with status %d: %s", what, xe.ExitStatus(), bytes.TrimSpace(a.stderr.Bytes()))
		}
		if werr != nil {
			return fmt.Errorf("%s: %w", what, werr)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readListing reads the header and the find records. findOK is false when
// find failed (a find without -printf, e.g. busybox).
func (a *agent) readListing(what string) (caps hostCaps, raw []entry, exists, findOK bool, err error) {
	// Skip whatever a chatty login script printed before the header.
	for {
		b, err := a.field()
		if err != nil {
			return caps, nil, false, false, a.fail(what, err)
		}
		if i := bytes.Index(b, []byte("porter-list1 ")); i >= 0 {
			if caps, err = parseHeader(b[i:]); err != nil {
				return caps, nil, false, false, fmt.Errorf("%s: %w", what, err)
			}
			a.caps = caps
			break
		}
	}
	var f [6][]byte
	for {
		b, err := a.field()
		if err != nil {
			return caps, nil, false, false, a.fail(what, err)
		}
		if string(b) == "X" {
			st, err := a.field()
			if err != nil {
				return caps, nil, false, false, a.fail(what, err)
			}
			switch string(st) {
			case "-":
				return caps, nil, false, true, nil
			case "0":
				return caps, raw, true, true, nil
			}
			return caps, nil, true, false, nil
		}
		f[0] = append(f[0][:0], b...)
		for i := 1; i < 6; i++ {
			b, err := a.field()
			if err != nil {
				return caps, nil, false, false, a.fail(what, err)
			}
			f[i] = append(f[i][:0], b...)
		}
		e, err := parseRecord(f)
		if err != nil {
			return caps, nil, false, false, fmt.Errorf("%s: %w", what, err)
		}
		raw = append(raw, e)
	}
}

// send hands the agent a program to eval.
func (a *agent) send(program string) error {
	_, err := io.WriteString(a.stdin, strconv.Itoa(len(program))+"\n"+program)
	return err
}

// wait waits for the agent to exit, once.
func (a *agent) wait() error {
	a.waitOnce.Do(func() { a.waitErr = a.sess.Wait() })
	return a.waitErr
}

// close ends the agent: its stdin is closed, so it leaves its loop (or its
// tar sees the end of the archive); if it has not exited within a few
// seconds, its session is closed.
func (a *agent) close() error {
	a.stdin.Close()
	done := make(chan struct{})
	go func() {
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			a.sess.Close()
		}
	}()
	// Drain stdout so that the agent never blocks on a full channel.
	go io.Copy(io.Discard, a.stdout)
	err := a.wait()
	close(done)
	a.stop()
	a.sess.Close()
	return err
}

// abort closes the agent's session at once.
func (a *agent) abort() {
	a.stop()
	a.sess.Close()
	a.wait()
}

func parseHeader(b []byte) (hostCaps, error) {
	if i := bytes.Index(b, []byte("porter-list1 ")); i >= 0 {
		b = b[i:]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	f := bytes.Fields(b)
	if len(f) != 4 || string(f[0]) != "porter-list1" {
		return hostCaps{}, fmt.Errorf("unexpected output from the remote shell (is the login shell a POSIX sh?): %.80q", b)
	}
	return hostCaps{tar: string(f[1]) == "tar", gzip: string(f[2]) == "gzip", sha256sum: string(f[3]) == "sha"}, nil
}
