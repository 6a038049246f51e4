package crontab_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/testenv"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// Why a stand-in crontab: the portertest server runs the plugin's commands
// (crontab -l, crontab - < FILE, crontab -r) as local processes of the user
// running the tests, so the real crontab would read and replace THAT user's
// crontab, and a run killed half-way would leave it replaced. The tests must
// change nothing outside their temporary directories, so they put a
// stand-in crontab first on the PATH of the server's commands (the server's
// alone, portertest.WithEnv: the tests run in parallel and change nothing of
// this process's environment): this test binary itself, which TestMain turns
// into crontab when the wrapper script sets standinEnv. It keeps the crontab in a file of the
// test's temporary directory and behaves like Debian's crontab (cron
// 3.0pl1) for what the plugin uses:
//
//   - crontab -l prints the crontab as it was installed, or fails (status 1)
//     with "no crontab for USER" on stderr;
//   - crontab - (or crontab FILE) checks every line as Debian's does and
//     installs the file, or leaves the installed one as it was and fails
//     (status 1) with `"-":N: bad minute` (the first bad field) and
//     "errors in crontab file, can't install.";
//   - crontab -r removes the crontab, or fails with "no crontab for USER".
//
// TestRealCrontabOfAThrowawayUser runs the same deploys against the real
// crontab, and checks that the stand-in accepts and refuses what it does,
// when the tests run as root and PORTER_TEST_CRONTAB_USER names a user whose
// crontab they may replace.
const standinEnv = "PORTER_TEST_CRONTAB_STANDIN"

func TestMain(m *testing.M) {
	if file, ok := os.LookupEnv(standinEnv); ok {
		name := os.Getenv("USER")
		if name == "" {
			if u, err := user.Current(); err == nil {
				name = u.Username
			}
		}
		os.Exit(runStandin(file, name, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(testenv.Run(m)) // the dir:// hash caches out of HOME
}

// standin is a stand-in crontab installed for one test.
type standin struct {
	file string                    // the installed crontab
	opts []portertest.ServerOption // put the stand-in first on the PATH of a server's commands
}

// fakeCrontab makes a stand-in crontab for one test: the servers of
// [standin.server] run it as crontab. The user has no crontab yet.
func fakeCrontab(t *testing.T) *standin {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	s := &standin{file: filepath.Join(dir, "crontab")}
	// A -race binary sleeps 1 s at exit unless GORACE says otherwise: every
	// crontab command would take a second.
	script := "#!/bin/sh\nGORACE=\"${GORACE:+$GORACE }atexit_sleep_ms=0\" " + standinEnv + "=" + remote.Quote(s.file) +
		" exec " + remote.Quote(exe) + " \"$@\"\n"
	require.NoError(t, os.Mkdir(bin, 0o755))
	testenv.WriteExecutable(t, filepath.Join(bin, "crontab"), script)
	s.opts = []portertest.ServerOption{portertest.WithEnv("PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"))}

	requireServerCrontab(t, filepath.Join(bin, "crontab"), s.opts...)
	return s
}

// server starts a portertest server whose commands run the stand-in as
// crontab, closed when the test ends.
func (s *standin) server(t *testing.T) *portertest.Server {
	t.Helper()
	return portertest.NewServer(t, s.opts...)
}

// requireServerCrontab stops the test unless the commands of a portertest
// server started with opts run want as crontab, so that no test ever runs
// the real crontab on the crontab of the user running the tests. It asks a
// server of its own, so that the test's server records only the deploy's
// commands.
func requireServerCrontab(t *testing.T, want string, opts ...portertest.ServerOption) {
	t.Helper()
	out, err := portertest.NewServer(t, opts...).Dial(t).Run(context.Background(), "command -v crontab")
	require.NoError(t, err)
	require.Equal(t, want, strings.TrimSpace(string(out.Stdout)),
		"the portertest server's commands must run this crontab, not the real one on the user's crontab")
}

// get returns the installed crontab, and false when there is none.
func (s *standin) get(t *testing.T) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(s.file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	require.NoError(t, err)
	return string(b), true
}

// set installs content as the user's crontab, as if crontab - had.
func (s *standin) set(t *testing.T, content string) {
	t.Helper()
	require.NoError(t, checkCrontab([]byte(content)), "a test installs a valid crontab")
	require.NoError(t, os.WriteFile(s.file, []byte(content), 0o600))
}

// runStandin is the stand-in crontab of the user name: args are its
// arguments, file the installed crontab. It returns the exit status.
func runStandin(file, name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 || (strings.HasPrefix(args[0], "-") && args[0] != "-" && args[0] != "-l" && args[0] != "-r") {
		fmt.Fprintf(stderr, "crontab: usage error: the stand-in knows crontab -l, crontab -r, crontab - and crontab FILE, not %q\n", args)
		return 1
	}
	switch args[0] {
	case "-l":
		b, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "no crontab for %s\n", name)
			return 1
		} else if err != nil {
			fmt.Fprintln(stderr, "crontab:", err)
			return 1
		}
		stdout.Write(b)
		return 0
	case "-r":
		err := os.Remove(file)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "no crontab for %s\n", name)
			return 1
		} else if err != nil {
			fmt.Fprintln(stderr, "crontab:", err)
			return 1
		}
		return 0
	}
	var b []byte
	var err error
	if args[0] == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(args[0])
	}
	if err != nil {
		fmt.Fprintln(stderr, "crontab:", err)
		return 1
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		fmt.Fprintln(stderr, "new crontab file is missing newline before EOF, can't install.")
		return 1
	}
	if err := checkCrontab(b); err != nil {
		fmt.Fprintf(stderr, "%v\nerrors in crontab file, can't install.\n", err)
		return 1
	}
	tmp := file + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		fmt.Fprintln(stderr, "crontab:", err)
		return 1
	}
	if err := os.Rename(tmp, file); err != nil {
		fmt.Fprintln(stderr, "crontab:", err)
		return 1
	}
	return 0
}

