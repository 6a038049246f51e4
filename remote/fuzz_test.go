package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz targets of the package: `go test` runs their seeds and the
// corpus in testdata/fuzz; docs/fuzzing.md says how to fuzz them.

// quoteShells are the shells a quoted value must reach intact: /bin/sh,
// and the shells that are /bin/sh on other hosts when installed (bash on
// RHEL, BusyBox ash on Alpine).
func quoteShells() [][]string {
	shells := [][]string{{"/bin/sh"}}
	if p, err := exec.LookPath("bash"); err == nil {
		shells = append(shells, []string{p, "--posix"})
	}
	if p, err := exec.LookPath("busybox"); err == nil {
		shells = append(shells, []string{p, "sh"})
	}
	return shells
}

// FuzzQuote: Quote(v) reaches a real shell as exactly one word holding
// exactly v's bytes, and runs nothing. A value holding a NUL cannot pass
// through argv or a shell: CanQuote refuses it with ErrNUL.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{
		"", "plain", "a b", "it's", "'", "''", `\`, `"`, `\'`, "-rf", "--", "~", "~root", "*", "[a]",
		"$(touch pwned)", "`touch pwned`", "$HOME", "${HOME:-x}", "a;touch pwned", "a\ntouch pwned",
		"line\n", "\t", "#c", "!", "{a,b}", "a>pwned", "\x01\x7f\xff", "é", " lead", "a\x00b", "%", "=",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	shells := quoteShells()
	f.Fuzz(func(t *testing.T, v string) {
		if strings.IndexByte(v, 0) >= 0 {
			require.ErrorIs(t, CanQuote(v), ErrNUL)
			return
		}
		require.NoError(t, CanQuote(v))
		q := Quote(v)
		if isSafe(v) && v != "" {
			assert.Equal(t, v, q, "a safe word is left as it is")
		}
		for _, sh := range shells {
			cmd := exec.Command(sh[0], append(sh[1:], "-c", `set -- `+q+`; printf '%d:' "$#"; printf %s "$1"`)...)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
			out, err := cmd.Output()
			require.NoError(t, err, "%s: value %q quoted as %s", sh[0], v, q)
			require.Equal(t, "1:"+v, string(out), "%s: value %q quoted as %s", sh[0], v, q)
		}
		left, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Empty(t, left, "value %q quoted as %s ran a command", v, q)
	})
}

// FuzzCheckAddress: an address CheckAddress accepts splits into a user, a
// host and a port that neither start with "-" nor hold a space, a comma
// or a control character, and that written back as user@host:port split
// the same again.
func FuzzCheckAddress(f *testing.F) {
	for _, s := range []string{
		"web1", "deploy@web1", "deploy@web3:2222", "[::1]:2222", "u@[::1]", "me@corp@host", "fe80::1",
		"-oProxyCommand=x", "u@-host", "u@[-h]:22", "u@host:0", "@host", "u@", "a b", "a,b", "a\nb",
		"[a]b]", "[[a]]:22", "u@h:22:33", "[]", "u@[a:b]", "h:+22", "h:022",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if CheckAddress(addr) != nil {
			return
		}
		usr, host, port, err := splitAddress(addr)
		require.NoError(t, err, "accepted %q", addr)
		checkAddressParts(t, addr, usr, host, port)
		again := joinAddress(usr, host, port)
		require.NoError(t, CheckAddress(again), "%q written back as %q", addr, again)
		u2, h2, p2, err := splitAddress(again)
		require.NoError(t, err)
		require.Equal(t, []any{usr, host, port}, []any{u2, h2, p2}, "%q written back as %q", addr, again)
	})
}

// checkAddressParts is the property of an accepted address's parts.
func checkAddressParts(t *testing.T, addr, usr, host string, port int) {
	t.Helper()
	require.NotEmpty(t, host, "accepted %q", addr)
	for _, part := range []string{addr, usr, host} {
		require.False(t, strings.HasPrefix(part, "-"), "accepted %q: %q starts with -", addr, part)
		require.True(t, utf8.ValidString(part), "accepted %q: %q is not UTF-8", addr, part)
		require.Equal(t, -1, strings.IndexFunc(part, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || r == ','
		}), "accepted %q: %q holds a space, comma or control character", addr, part)
	}
	require.True(t, port == 0 || 1 <= port && port <= 65535, "accepted %q: port %d", addr, port)
}

// joinAddress writes an address's parts back as [user@]host[:port], the
// host in brackets when it holds a colon.
func joinAddress(usr, host string, port int) string {
	s := host
	if strings.Contains(host, ":") {
		s = "[" + host + "]"
	}
	if port != 0 {
		s += ":" + strconv.Itoa(port)
	}
	if usr != "" {
		s = usr + "@" + s
	}
	return s
}

// fuzzShell is a shell whose stdout is data, read through a buffer of
// size bytes, for the reply readers; its Host has only a name and a bound.
func fuzzShell(data []byte, size int, maxOutput int64) *Shell {
	return &Shell{h: &Host{name: "fuzz", maxOutput: maxOutput}, out: bufio.NewReaderSize(bytes.NewReader(data), size), dir: "/tmp/porter.x"}
}

