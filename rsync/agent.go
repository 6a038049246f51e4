package rsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter/remote"
)

// An agent is a sync's use of one of the host's remote shells
// ([remote.Shell], pooled per host): it lists dst with one find, then runs
// the programs the sync sends it (hash files, prepare the staging
// directory, extract a tar archive). Each program runs in a subshell, so
// nothing it does (cd, set -e, a variable) stays in the shell, and ends its
// reply with an end record ("X", status), so that the shell is back in its
// loop after it: the sync then gives the shell back to the pool, where the
// next sync to the host, or a Host.Run, finds it started. A host whose
// login shell is slow to start (a heavy .bashrc costs 100 ms and more)
// pays that once per pooled shell, not per sync.
//
// Protocol: every record on stdout ends with a NUL. The listing program
// prints a header record ("porter-list1 TAR GZIP SHA"), the find records of
// dst and the end record "X" with find's exit status, "-" when dst does not
// exist, or "N" when it is not a directory.
type agent struct {
	h    *remote.Host
	sh   *remote.Shell
	rd   recordReader // sh (tests read a canned reply)
	dst  string
	caps hostCaps // what the host's shell offers, from the header
	mark int64    // the shell's stderr before the current program
	busy bool     // a program was sent whose reply is not read whole
	done bool     // released or aborted
	stop func() bool
}

// recordReader reads NUL-terminated records of a bounded size.
type recordReader interface {
	ReadRecord(max int) ([]byte, error)
}

// maxRecord bounds one field of the agent's replies: a path or a link
// target (PATH_MAX is 4096 on Linux), a hash line.
const maxRecord = 64 << 10

// capsScript prints the header: what the host's shell offers.
const capsScript = `t=-; case "$(tar --version 2>/dev/null)" in *"GNU tar"*|*bsdtar*) t=tar;; esac; ` +
	`g=-; command -v gzip >/dev/null 2>&1 && g=gzip; ` +
	`s=-; case "$(sha256sum --help 2>&1)" in *--zero*) s=sha;; esac; ` +
	`printf 'porter-list1 %s %s %s\0' "$t" "$g" "$s"; `

// listScript is the listing program: the header, then the find records of
// dst (without list, only the header and the end record).
func listScript(dst string, list bool) string {
	f := remote.Quote(findFormat)
	script := capsScript + `D=` + remote.Quote(dst) + `; `
	if list {
		script += `if [ -d "$D" ]; then ` +
			`(cd -P -- "$D" && exec find . -path ./.porter -prune -o -path './.porter-tmp-*' -prune -printf ` + f + ` -o -printf ` + f + `); ` +
			`printf 'X\0%s\0' "$?"; ` +
			`elif [ -e "$D" ] || [ -h "$D" ]; then printf 'X\0N\0'; ` +
			`else printf 'X\0-\0'; fi`
	} else {
		script += `printf 'X\0-\0'`
	}
	return script
}

// findFormat prints, for each entry: type, mode, size, mtime, link target,
// path relative to the starting point; each field NUL-terminated (names may
// hold newlines).
const findFormat = `%y\0%m\0%s\0%T@\0%l\0%P\0`

// startAgent takes a shell of h's pool for dst (started if none is idle)
// and sends it the listing program, with a find of dst if list (asked
// once the shell is up; nil: no) says so; listed reports which. Until
// a.stop is called, ctx ending kills the shell (which unblocks any read).
func startAgent(ctx context.Context, h *remote.Host, dst string, list func() bool) (_ *agent, listed bool, _ error) {
	sh, err := h.Shell(ctx)
	if err != nil {
		return nil, false, err
	}
	a := newAgent(ctx, sh, dst)
	listed = list != nil && list()
	if err := a.send(listScript(dst, listed)); err != nil {
		a.abort()
		return nil, listed, err
	}
	return a, listed, nil
}

// newAgent makes an agent of a shell already taken.
func newAgent(ctx context.Context, sh *remote.Shell, dst string) *agent {
	return &agent{h: sh.Host(), sh: sh, rd: sh, dst: dst, stop: sh.Watch(ctx)}
}

// field reads one NUL-terminated field (the slice is valid until the next
// read).
func (a *agent) field() ([]byte, error) { return a.rd.ReadRecord(maxRecord) }

// fail turns a read error into the agent's own error: how its shell ended
// and what the program printed on stderr.
func (a *agent) fail(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		werr := a.sh.Wait()
		var xe *ssh.ExitError
		if errors.As(werr, &xe) {
			return fmt.Errorf("%s: the remote shell exited with status %d: %s", what, xe.ExitStatus(), a.stderr())
		}
		if werr != nil {
			return fmt.Errorf("%s: %w", what, werr)
		}
		return fmt.Errorf("%s: the remote shell ended: %s", what, a.stderr())
	}
	return fmt.Errorf("%s: %w", what, err)
}

// stderr is what the current program wrote to stderr, trimmed.
func (a *agent) stderr() string {
	return string(bytes.TrimSpace([]byte(a.sh.StderrSince(a.mark))))
}

