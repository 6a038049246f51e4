package porter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/porter-deploy/porter/portertest"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/ledger"
)

// gates lets a test hold a deploy inside a signal: the e2e-gate module's
// hook blocks at SigSourcePreSend while its "gate" flag names an open gate.
var gates sync.Map // name -> *gate

type gate struct {
	reached chan struct{} // closed when the deploy is inside the signal
	release chan struct{} // closed by the test to let it go on
	cancel  context.CancelFunc
}

func init() {
	porter.RegisterDeployment("e2e-gate", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePreSend, func(ctx context.Context, m *porter.Module, _ any) error {
			v, ok := gates.Load(m.Flag("gate"))
			if !ok {
				return nil
			}
			g := v.(*gate)
			close(g.reached)
			if g.cancel != nil {
				g.cancel() // Ctrl-C arrives while the deploy is under way
				return nil
			}
			<-g.release
			return nil
		})
		return nil
	})
}

func newGate(t *testing.T) (string, *gate) {
	g := &gate{reached: make(chan struct{}), release: make(chan struct{})}
	gates.Store(t.Name(), g)
	t.Cleanup(func() { gates.Delete(t.Name()) })
	return t.Name(), g
}

func outcomes(rep *porter.Report) map[string]porter.Outcome {
	out := map[string]porter.Outcome{}
	for _, m := range rep.Hosts[0].Modules {
		out[m.Module] = m.Outcome
	}
	return out
}

func twoModules() map[string]string {
	return map[string]string{
		"project.ini":                   "[project]\ndepends = a, b\n[hosts]\ntest = x@y\n",
		"a/a.ini":                       "[module]\npath = $REMOTE/a\n[scm]\nurl = dir://src\n",
		"a/src/f":                       "a1",
		"a/config/testing/settings.ini": "debug = true\n",
		"b/b.ini":                       "[module]\npath = $REMOTE/b\n[scm]\nurl = dir://src\n",
		"b/src/f":                       "b1",
	}
}

func readRecord(t *testing.T, path, module string) ledger.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(path, ".porter", module, "state.json"))
	require.NoError(t, err)
	var rec ledger.Record
	require.NoError(t, json.Unmarshal(b, &rec))
	return rec
}

func TestSecondDeploySkipsEverythingAndRecordIsOnTheHost(t *testing.T) {
	f := newFixture(t, twoModules())
	rep, err := f.deploy(t, porter.Options{Who: "alice@laptop"})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"a": porter.Deployed, "b": porter.Deployed}, outcomes(rep))

	rec := readRecord(t, f.remote+"/a", "a")
	assert.Equal(t, "a", rec.Module)
	assert.Equal(t, hashDir(t, f.local+"/a/src"), rec.Version)
	assert.Equal(t, rec.Version, rep.Hosts[0].Modules[0].Version, "the report says what the record says")
	assert.Equal(t, "stable", rec.Release)
	assert.Equal(t, "testing", rec.Config)
	assert.Equal(t, "alice@laptop", rec.DeployedBy)
	assert.Equal(t, "test", rec.Host)
	assert.NotEmpty(t, rec.SettingsHash)
	assert.WithinDuration(t, time.Now(), rec.DeployedAt, time.Minute)
	assert.NoFileExists(t, f.remote+"/a/.porter/a/lock.json", "the lock is released")

	rep, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"a": porter.Unchanged, "b": porter.Unchanged}, outcomes(rep))
	hist, err := os.ReadFile(f.remote + "/a/.porter/a/history.jsonl")
	require.NoError(t, err)
	assert.Equal(t, 1, bytes.Count(hist, []byte("\n")), "an unchanged module is not deployed again")
}

func TestChangedConfigFileRedeploysOnlyThatModule(t *testing.T) {
	f := newFixture(t, twoModules())
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	portertest.WriteFiles(t, f.local, map[string]string{"a/config/testing/settings.ini": "debug = false\n"})
	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"a": porter.Deployed, "b": porter.Unchanged}, outcomes(rep))

	portertest.WriteFiles(t, f.local, map[string]string{"b/src/f": "b2"})
	rep, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"a": porter.Unchanged, "b": porter.Deployed}, outcomes(rep))
	assert.Equal(t, map[string]string{"f": "b2"}, readTree(t, f.remote+"/b"))
}

