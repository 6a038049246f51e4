package porter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
)

// hostile is text a host could hold in a record or a lock: it clears the
// screen, turns the text red, returns the carriage to overwrite what was
// written, and breaks the line to forge one of its own.
const hostile = "eve\x1b[2J\x1b[31m\rbob\u202e\nforged\tline"

// escaped is hostile as a person must see it in a table or a message:
// every control character visible (remote.Printable), on one line.
const escaped = `eve\x1b[2J\x1b[31m\x0dbob\u202e\nforged\tline`

// quoted is hostile as a log line shows a value: quoted, as Go quotes.
const quoted = `"eve\x1b[2J\x1b[31m\rbob\u202e\nforged\tline"`

// assertNoRawControls fails when out holds a byte a terminal acts on (ESC,
// CR) or the bidi override of hostile.
func assertNoRawControls(t *testing.T, out, what string) {
	t.Helper()
	assert.NotContains(t, out, "\x1b", "%s holds a raw ESC: %q", what, out)
	assert.NotContains(t, out, "\r", "%s holds a raw CR: %q", what, out)
	assert.NotContains(t, out, "\u202e", "%s holds a raw bidi override: %q", what, out)
	assert.NotContains(t, out, "\nforged", "%s lets the host start a line: %q", what, out)
}

func cliRunner(f *fixture, dir string) func(args ...string) (int, string, string) {
	return func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: dir,
			Addresses: map[string]string{"test": f.srv.Address()}, Dial: f.srv.DialOptions()}
		return cli.Run(context.Background()), out.String(), errb.String()
	}
}

func writeJSON(t *testing.T, f *fixture, rel string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	portertest.WriteFiles(t, f.remote, map[string]string{rel: string(b)})
}

func TestHostTextIsEscapedInStatusUnlockAndDeploy(t *testing.T) {
	f := newFixture(t, twoModules())
	_, err := f.deploy(t, porter.Options{Who: "alice@laptop"})
	require.NoError(t, err)
	run := cliRunner(f, f.local)

	// A record that says what a runs, but deployed by a hostile name: the
	// deploy skips a and logs who deployed it.
	// Without a space or a tab, which the log line always quoted.
	const noSpace = "eve\x1b[2J\x1b[31m\rbob\u202e\nforged"
	rec := readRecord(t, f.remote+"/a", "a")
	rec.DeployedBy = noSpace
	writeJSON(t, f, "a/.porter/a/state.json", rec)
	code, _, errOut := run("deploy", "--host", "test", "--config", "testing")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Contains(t, errOut, "a: unchanged")
	assert.Contains(t, errOut, `by="eve\x1b[2J\x1b[31m\rbob\u202e\nforged"`, "the log of the unchanged module names its deployer, quoted")
	assertNoRawControls(t, errOut, "deploy's log")
	rec.DeployedBy = hostile
	writeJSON(t, f, "a/.porter/a/state.json", rec)
	code, _, errOut = run("deploy", "--host", "test", "--config", "testing")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Contains(t, errOut, "by="+quoted)
	assertNoRawControls(t, errOut, "deploy's log")

	// Every field of the record, and the holder of b's lock.
	rec.Version, rec.Release, rec.Config = hostile, hostile, hostile
	writeJSON(t, f, "a/.porter/a/state.json", rec)
	writeJSON(t, f, "b/.porter/b/lock.json", ledger.LockInfo{By: hostile, PID: 7})
	code, out, errOut := run("status", "--host", "test")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Contains(t, out, escaped)
	assert.Contains(t, out, "locked by "+escaped+" for an unknown time (pid 7)")
	assertNoRawControls(t, out, "status")
	assert.Len(t, strings.Split(strings.TrimSuffix(out, "\n"), "\n"), 3, "a header and one line per module: %s", out)

	// A deploy that meets the lock: the error, as the library returns it
	// and as the CLI prints it.
	_, err = f.deploy(t, porter.Options{})
	var le *ledger.LockedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, hostile, le.Lock.By, "the struct keeps the raw value")
	assert.Contains(t, err.Error(), "b is locked by "+escaped+" (pid 7) since an unknown time")
	assertNoRawControls(t, err.Error(), "LockedError")
	code, _, errOut = run("deploy", "--host", "test", "--config", "testing")
	assert.Equal(t, porter.ExitLocked, code, "only the lock stopped it")
	assert.Contains(t, lastLine(errOut), "b is locked by "+escaped)
	assertNoRawControls(t, errOut, "deploy's error")

	code, out, errOut = run("unlock", "--host", "test", "b")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Equal(t, "unlocked b (held by "+escaped+" since an unknown time, pid 7)\n", out)
	assertNoRawControls(t, out, "unlock")
}

func TestRemoteStderrIsEscapedInDeployErrors(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\ntest = x@y\n",
		"a/a.ini": "[module]\npath = $REMOTE/a\n[plugin:github.com/porter-deploy/porter/plugins/command]\n" +
			`deploy-finish = printf 'boom\033[2J\033[31m\rforged\342\200\256\n' >&2 && exit 3` + "\n",
	})
	_, err := f.deploy(t, porter.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `boom\x1b[2J\x1b[31m\x0dforged\u202e`)
	assertNoRawControls(t, err.Error(), "the SignalError")

	code, _, errOut := cliRunner(f, f.local)("deploy", "--host", "test", "--config", "testing")
	assert.Equal(t, porter.ExitError, code)
	assert.Contains(t, lastLine(errOut), `boom\x1b[2J\x1b[31m\x0dforged\u202e`)
	assertNoRawControls(t, errOut, "the CLI's error")
}