// readListing reads the header and the find records. findOK is false when
// find failed (a find without -printf, e.g. busybox). Every name is
// checked (see parseRecord) and the count is bounded by maxEntries.
func (a *agent) readListing(what string, maxEntries int) (caps hostCaps, raw []entry, exists, findOK bool, err error) {
	b, err := a.field()
	if err != nil {
		return caps, nil, false, false, a.fail(what, err)
	}
	if caps, err = parseHeader(b); err != nil {
		return caps, nil, false, false, fmt.Errorf("%s: %w", what, err)
	}
	a.caps = caps
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
			a.replied()
			switch string(st) {
			case "-":
				return caps, nil, false, true, nil
			case "0":
				return caps, raw, true, true, nil
			case "N":
				return caps, nil, false, false, fmt.Errorf("%s: %s exists and is not a directory: remove it or choose another destination", what, remote.Printable(a.dst))
			}
			return caps, nil, true, false, nil
		}
		if len(raw) >= maxEntries {
			return caps, nil, false, false, fmt.Errorf("%s: more than %d entries (rsync.Options.MaxEntries)", what, maxEntries)
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

// send hands the shell a program, run in a subshell with D set to dst.
func (a *agent) send(program string) error {
	a.mark = a.sh.StderrMark()
	a.busy = true
	return a.sh.Send("( D=" + remote.Quote(a.dst) + "; " + program + " )")
}

// sendLast hands the shell its last program, run in the shell itself (not
// in a subshell): an exit in it ends the shell, and nothing the shell
// reads after it is ever taken for a program.
func (a *agent) sendLast(program string) error {
	a.mark = a.sh.StderrMark()
	a.busy = true
	return a.sh.Send("D=" + remote.Quote(a.dst) + "; " + program)
}

// maxProgramStderr bounds what a failed program's reply carries of its
// stderr.
const maxProgramStderr = 4 << 10

// captured wraps a program so that its reply is an end record ("X",
// status) followed, when the status is not 0, by a record of the start of
// what it wrote on stderr: the shell's stderr travels apart from its
// stdout, and may not have arrived when the status has. $d is the shell's
// own temporary directory.
func captured(program string) string {
	return `{ ` + program + `; } 2>"$d/e"; s=$?; printf 'X\0%s\0' "$s"; ` +
		`if [ "$s" != 0 ]; then head -c ` + strconv.Itoa(maxProgramStderr) + ` "$d/e" | tr -d '\000'; printf '\0'; fi; rm -f -- "$d/e"`
}

// result reads the reply of a program wrapped by captured. failed is the
// program's own error (read whole, the shell is back in its loop): nil for
// status 0; for statusRefused, one that wraps ErrChanged; else one with
// the status and what the program wrote on stderr. err is a reply that
// could not be read.
func (a *agent) result(what string) (failed, err error) {
	x, err := a.field()
	if err == nil && string(x) != "X" {
		err = fmt.Errorf("%w: unexpected output from the remote shell: %s", remote.ErrShellBroken, remote.Printable(fmt.Sprintf("%.80q", x)))
	}
	var st []byte
	if err == nil {
		st, err = a.field()
	}
	if err != nil || string(st) == "0" {
		return nil, err
	}
	status := string(st)
	msg, err := a.field()
	if err != nil {
		return nil, err
	}
	return programError(what, status, string(msg)), nil
}

// programError is the error of a program that ended with status st and
// wrote stderr.
func programError(what, st, stderr string) error {
	stderr = summarize(stderr)
	if st == strconv.Itoa(statusRefused) {
		return fmt.Errorf("%s: %s: %w", what, stderr, ErrChanged)
	}
	return fmt.Errorf("%s: exit status %s: %s", what, remote.Printable(st), stderr)
}

// summarize makes what a program wrote on stderr fit an error's one line:
// its first two lines, escaped, and how many more there were.
func summarize(stderr string) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, remote.Printable(l))
		}
	}
	if len(lines) <= 2 {
		return strings.Join(lines, "; ")
	}
	return fmt.Sprintf("%s; %s (and %d more lines)", lines[0], lines[1], len(lines)-2)
}

// replied marks the current program's reply as read whole.
func (a *agent) replied() { a.busy = false }

// release gives the shell back to the pool, or kills it when a program's
// reply was not read whole (the shell is not in its loop).
func (a *agent) release() {
	if a.done {
		return
	}
	a.done = true
	a.stop()
	if a.busy {
		a.sh.Kill()
		return
	}
	a.sh.Release()
}

// abort kills the shell at once.
func (a *agent) abort() {
	a.done = true
	a.stop()
	a.sh.Kill()
}

func parseHeader(b []byte) (hostCaps, error) {
	f := bytes.Fields(b)
	if len(f) != 4 || string(f[0]) != "porter-list1" {
		return hostCaps{}, fmt.Errorf("%w: unexpected output from the remote shell: %s", remote.ErrShellBroken, remote.Printable(fmt.Sprintf("%.80q", b)))
	}
	return hostCaps{tar: string(f[1]) == "tar", gzip: string(f[2]) == "gzip", sha256sum: string(f[3]) == "sha"}, nil
}