// The time fields of a crontab line, in order, with their ranges and the
// names they accept (Debian's crontab(5)).
var fields = []struct {
	name   string
	lo, hi int
	names  []string // names[i] stands for lo+i
}{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day-of-month", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"day-of-week", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// specials are the @words Debian's crontab takes instead of the five time
// fields (lower case only).
var specials = map[string]bool{
	"reboot": true, "yearly": true, "annually": true, "monthly": true,
	"weekly": true, "daily": true, "midnight": true, "hourly": true,
}

// checkCrontab checks a crontab as Debian's crontab does before installing
// it: every line is blank, a comment, an environment setting (NAME = VALUE)
// or a job: an @word or five valid time fields, then the command, which may
// not start with "*" (a sixth time field). The error names the first bad
// field, as crontab does: `"-":N: bad minute`.
func checkCrontab(b []byte) error {
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if err := checkLine(line); err != "" {
			return fmt.Errorf("\"-\":%d: bad %s", i, err)
		}
	}
	return nil
}

// checkLine returns what is bad in one line ("minute", "command", "time
// specifier"...), or "".
func checkLine(line string) string {
	line = strings.TrimLeft(line, " \t")
	if line == "" || line[0] == '#' || isEnvSetting(line) {
		return ""
	}
	isSpace := func(r rune) bool { return r == ' ' || r == '\t' }
	if word, ok := strings.CutPrefix(line, "@"); ok {
		cmd := ""
		if end := strings.IndexAny(word, " \t"); end >= 0 {
			word, cmd = word[:end], word[end:]
		}
		if !specials[strings.TrimRight(word, "\r")] {
			return "time specifier"
		}
		if strings.HasPrefix(strings.TrimLeftFunc(cmd, isSpace), "*") {
			return "command"
		}
		return ""
	}
	rest := line
	for _, f := range fields {
		rest = strings.TrimLeftFunc(rest, isSpace)
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		if !validField(strings.TrimRight(rest[:end], "\r"), f.lo, f.hi, f.names) {
			return f.name
		}
		rest = rest[end:]
	}
	if strings.HasPrefix(strings.TrimLeftFunc(rest, isSpace), "*") {
		return "command"
	}
	return ""
}

// isEnvSetting reports whether line sets a variable: a name without blanks,
// blanks, "=", blanks, and a value ("" quoted is one; nothing is not).
func isEnvSetting(line string) bool {
	name := strings.IndexAny(line, " \t=")
	if name < 0 {
		return false
	}
	rest := strings.TrimLeft(line[name:], " \t")
	value, ok := strings.CutPrefix(rest, "=")
	return ok && strings.TrimSpace(value) != ""
}