func TestForceVariants(t *testing.T) {
	f := newFixture(t, twoModules())
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	rep, err := f.deploy(t, porter.Options{Force: porter.ForceAll()})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"a": porter.Deployed, "b": porter.Deployed}, outcomes(rep))
	rep, err = f.deploy(t, porter.Options{Force: porter.ForceModules("b")})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"a": porter.Unchanged, "b": porter.Deployed}, outcomes(rep))
	_, err = f.deploy(t, porter.Options{Force: porter.ForceModules("b", "ghost")})
	assert.ErrorIs(t, err, porter.ErrUnknownModule)
}

func TestFailedDeployKeepsTheOldRecordAndARetryDeploys(t *testing.T) {
	files := twoModules()
	files["project.ini"] = "[project]\ndepends = e2e-fails\n[hosts]\ntest = x@y\n"
	files["e2e-fails/e2e-fails.ini"] = "[module]\npath = $REMOTE/m\n[scm]\nurl = dir://src\n"
	files["e2e-fails/src/f"] = "one"
	f := newFixture(t, files)
	// An old record, as a successful deploy of another version left it.
	old := ledger.Record{Module: "e2e-fails", Version: "sha256:old", Release: "stable", Config: "testing"}
	b, _ := json.Marshal(old)
	portertest.WriteFiles(t, f.remote, map[string]string{"m/.porter/e2e-fails/state.json": string(b)})

	rep, err := f.deploy(t, porter.Options{})
	require.Error(t, err)
	assert.Equal(t, porter.Failed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, "sha256:old", readRecord(t, f.remote+"/m", "e2e-fails").Version, "a failed deploy writes no record")
	assert.NoFileExists(t, f.remote+"/m/.porter/e2e-fails/lock.json")

	_, err = f.deploy(t, porter.Options{})
	require.Error(t, err, "the retry deploys again (and fails again: the hook always fails)")
	assert.Contains(t, err.Error(), "migration failed")
}

func TestConcurrentDeploysOfOneModuleOneWinsTheOtherChangesNothing(t *testing.T) {
	files := map[string]string{
		"project.ini":           "[project]\ndepends = e2e-gate\n[hosts]\ntest = x@y\n",
		"e2e-gate/e2e-gate.ini": "[module]\npath = $REMOTE/g\n[scm]\nurl = dir://src\n",
		"e2e-gate/src/f":        "payload",
	}
	f := newFixture(t, files)
	name, g := newGate(t)
	type result struct {
		rep *porter.Report
		err error
	}
	first := make(chan result, 1)
	go func() {
		rep, err := f.deploy(t, porter.Options{Who: "alice@laptop", Flags: map[string]string{"gate": name}})
		first <- result{rep, err}
	}()
	<-g.reached // alice holds the lock and waits inside source-pre-send

	rep, err := f.deploy(t, porter.Options{Who: "bob@desk"})
	var le *ledger.LockedError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, ledger.ErrLocked)
	assert.Equal(t, "alice@laptop", le.Lock.By)
	assert.Equal(t, os.Getpid(), le.Lock.PID)
	assert.Regexp(t, `^deploy e2e-gate to test: e2e-gate is locked by alice@laptop \(pid \d+ on \S+\) since \d\d:\d\d:\d\d, \d+s ago; its lease runs until \d\d:\d\d:\d\d unless renewed$`, err.Error())
	assert.Equal(t, porter.Failed, rep.Hosts[0].Modules[0].Outcome)
	entries, _ := os.ReadDir(f.remote + "/g")
	assert.Equal(t, []string{".porter"}, names(entries), "bob sent nothing")

	close(g.release)
	res := <-first
	require.NoError(t, res.err)
	assert.Equal(t, porter.Deployed, res.rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, "alice@laptop", readRecord(t, f.remote+"/g", "e2e-gate").DeployedBy)
	assert.NoFileExists(t, f.remote+"/g/.porter/e2e-gate/lock.json")
}