// FuzzShellReply: whatever the host's shell prints, the readers of its
// replies (the greeting, Run's reply, NUL-terminated records) never panic,
// read no more than their bounds allow, and either return what a
// well-formed reply says or an error wrapping ErrShellBroken (io.EOF when
// the output just ends, a bound's own error for output beyond
// WithMaxOutput). Records read back are the input's bytes, NULs aside.
func FuzzShellReply(f *testing.F) {
	f.Add([]byte("porter-shell 2 /tmp/x\n0 2 0 \nhi"), []byte("a\x00bb\x00"), uint8(4))
	f.Add([]byte("motd\nporter-shell 2 /tmp/x\n137 0 3 KILL\nerr"), []byte("\x00\x00"), uint8(0))
	f.Add([]byte("porter-shell 2 /tmp/x\nlost\n"), []byte("0123456789abcdefghijklmnopqrstuvwxyz\x00"), uint8(40))
	f.Add([]byte("porter-shell 2 relative\n"), []byte("0123456789abcdefghijklmnopqrstuvwxyz\x00"), uint8(20))
	f.Add([]byte("porter-shell 2 /tmp/x\n0 99999 0 \n"), []byte("x"), uint8(1))
	f.Add([]byte("porter-shell 2 /tmp/x\n-1 0 0\n"), []byte{}, uint8(1))
	f.Add([]byte("porter-shell 2 /tmp/x\n256 0 0\n"), []byte{}, uint8(1))
	f.Add([]byte("porter-shell 2 /tmp/x\n0 3 0\nab"), []byte{}, uint8(1))
	f.Add([]byte("porter-shell 2 /tmp/it's\n"), []byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, reply, records []byte, max uint8) {
		const maxOutput = 1 << 10
		sh := fuzzShell(reply, maxLine, maxOutput)
		dir, err := readGreeting(sh.out)
		if err != nil {
			var ng *noGreetingError
			require.True(t, errors.Is(err, ErrShellBroken) || errors.As(err, &ng), "%v", err)
			return
		}
		require.True(t, strings.HasPrefix(dir, "/"), "dir %q", dir)
		require.False(t, strings.ContainsAny(dir, "\x00\r\n'"), "dir %q", dir)
		r, err := sh.readReply()
		if err != nil {
			var ce *capError
			require.True(t, errors.Is(err, ErrShellBroken) || errors.As(err, &ce), "%v", err)
		} else {
			require.True(t, 0 <= r.status && r.status <= 255, "status %d", r.status)
			require.LessOrEqual(t, len(r.out.Stdout), maxOutput)
			require.LessOrEqual(t, len(r.out.Stderr), maxOutput)
			require.True(t, r.signal == "" || r.status > 128 && isSignalName(r.signal), "signal %q, status %d", r.signal, r.status)
		}
		checkRecords(t, records, int(max))
	})
}

// checkRecords reads records of at most max bytes from data, through the
// smallest buffer bufio allows (so that long records span reads): each is
// at most max bytes, and with their NULs they are data's bytes up to where
// reading stopped.
func checkRecords(t *testing.T, data []byte, max int) {
	t.Helper()
	sh := fuzzShell(data, 16, 0)
	got := []byte{}
	for {
		rec, err := sh.ReadRecord(max)
		if err != nil {
			require.True(t, errors.Is(err, io.EOF) || errors.Is(err, ErrShellBroken), "%v", err)
			if errors.Is(err, io.EOF) {
				end := bytes.LastIndexByte(data, 0) + 1
				require.Equal(t, data[:end], got, "records read back")
			} else {
				require.True(t, bytes.HasPrefix(data, got), "records read back")
				if next := bytes.IndexByte(data[len(got):], 0); next >= 0 {
					require.Greater(t, next, max, "refused a record that fits")
				}
			}
			return
		}
		require.LessOrEqual(t, len(rec), max)
		require.Equal(t, -1, bytes.IndexByte(rec, 0))
		got = append(append(got, rec...), 0)
	}
}

// FuzzShellReplyRoundTrip: a reply as runProgram prints it is read back
// as the status, signal, stdout and stderr it carries, byte for byte; an
// output beyond WithMaxOutput is an error that says so.
func FuzzShellReplyRoundTrip(f *testing.F) {
	f.Add(uint8(0), []byte("out\n"), []byte(""), "")
	f.Add(uint8(143), []byte(""), []byte("killed\x00\n"), "TERM")
	f.Add(uint8(1), []byte("\n\n0 0 0\n"), []byte("porter-shell 2 /x\n"), "")
	f.Add(uint8(200), []byte("x"), []byte("y"), "HUP")
	f.Add(uint8(3), make([]byte, 300), []byte(""), "")
	f.Fuzz(func(t *testing.T, status uint8, stdout, stderr []byte, signal string) {
		if signal != "" && !slices.Equal(strings.Fields(signal), []string{signal}) {
			return // kill -l prints one word
		}
		const maxOutput = 256
		var b bytes.Buffer
		fmt.Fprintf(&b, "porter-shell 2 /tmp/x\n%d %d %d %s\n", status, len(stdout), len(stderr), signal)
		b.Write(stdout)
		b.Write(stderr)
		sh := fuzzShell(b.Bytes(), maxLine, maxOutput)
		_, err := readGreeting(sh.out)
		require.NoError(t, err)
		r, err := sh.readReply()
		if len(stdout) > maxOutput || len(stderr) > maxOutput {
			var ce *capError
			require.ErrorAs(t, err, &ce)
			return
		}
		require.NoError(t, err)
		assert.Equal(t, int(status), r.status)
		assert.Equal(t, stdout, r.out.Stdout)
		assert.Equal(t, stderr, r.out.Stderr)
		want := ""
		if status > 128 && status <= 128+31 && isSignalName(signal) {
			want = signal
		}
		assert.Equal(t, want, r.signal)
	})
}
