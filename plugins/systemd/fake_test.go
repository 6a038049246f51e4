package systemd_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/testenv"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// Why a fake systemd: this machine has /usr/bin/systemctl, but systemd is
// not PID 1 here (there is no /run/systemd/system), so no systemctl call
// can reach a manager, and starting one (a container, or a systemd --user
// session with its D-Bus) is not possible where the tests run. The
// portertest server runs the plugin's commands as local processes, so each
// test puts first on the PATH of its servers' commands (that PATH alone,
// portertest.WithEnv: the tests run in parallel) a fake systemctl,
// journalctl and sudo: this test binary itself, which TestMain
// turns into one of them when the wrapper script sets fakeEnv. The fake
// records every argv it gets (so a test sees the exact words each program
// was given, after the shell unquoted them) and answers from a script:
//
//   - systemctl [--user] restart|reload|start|reload-or-restart -- UNIT...
//     succeeds, or fails as systemctl does for a unit the script does not
//     know (status 5, "Unit X not found.") or one whose job fails
//     (status 1, the script's Fail text on stderr);
//   - systemctl [--user] show -p PROPS -- UNIT... prints, for each unit, the
//     next of its scripted states (the last one repeats), as KEY=VALUE
//     lines of the properties asked for, blocks separated by a blank line,
//     as systemctl show does;
//   - journalctl [--user] -u UNIT -n N --no-pager prints the last N lines
//     of the unit's scripted journal;
//   - sudo -n CMD... runs CMD (without -n it fails, as sudo asking for a
//     password would).
const (
	fakeEnv = "PORTER_TEST_SYSTEMD_FAKE" // the fake's directory
	progEnv = "PORTER_TEST_SYSTEMD_PROG" // which program it is
)

func TestMain(m *testing.M) {
	if dir, ok := os.LookupEnv(fakeEnv); ok {
		os.Exit(runFake(dir, os.Getenv(progEnv), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// unit is how the fake's systemd behaves for one unit.
type unit struct {
	// States are the answers of successive shows, each
	// "ActiveState/SubState" or "ActiveState/SubState/Result" (Result
	// success when not given); the last repeats. None: active/running.
	States  []string `json:"states,omitempty"`
	Load    string   `json:"load,omitempty"`    // LoadState (default loaded)
	Journal string   `json:"journal,omitempty"` // its journal, lines
	Fail    string   `json:"fail,omitempty"`    // an action's job fails, with this on stderr
}

// fake is the fake systemd of one test.
type fake struct {
	dir  string
	opts []portertest.ServerOption // put the fakes first on the PATH of a server's commands
}

// newFake makes the fake systemctl, journalctl and sudo of one test, with
// the units of script: the servers of [fake.server] run them.
func newFake(t *testing.T, script map[string]unit) *fake {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	f := &fake{dir: t.TempDir()}
	b, err := json.Marshal(script)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "script.json"), b, 0o644))
	bin := filepath.Join(f.dir, "bin")
	require.NoError(t, os.Mkdir(bin, 0o755))
	for _, prog := range []string{"systemctl", "journalctl", "sudo"} {
		// atexit_sleep_ms=0: a binary built with -race otherwise sleeps a
		// second as it exits, for every call of the fake.
		sh := "#!/bin/sh\nGORACE=\"atexit_sleep_ms=0${GORACE:+ $GORACE}\" " + fakeEnv + "=" + remote.Quote(f.dir) + " " + progEnv + "=" + prog +
			" exec " + remote.Quote(exe) + " \"$@\"\n"
		testenv.WriteExecutable(t, filepath.Join(bin, prog), sh)
	}
	f.opts = []portertest.ServerOption{portertest.WithEnv("PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"))}
	requireServerRuns(t, bin, f.opts...)
	return f
}

// server starts a portertest server whose commands run the fakes, closed
// when the test ends.
func (f *fake) server(t *testing.T) *portertest.Server {
	t.Helper()
	return portertest.NewServer(t, f.opts...)
}

// requireServerRuns stops the test unless the commands of a portertest
// server started with opts run the fakes of bin, so that no test ever
// reaches a real systemctl or sudo. It asks a server of its own, so that
// the test's server records only the deploy's commands.
func requireServerRuns(t *testing.T, bin string, opts ...portertest.ServerOption) {
	t.Helper()
	out, err := portertest.NewServer(t, opts...).Dial(t).Run(context.Background(), "command -v systemctl; command -v journalctl; command -v sudo")
	require.NoError(t, err)
	want := strings.Join([]string{filepath.Join(bin, "systemctl"), filepath.Join(bin, "journalctl"), filepath.Join(bin, "sudo")}, "\n")
	require.Equal(t, want, strings.TrimSpace(string(out.Stdout)), "the portertest server's commands must run the fakes")
}

// calls returns the argv of every fake program run so far, in order, each
// starting with the program's name.
func (f *fake) calls(t *testing.T) [][]string {
	t.Helper()
	file, err := os.Open(filepath.Join(f.dir, "calls"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	defer file.Close()
	var out [][]string
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var argv []string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &argv))
		out = append(out, argv)
	}
	require.NoError(t, sc.Err())
	return out
}