func names(entries []os.DirEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestCancelDuringDeployReleasesTheLockAndRecordsNothing(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini":           "[project]\ndepends = e2e-gate\n[hosts]\ntest = x@y\n",
		"e2e-gate/e2e-gate.ini": "[module]\npath = $REMOTE/g\n[scm]\nurl = dir://src\n",
		"e2e-gate/src/f":        "payload",
	})
	name, g := newGate(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.cancel = cancel
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	_, err = porter.Deploy(ctx, p, porter.Options{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Config: "testing", Flags: map[string]string{"gate": name}})
	assert.ErrorIs(t, err, context.Canceled)
	assert.NoFileExists(t, f.remote+"/g/.porter/e2e-gate/lock.json")
	assert.NoFileExists(t, f.remote+"/g/.porter/e2e-gate/state.json")
	assert.NoFileExists(t, f.remote+"/g/f")
}

func TestCorruptOrForeignRecordCountsAsNeverDeployed(t *testing.T) {
	for name, content := range map[string]string{
		"garbage": "{not json",
		"foreign": `{"module": "someone-else", "version": "x"}`,
		"empty":   "",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, twoModules())
			portertest.WriteFiles(t, f.remote, map[string]string{"a/.porter/a/state.json": content})
			p, err := porter.LoadProject(f.local)
			require.NoError(t, err)
			st, err := porter.Status(context.Background(), p, porter.StatusOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Config: "testing"})
			require.NoError(t, err)
			assert.Equal(t, porter.StateNeverDeployed, st.Hosts[0].Modules[0].State)
			var ce *ledger.CorruptRecordError
			require.ErrorAs(t, st.Hosts[0].Modules[0].RecordErr, &ce)
			assert.Contains(t, ce.Error(), "is not a porter record")

			rep, err := f.deploy(t, porter.Options{})
			require.NoError(t, err)
			assert.Equal(t, porter.Deployed, rep.Hosts[0].Modules[0].Outcome)
			assert.Equal(t, "a", readRecord(t, f.remote+"/a", "a").Module)
		})
	}
}

func TestStatusStates(t *testing.T) {
	f := newFixture(t, twoModules())
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	status := func() map[string]porter.State {
		st, err := porter.Status(context.Background(), p, porter.StatusOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}})
		require.NoError(t, err)
		out := map[string]porter.State{}
		for _, m := range st.Hosts[0].Modules {
			out[m.Module] = m.State
		}
		return out
	}
	assert.Equal(t, map[string]porter.State{"a": porter.StateNeverDeployed, "b": porter.StateNeverDeployed}, status())
	_, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.State{"a": porter.StateUpToDate, "b": porter.StateUpToDate}, status(),
		"without --config, status compares with the config each module was deployed with")
	portertest.WriteFiles(t, f.local, map[string]string{"a/src/f": "a2"})
	portertest.WriteFiles(t, f.remote, map[string]string{"b/.porter/b/lock.json": `{"by":"carol@ci","pid":7,"since":"2026-01-02T03:04:05Z"}`})
	assert.Equal(t, map[string]porter.State{"a": porter.StateWouldDeploy, "b": porter.StateLocked}, status())
}

func TestHistoryKeepsTheLastHundred(t *testing.T) {
	f := newFixture(t, twoModules())
	var old strings.Builder
	for i := range 100 {
		fmt.Fprintf(&old, `{"module":"a","version":"v%d"}`+"\n", i)
	}
	portertest.WriteFiles(t, f.remote, map[string]string{"a/.porter/a/history.jsonl": old.String()})
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	b, err := os.ReadFile(f.remote + "/a/.porter/a/history.jsonl")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 100, "the last 100 deploys")
	assert.Equal(t, `{"module":"a","version":"v1"}`, lines[0])
	var last ledger.Record
	require.NoError(t, json.Unmarshal([]byte(lines[99]), &last))
	assert.Equal(t, "a", last.Module)
	assert.Equal(t, hashDir(t, f.local+"/a/src"), last.Version, "the new deploy is the last line")
	rec := readRecord(t, f.remote+"/a", "a")
	assert.NotEmpty(t, rec.Settings, "state.json keeps the settings' digests")
	rec.Settings = nil // the history does not
	assert.Equal(t, rec, last, "and it is the record of state.json")
}