// validField reports whether s is a valid time field: a comma-separated
// list of *, N or N-M, each optionally followed by /STEP (STEP > 0), where N
// and M are numbers of [lo, hi] or names.
func validField(s string, lo, hi int, names []string) bool {
	if s == "" {
		return false
	}
	value := func(v string) bool {
		for _, n := range names {
			if strings.EqualFold(v, n) {
				return true
			}
		}
		n, err := strconv.Atoi(v)
		return err == nil && v[0] != '+' && v[0] != '-' && lo <= n && n <= hi
	}
	for _, item := range strings.Split(s, ",") {
		base, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n <= 0 || step[0] == '+' {
				return false
			}
		}
		if base == "*" {
			continue
		}
		if hasStep && !strings.Contains(base, "-") {
			return false // N/STEP is not a range
		}
		from, to, isRange := strings.Cut(base, "-")
		if !value(from) || (isRange && !value(to)) {
			return false
		}
	}
	return true
}

// standinCases are crontabs with what Debian's crontab does with them: ""
// when it installs them, else the start of what it prints. The cases of
// TestRealCrontabOfAThrowawayUser check these answers against it.
var standinCases = []struct{ crontab, refused string }{
	{"", ""},
	{"\n\n", ""},
	{"# porter test\n*/5 * * * * /bin/true\n", ""},
	{"0 3 * * * /bin/echo before\n", ""},
	{"  # indented comment\n\t0 0 * * * x\n", ""},
	{"MAILTO=ops@example.com\nA = b\nA=\"\"\n", ""},
	{"@reboot /bin/true\n@daily x\n@hourly x\n", ""},
	{"0-59/15 0-23 1-31 1-12 0-7 x\n", ""},
	{"1-5,10-20/5 * * jan-dec sun-sat x\n", ""},
	{"* * * Feb,Mar Mon-Fri x\n", ""},
	{"* * * * */2 x %\n", ""},
	{"* * * * *\n", ""}, // no command: Debian installs it
	{"this is not a crontab line\n", `"-":0: bad minute`},
	{"*/5 * * * * /bin/true\nthis is not a crontab line\n", `"-":1: bad minute`},
	{"60 * * * * x\n", `"-":0: bad minute`},
	{"* 24 * * * x\n", `"-":0: bad hour`},
	{"* * 0 * * x\n", `"-":0: bad day-of-month`},
	{"* * * 13 * x\n", `"-":0: bad month`},
	{"* * * * 8 x\n", `"-":0: bad day-of-week`},
	{"* * * * sunday x\n", `"-":0: bad day-of-week`},
	{"jan * * * * x\n", `"-":0: bad minute`},
	{"1, * * * * x\n", `"-":0: bad minute`},
	{"*/0 * * * * x\n", `"-":0: bad minute`},
	{"1/2 * * * * x\n", `"-":0: bad minute`},
	{"* * * * * * x\n", `"-":0: bad command`},
	{"@bogus x\n", `"-":0: bad time specifier`},
	{"@REBOOT x\n", `"-":0: bad time specifier`},
	{"A B=c\n", `"-":0: bad minute`},
	{"A=\n", `"-":0: bad minute`},
	{"* * * * * x", "new crontab file is missing newline before EOF, can't install."},
}

func TestStandinCrontab(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "crontab")
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := runStandin(file, "alice", args, strings.NewReader(stdin), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	expect := func(code int, stdout, stderr string, got ...any) {
		t.Helper()
		require.Equal(t, []any{code, stdout, stderr}, got)
	}
	c, o, e := run("", "-l")
	expect(1, "", "no crontab for alice\n", c, o, e)
	c, o, e = run("", "-r")
	expect(1, "", "no crontab for alice\n", c, o, e)
	c, o, e = run("0 3 * * * /bin/echo before\n", "-")
	expect(0, "", "", c, o, e)
	c, o, e = run("", "-l")
	expect(0, "0 3 * * * /bin/echo before\n", "", c, o, e)
	c, o, e = run("this is not a crontab line\n", "-")
	expect(1, "", "\"-\":0: bad minute\nerrors in crontab file, can't install.\n", c, o, e)
	c, o, e = run("", "-l")
	expect(0, "0 3 * * * /bin/echo before\n", "", c, o, e)
	c, o, e = run("", "-r")
	expect(0, "", "", c, o, e)
	c, o, e = run("", "-l")
	expect(1, "", "no crontab for alice\n", c, o, e)
	c, _, e = run("", "-e")
	require.Equal(t, 1, c)
	require.Contains(t, e, "usage error")

	for _, tc := range standinCases {
		c, _, e := run(tc.crontab, "-")
		if tc.refused == "" {
			require.Equal(t, 0, c, "%q: %s", tc.crontab, e)
		} else {
			require.Equal(t, 1, c, "%q is refused", tc.crontab)
			require.True(t, strings.HasPrefix(e, tc.refused), "%q: %q", tc.crontab, e)
		}
	}
}