// runFake is the fake program prog with args; dir holds its script, the
// record of calls and the count of shows per unit. It returns the exit
// status.
func runFake(dir, prog string, args []string, stdout, stderr io.Writer) int {
	if err := record(dir, append([]string{prog}, args...)); err != nil {
		fmt.Fprintln(stderr, "fake:", err)
		return 1
	}
	var script map[string]unit
	b, err := os.ReadFile(filepath.Join(dir, "script.json"))
	if err == nil {
		err = json.Unmarshal(b, &script)
	}
	if err != nil {
		fmt.Fprintln(stderr, "fake:", err)
		return 1
	}
	switch prog {
	case "sudo":
		return fakeSudo(args, stderr)
	case "journalctl":
		return fakeJournalctl(script, args, stdout, stderr)
	case "systemctl":
		return fakeSystemctl(dir, script, args, stdout, stderr)
	}
	fmt.Fprintln(stderr, "fake: no such program", prog)
	return 1
}

func record(dir string, argv []string) error {
	line, err := json.Marshal(argv)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, "calls"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fakeSudo(args []string, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "-n" {
		fmt.Fprintln(stderr, "sudo: a password is required")
		return 1
	}
	path, err := exec.LookPath(args[1])
	if err != nil {
		fmt.Fprintf(stderr, "sudo: %s: command not found\n", args[1])
		return 1
	}
	err = syscall.Exec(path, args[1:], os.Environ())
	fmt.Fprintln(stderr, "sudo:", err)
	return 1
}

func fakeJournalctl(script map[string]unit, args []string, stdout, stderr io.Writer) int {
	args = dropUser(args)
	if len(args) != 5 || args[0] != "-u" || args[2] != "-n" || args[4] != "--no-pager" {
		fmt.Fprintf(stderr, "fake journalctl: want -u UNIT -n N --no-pager, not %q\n", args)
		return 1
	}
	n, err := strconv.Atoi(args[3])
	if err != nil {
		fmt.Fprintln(stderr, "fake journalctl:", err)
		return 1
	}
	u, ok := script[args[1]]
	if !ok || u.Journal == "" {
		fmt.Fprintln(stdout, "-- No entries --")
		return 0
	}
	lines := strings.Split(strings.TrimSuffix(u.Journal, "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	fmt.Fprintln(stdout, strings.Join(lines, "\n"))
	return 0
}

func dropUser(args []string) []string {
	if len(args) > 0 && args[0] == "--user" {
		return args[1:]
	}
	return args
}

func fakeSystemctl(dir string, script map[string]unit, args []string, stdout, stderr io.Writer) int {
	args = dropUser(args)
	if len(args) < 3 {
		fmt.Fprintf(stderr, "fake systemctl: too few arguments: %q\n", args)
		return 1
	}
	verb, rest := args[0], args[1:]
	if verb == "show" {
		if len(rest) < 4 || rest[0] != "-p" || rest[2] != "--" {
			fmt.Fprintf(stderr, "fake systemctl: want show -p PROPS -- UNIT..., not %q\n", args)
			return 1
		}
		return fakeShow(dir, script, strings.Split(rest[1], ","), rest[3:], stdout, stderr)
	}
	switch verb {
	case "restart", "reload", "start", "reload-or-restart":
	default:
		fmt.Fprintf(stderr, "fake systemctl: unknown verb %q\n", verb)
		return 1
	}
	if rest[0] != "--" {
		fmt.Fprintf(stderr, "fake systemctl: want -- before the units, not %q\n", args)
		return 1
	}
	for _, name := range rest[1:] {
		u, ok := script[name]
		switch {
		case !ok:
			fmt.Fprintf(stderr, "Failed to %s %s: Unit %s not found.\n", verb, name, name)
			return 5
		case u.Fail != "":
			fmt.Fprintln(stderr, u.Fail)
			return 1
		}
	}
	return 0
}

func fakeShow(dir string, script map[string]unit, props, units []string, stdout, stderr io.Writer) int {
	countFile := filepath.Join(dir, "shows.json")
	counts := map[string]int{}
	if b, err := os.ReadFile(countFile); err == nil {
		if err := json.Unmarshal(b, &counts); err != nil {
			fmt.Fprintln(stderr, "fake:", err)
			return 1
		}
	}
	var blocks []string
	for _, name := range units {
		vals := map[string]string{"Id": name, "LoadState": "not-found", "ActiveState": "inactive", "SubState": "dead", "Result": "success"}
		if u, ok := script[name]; ok {
			state := "active/running"
			if len(u.States) > 0 {
				state = u.States[min(counts[name], len(u.States)-1)]
			}
			counts[name]++
			parts := strings.Split(state+"/success", "/")
			vals["LoadState"], vals["ActiveState"], vals["SubState"], vals["Result"] = "loaded", parts[0], parts[1], parts[2]
			if u.Load != "" {
				vals["LoadState"] = u.Load
			}
		}
		var lines []string
		for _, k := range []string{"Result", "Id", "SubState", "ActiveState", "LoadState"} { // not the order asked
			for _, p := range props {
				if p == k {
					lines = append(lines, k+"="+vals[k])
				}
			}
		}
		blocks = append(blocks, strings.Join(lines, "\n"))
	}
	b, err := json.Marshal(counts)
	if err == nil {
		err = os.WriteFile(countFile, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "fake:", err)
		return 1
	}
	fmt.Fprintln(stdout, strings.Join(blocks, "\n\n"))
	return 0
}