func TestSyncNeverTouchesTheStateDir(t *testing.T) {
	files := twoModules()
	files["a/a.ini"] = "[module]\npath = $REMOTE/a\ndelete = true\n[scm]\nurl = dir://src\n"
	f := newFixture(t, files)
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	portertest.WriteFiles(t, f.remote, map[string]string{"a/extra": "x"})
	rep, err := f.deploy(t, porter.Options{Force: porter.ForceAll()})
	require.NoError(t, err)
	assert.NoFileExists(t, f.remote+"/a/extra", "delete = true removes extraneous files")
	assert.FileExists(t, f.remote+"/a/.porter/a/state.json")
	assert.FileExists(t, f.remote+"/a/.porter/a/history.jsonl")
	assert.Equal(t, 1, rep.Hosts[0].Modules[0].Sync.Deleted, "the state dir is not reported as deleted")
}

func TestCLIStatusAndUnlock(t *testing.T) {
	f := newFixture(t, twoModules())
	_, err := f.deploy(t, porter.Options{Who: "alice@laptop"})
	require.NoError(t, err)
	portertest.WriteFiles(t, f.remote, map[string]string{"b/.porter/b/lock.json": `{"by":"carol@ci","pid":7,"since":"2026-01-02T03:04:05Z"}`})
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
			Addresses: map[string]string{"test": f.srv.Address()}, Dial: f.srv.DialOptions()}
		return cli.Run(context.Background()), out.String(), errb.String()
	}
	code, out, errOut := run("status", "--host", "test")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Regexp(t, `(?m)^a\s+up to date\s+sha256:\w{12}\s+stable\s+testing\s+\S+ \S+\s+alice@laptop\s+sha256:\w{12}$`, out)
	assert.Regexp(t, `(?m)^b\s+locked by carol@ci for \S+ \(pid 7\)`, out)

	code, out, errOut = run("unlock", "--host", "test", "b", "a")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Regexp(t, `^unlocked b \(held by carol@ci since .*, pid 7\)\na was not locked\n$`, out)
	assert.NoFileExists(t, f.remote+"/b/.porter/b/lock.json")

	code, _, errOut = run("unlock", "--host", "test")
	assert.Equal(t, porter.ExitUsage, code)
	assert.Contains(t, errOut, "name the modules to unlock")
}

// cancelOn is a log handler that cancels a deploy when the sync logs that
// it has written the files into its staging directory: Ctrl-C mid-sync.
type cancelOn struct {
	cancel context.CancelFunc
	seen   *atomic.Bool
}

func (h cancelOn) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOn) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h cancelOn) WithGroup(string) slog.Handler            { return h }
func (h cancelOn) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if r.Message == "sync step" && a.Key == "step" && strings.HasPrefix(a.Value.String(), "prepare") {
			h.seen.Store(true)
			h.cancel()
		}
		return true
	})
	return nil
}

func TestCtrlCMidSyncReleasesTheLockAndLeavesNoPartialFiles(t *testing.T) {
	f := newFixture(t, twoModules())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Bool
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	rep, err := porter.Deploy(ctx, p, porter.Options{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Config: "testing", Logger: slog.New(cancelOn{cancel, &seen})})
	require.True(t, seen.Load(), "the sync reached its staging step")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, porter.Failed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, porter.NotRun, rep.Hosts[0].Modules[1].Outcome)
	entries, _ := os.ReadDir(f.remote + "/a")
	assert.Equal(t, []string{".porter"}, names(entries), "no file under its final name, no staging dir left")
	entries, _ = os.ReadDir(f.remote + "/a/.porter/a")
	assert.Empty(t, names(entries), "no lock, no record")
}