func init() {
	// A handler that quotes what it read from the host in its error, raw.
	porter.RegisterDeployment("e2e-hostile-error", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(context.Context, *porter.Module, any) error {
			return fmt.Errorf("the host says: %s", hostile)
		})
		return nil
	})
}

func TestHandlerErrorQuotingTheHostIsEscaped(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = e2e-hostile-error\n[hosts]\ntest = x@y\n",
		"e2e-hostile-error/e2e-hostile-error.ini": "[module]\npath = $REMOTE/a\n",
	})
	_, err := f.deploy(t, porter.Options{})
	var se *porter.SignalError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "the host says: "+hostile, se.Err.Error(), "the handler's error is kept as it was")
	assert.Contains(t, err.Error(), "deploy e2e-hostile-error to test: source-post-send: module hook: the host says: eve\\x1b[2J\\x1b[31m\\x0dbob\\u202e")
	assert.NotContains(t, err.Error(), "\x1b")
	assert.NotContains(t, err.Error(), "\r")

	code, _, errOut := cliRunner(f, f.local)("deploy", "--host", "test", "--config", "testing")
	assert.Equal(t, porter.ExitError, code)
	assert.Contains(t, errOut, "the host says: eve\\x1b[2J\\x1b[31m\\x0dbob\\u202e")
	assert.NotContains(t, errOut, "\x1b")
	assert.NotContains(t, errOut, "\r")
}

// hugeFile makes a sparse file of size bytes (nothing is written but tail,
// at its end): a host's file far larger than porter would ever read whole.
func hugeFile(t *testing.T, name string, size int64, tail string) {
	t.Helper()
	portertest.WriteFiles(t, "", map[string]string{name: ""})
	require.NoError(t, os.Truncate(name, size-int64(len(tail))))
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = fh.WriteString(tail)
	require.NoError(t, err)
	require.NoError(t, fh.Close())
}

// allocated runs fn and returns how many bytes the process allocated
// meanwhile (the in-process SSH server included).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const huge = 256 << 20 // a 256 MiB file on the host

// bounded is more than a capped read of every state file of a deploy takes,
// and far less than reading one huge file.
const bounded = 64 << 20

func TestOversizedLockIsAClearErrorAndUnlockRemovesIt(t *testing.T) {
	f := newFixture(t, twoModules())
	lock := f.remote + "/b/.porter/b/lock.json"
	hugeFile(t, lock, huge, "}")
	run := cliRunner(f, f.local)

	var code int
	var out, errOut string
	n := allocated(func() { code, out, errOut = run("status", "--host", "test") })
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Less(t, n, uint64(bounded), "status read the whole lock file")
	assert.Regexp(t, `(?m)^b\s+locked by an unknown deploy`, out, "a deploy would stop at it: status says so")
	assert.Contains(t, errOut, "b: lock "+lock+" on "+f.srv.Address()+": too large: more than 1048576 bytes")

	n = allocated(func() { _, _, errOut = run("deploy", "--host", "test", "--config", "testing") })
	assert.Less(t, n, uint64(bounded), "deploy read the whole lock file")
	assert.Contains(t, lastLine(errOut), "deploy b to test: b: lock "+lock+" on "+f.srv.Address()+": too large")
	assert.Contains(t, lastLine(errOut), "if no deploy of b runs, run: porter.test unlock --host test b")
	assert.FileExists(t, lock, "a deploy never removes a lock it does not hold")

	code, out, errOut = run("unlock", "--host", "test", "b")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Equal(t, "unlocked b (held by an unknown deploy since an unknown time, pid 0)\n", out)
	assert.NoFileExists(t, lock)
}

func TestOversizedRecordIsCorruptAndTheDeployReplacesIt(t *testing.T) {
	f := newFixture(t, twoModules())
	hugeFile(t, f.remote+"/a/.porter/a/state.json", huge, "}")
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	var st *porter.StatusReport
	n := allocated(func() {
		st, err = porter.Status(context.Background(), p, porter.StatusOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Config: "testing"})
	})
	require.NoError(t, err)
	assert.Less(t, n, uint64(bounded), "status read the whole record")
	assert.Equal(t, porter.StateNeverDeployed, st.Hosts[0].Modules[0].State)
	assert.ErrorIs(t, st.Hosts[0].Modules[0].RecordErr, ledger.ErrTooLarge)
	assert.EqualError(t, st.Hosts[0].Modules[0].RecordErr, f.remote+"/a/.porter/a/state.json on "+f.srv.Address()+
		" is not a porter record (too large: more than 1048576 bytes, more than porter ever writes there): treating the module as never deployed; the next deploy replaces it")

	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, porter.Deployed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, "a", readRecord(t, f.remote+"/a", "a").Module, "the record is porter's again")
}

func TestOversizedHistoryIsReadFromItsEnd(t *testing.T) {
	f := newFixture(t, twoModules())
	var old strings.Builder
	for i := range 5 {
		fmt.Fprintf(&old, `{"module":"a","version":"v%d"}`+"\n", i)
	}
	hist := f.remote + "/a/.porter/a/history.jsonl"
	// A huge first line, then five records.
	hugeFile(t, hist, huge, "\n"+old.String())
	var err error
	n := allocated(func() { _, err = f.deploy(t, porter.Options{}) })
	require.NoError(t, err)
	assert.Less(t, n, uint64(bounded), "the deploy read the whole history")
	b, err := os.ReadFile(hist)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 6, "the five records of the end of the file, and the new one")
	assert.Equal(t, `{"module":"a","version":"v0"}`, lines[0])

	host := f.srv.Dial(t)
	recs, err := ledger.Place{Host: host, Module: "a", Path: f.remote + "/a"}.History(context.Background())
	require.NoError(t, err)
	require.Len(t, recs, 6)
	assert.Equal(t, "v4", recs[4].Version)
}
