package porter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/scm"
	"golang.org/x/crypto/ssh"
)

// signalLog records the signals a deploy sends, across modules.
type signalLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *signalLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *signalLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// The recording plugin logs every procedure signal of the module it is on,
// after the default handlers; tests point it at their log via the ini's
// [plugin:...] log key and a registry of logs.
var (
	logsMu sync.Mutex
	logs   = map[string]*signalLog{}
)

func newLog(t *testing.T) (*signalLog, string) {
	logsMu.Lock()
	defer logsMu.Unlock()
	l := &signalLog{}
	logs[t.Name()] = l
	return l, t.Name()
}

type recordPlugin struct{}

func (recordPlugin) RegisterSignalHandlers(m *porter.Module) error {
	key := m.PluginSettings().String("log", "")
	logsMu.Lock()
	l := logs[key]
	logsMu.Unlock()
	if l == nil {
		return fmt.Errorf("no log %q", key)
	}
	for _, sig := range []porter.Signal{porter.SigDeployStart, porter.SigSourcePreSend, porter.SigSourceSend,
		porter.SigSourcePostSend, porter.SigDeployFinish, porter.SigDeployFailed} {
		m.PushSignalHandler(sig, func(_ context.Context, m *porter.Module, payload any) error {
			if f, ok := payload.(porter.DeployFailed); ok {
				l.add(m.Name() + ":" + string(sig) + ":" + f.Err.Error())
				return nil
			}
			l.add(m.Name() + ":" + string(sig))
			return nil
		})
	}
	return nil
}

const recordName = "github.com/porter-deploy/porter/internal/test/record"

func init() {
	porter.RegisterPlugin(recordName, func() porter.Plugin { return recordPlugin{} })
	porter.RegisterDeployment("e2e-fails", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(context.Context, *porter.Module, any) error {
			return errors.New("migration failed")
		})
		return nil
	})
	porter.RegisterDeployment("e2e-ownsend", func(m *porter.Module) error {
		m.ReplaceSignalHandler(porter.SigSourceSend, func(ctx context.Context, m *porter.Module, _ any) error {
			_, err := m.Host().Run(ctx, "mkdir -p "+remote.Quote(m.Path())+" && echo custom > "+remote.Quote(m.Path()+"/SENT"))
			return err
		})
		return nil
	})
	porter.RegisterDeployment("e2e-undo", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigDeployStart, func(_ context.Context, m *porter.Module, _ any) error {
			if v, ok := undos.Load(m.Flag("undo")); ok {
				v.(*undoCheck).cancel() // Ctrl-C while the deploy is under way
			}
			return nil
		})
		m.PushSignalHandler(porter.SigDeployFailed, func(ctx context.Context, m *porter.Module, payload any) error {
			v, ok := undos.Load(m.Flag("undo"))
			if !ok {
				return nil
			}
			u := v.(*undoCheck)
			u.calls++
			u.ctxErr = ctx.Err()
			u.failure = payload.(porter.DeployFailed).Err
			out, err := m.Host().Run(ctx, "cd "+remote.Quote(m.Path())+" && echo restored > UNDONE && echo undone")
			u.out, u.runErr = string(out.Stdout), err
			return err
		})
		return nil
	})
	porter.RegisterDeployment("e2e-ownproc", func(m *porter.Module) error {
		m.ReplaceSignalHandler(porter.SigDeploy, func(ctx context.Context, m *porter.Module, _ any) error {
			return m.Signal(ctx, porter.SigDeployFinish, nil)
		})
		return nil
	})
}

// undos lets a test see what the SigDeployFailed handler of module e2e-undo
// got, and cancel the deploy from its SigDeployStart handler; its "undo"
// flag names the test's undoCheck.
var undos sync.Map // name -> *undoCheck

type undoCheck struct {
	cancel  context.CancelFunc
	calls   int
	ctxErr  error // ctx.Err() as the undo handler saw it
	failure error // the payload's Err
	out     string
	runErr  error
}

// fixture is a project whose module paths lie under a temp "remote" dir.
type fixture struct {
	srv    *portertest.Server
	local  string // project dir
	remote string // where modules are deployed
}

func newFixture(t *testing.T, files map[string]string) *fixture {
	t.Helper()
	f := &fixture{srv: portertest.NewServer(t), local: t.TempDir(), remote: t.TempDir()}
	for k, v := range files {
		files[k] = strings.ReplaceAll(v, "$REMOTE", f.remote)
	}
	portertest.WriteFiles(t, f.local, files)
	return f
}

func (f *fixture) deploy(t *testing.T, opts porter.Options) (*porter.Report, error) {
	t.Helper()
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	if opts.Host == "" {
		opts.Host = "test"
	}
	if opts.Config == "" {
		opts.Config = "testing"
	}
	opts.Address = f.srv.Address()
	opts.Dial = f.srv.DialOptions()
	return porter.Deploy(context.Background(), p, opts)
}

// hashDir is the version a dir:// source at dir has: package scm's content
// hash, computed apart from the deploy.
func hashDir(t *testing.T, dir string) string {
	t.Helper()
	sum, err := scm.HashDir(context.Background(), dir)
	require.NoError(t, err)
	return sum
}

func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && rel == ledger.Dir {
			return filepath.SkipDir // porter's record, checked by the state tests
		}
		if d.IsDir() || rel == "." {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	}))
	return out
}

func TestDeployShipsEveryModuleInOrderAndFiresSignalsInOriginalOrder(t *testing.T) {
	log, key := newLog(t)
	plugin := "\n[plugin:" + recordName + "]\nlog = " + key + "\n"
	f := newFixture(t, map[string]string{
		"project.ini":         "[project]\nname = shop\ndepends = web\n[hosts]\ntest = nobody@invalid\n",
		"web/web.ini":         "[module]\npath = $REMOTE/web\ndepends = api\n[scm]\nurl = dir://src\n[release:stable]\n" + plugin,
		"web/src/index.html":  "<h1>shop</h1>\n",
		"web/src/.gitignore":  "never sent\n",
		"api/api.ini":         "[module]\npath = /nowhere\npath-test = $REMOTE/api\nexclude = *.tmp\n[scm]\nurl = dir://src\n[release:stable]\n" + plugin,
		"api/src/app.py":      "print('hi')\n",
		"api/src/lib/util.py": "X = 1\n",
		"api/src/scratch.tmp": "no\n",
	})
	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)

	assert.Equal(t, map[string]string{"index.html": "<h1>shop</h1>\n"}, readTree(t, f.remote+"/web"))
	assert.Equal(t, map[string]string{"app.py": "print('hi')\n", "lib/util.py": "X = 1\n"}, readTree(t, f.remote+"/api"))
	assert.Equal(t, []string{
		"api:deploy-start", "api:source-pre-send", "api:source-send", "api:source-post-send", "api:deploy-finish",
		"web:deploy-start", "web:source-pre-send", "web:source-send", "web:source-post-send", "web:deploy-finish",
	}, log.get())

	require.Len(t, rep.Hosts[0].Modules, 2)
	assert.Equal(t, "api", rep.Hosts[0].Modules[0].Module)
	assert.Equal(t, porter.Deployed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, 2, rep.Hosts[0].Modules[0].Sync.Sent)
	assert.Equal(t, "web", rep.Hosts[0].Modules[1].Module)
	assert.Equal(t, hashDir(t, f.local+"/web/src"), rep.Hosts[0].Modules[1].Version, "a dir:// source's version is the content hash of the directory")
}

func TestDeployFailureFiresDeployFailedAndStops(t *testing.T) {
	log, key := newLog(t)
	plugin := "\n[plugin:" + recordName + "]\nlog = " + key + "\n"
	f := newFixture(t, map[string]string{
		"project.ini":             "[project]\ndepends = e2e-fails, later\n[hosts]\ntest = x@y\n",
		"e2e-fails/e2e-fails.ini": "[module]\npath = $REMOTE/a\n" + plugin,
		"later/later.ini":         "[module]\npath = $REMOTE/b\n" + plugin,
	})
	rep, err := f.deploy(t, porter.Options{})
	require.Error(t, err)
	assert.EqualError(t, err, "deploy e2e-fails to test: source-post-send: module hook: migration failed")
	var se *porter.SignalError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, porter.SigSourcePostSend, se.Signal)
	assert.Equal(t, porter.OwnerHook, se.Owner, "the module's hook pushed the failing handler")
	assert.Equal(t, []string{
		"e2e-fails:deploy-start", "e2e-fails:source-pre-send", "e2e-fails:source-send",
		"e2e-fails:deploy-failed:deploy e2e-fails to test: source-post-send: module hook: migration failed",
	}, log.get(), "the recorder's post-send handler comes after the failing hook's, so it never runs")
	assert.Equal(t, porter.Failed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, porter.NotRun, rep.Hosts[0].Modules[1].Outcome)
}

func TestDeployOfManyModulesUsesOneSSHConnection(t *testing.T) {
	const cmd = "[plugin:github.com/porter-deploy/porter/plugins/command]\ndeploy-finish = echo done > DONE\n"
	f := newFixture(t, map[string]string{
		"project.ini":       "[project]\ndepends = web, worker\n[hosts]\ntest = x@y\n",
		"web/web.ini":       "[module]\npath = $REMOTE/web\ndepends = api\n[scm]\nurl = dir://src\n" + cmd,
		"web/src/f":         "web",
		"api/api.ini":       "[module]\npath = $REMOTE/api\ndepends = db\n[scm]\nurl = dir://src\n" + cmd,
		"api/src/f":         "api",
		"db/db.ini":         "[module]\npath = $REMOTE/db\n[scm]\nurl = dir://src\n" + cmd,
		"db/src/f":          "db",
		"worker/worker.ini": "[module]\npath = $REMOTE/worker\n[scm]\nurl = dir://src\n" + cmd,
		"worker/src/f":      "worker",
	})
	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"db": porter.Deployed, "api": porter.Deployed, "web": porter.Deployed,
		"worker": porter.Deployed}, outcomes(rep))
	for _, m := range []string{"db", "api", "web", "worker"} {
		assert.Equal(t, map[string]string{"f": m, "DONE": "done\n"}, readTree(t, f.remote+"/"+m), "each module synced and ran its command")
	}
	assert.Equal(t, 1, f.srv.Connections(), "one SSH connection per host, not one per module")

	rep, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"db": porter.Unchanged, "api": porter.Unchanged, "web": porter.Unchanged,
		"worker": porter.Unchanged}, outcomes(rep))
	assert.Equal(t, 2, f.srv.Connections(), "the second deploy made one connection too")

	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	_, err = porter.Status(context.Background(), p, porter.StatusOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}})
	require.NoError(t, err)
	assert.Equal(t, 3, f.srv.Connections(), "status reads every module over one connection")
}

// TestDeployRunningNoCommandStartsNoShell: a module with no handler of
// its own (no plugin, no hook), deployed in place, runs no command, and its
// small change set goes with SFTP requests: the deploy starts no remote
// shell, whose login would only cost the host's CPU and run its rc files.
func TestDeployRunningNoCommandStartsNoShell(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini":              "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		"app/app.ini":              "[module]\npath = $REMOTE/app\n[scm]\nurl = dir://src\n",
		"app/src/f":                "one",
		"app/src/d/g":              "two",
		"app/config/testing/.keep": "",
	})
	for _, force := range []bool{false, true} {
		opts := porter.Options{}
		if force {
			opts.Force = porter.ForceAll()
		}
		rep, err := f.deploy(t, opts)
		require.NoError(t, err)
		assert.Equal(t, map[string]porter.Outcome{"app": porter.Deployed}, outcomes(rep))
		assert.Equal(t, map[string]string{"f": "one", "d/g": "two"}, readTree(t, f.remote+"/app"))
		assert.Empty(t, f.srv.Execs(), "no remote shell was started")
	}
}

func TestUndoHandlersGetAContextThatACancelledDeployDidNotEnd(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini":           "[project]\ndepends = e2e-undo, later\n[hosts]\ntest = x@y\n",
		"e2e-undo/e2e-undo.ini": "[module]\npath = $REMOTE/u\n[scm]\nurl = dir://src\n",
		"e2e-undo/src/f":        "never sent",
		"later/later.ini":       "[module]\npath = $REMOTE/later\n",
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u := &undoCheck{cancel: cancel}
	undos.Store(t.Name(), u)
	t.Cleanup(func() { undos.Delete(t.Name()) })
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	rep, err := porter.Deploy(ctx, p, porter.Options{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Config: "testing", Flags: map[string]string{"undo": t.Name()}})

	assert.ErrorIs(t, err, context.Canceled, "the deploy stops")
	require.Equal(t, 1, u.calls, "SigDeployFailed ran once, although ctx was cancelled")
	assert.ErrorIs(t, u.failure, context.Canceled, "its payload is the cancellation")
	assert.NoError(t, u.ctxErr, "the undo handler's ctx is not cancelled")
	require.NoError(t, u.runErr, "the undo handler can run a command on the host")
	assert.Equal(t, "undone\n", u.out)
	b, err := os.ReadFile(f.remote + "/u/UNDONE")
	require.NoError(t, err)
	assert.Equal(t, "restored\n", string(b))
	assert.NoFileExists(t, f.remote+"/u/f", "the source was never sent")
	assert.NoFileExists(t, f.remote+"/u/.porter/e2e-undo/lock.json")
	assert.NoFileExists(t, f.remote+"/u/.porter/e2e-undo/state.json")
	assert.Equal(t, porter.Failed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, porter.NotRun, rep.Hosts[0].Modules[1].Outcome)
}

func TestModuleHookReplacesSourceSendOrTheWholeProcedure(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini":                 "[project]\ndepends = e2e-ownsend, e2e-ownproc\n[hosts]\ntest = x@y\n",
		"e2e-ownsend/e2e-ownsend.ini": "[module]\npath = $REMOTE/own send\n[scm]\nurl = dir://src\n",
		"e2e-ownsend/src/file":        "not synced\n",
		"e2e-ownproc/e2e-ownproc.ini": "[module]\npath = $REMOTE/proc\n[scm]\nurl = dir://src\n",
		"e2e-ownproc/src/file":        "not synced\n",
	})
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"SENT": "custom\n"}, readTree(t, f.remote+"/own send"))
	assert.Empty(t, readTree(t, f.remote+"/proc"), "the replaced procedure sent nothing")
	assert.FileExists(t, f.remote+"/proc/.porter/e2e-ownproc/state.json", "the deploy is recorded all the same")
}

func TestDeployUseRsyncFalseSendsNothing(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\ntest = x@y\n",
		"a/a.ini":     "[module]\npath = $REMOTE/a\nuse_rsync = false\n[scm]\nurl = dir://src\n",
		"a/src/f":     "x",
	})
	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Empty(t, readTree(t, f.remote+"/a"))
	assert.Equal(t, porter.Deployed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, []porter.Skip{{Owner: porter.OwnerPorter, Step: "source send", Why: "use_rsync = false"}},
		rep.Hosts[0].Modules[0].Skipped, "the skip is a value of the report")
}

func TestDeployHostilePathDeploysAndRunsNothing(t *testing.T) {
	pwned := filepath.Join(t.TempDir(), "pwned")
	hostile := "a b/it's/$(touch " + pwned + ")/`touch " + pwned + "`"
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\ntest = x@y\n",
		"a/a.ini":     "[module]\npath = $REMOTE/" + hostile + "\n[scm]\nurl = dir://src\n[plugin:github.com/porter-deploy/porter/plugins/command]\ndeploy-finish = pwd > WHERE\n",
		"a/src/f":     "payload",
	})
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	dest := filepath.Join(f.remote, hostile)
	assert.Equal(t, map[string]string{"f": "payload", "WHERE": dest + "\n"}, readTree(t, dest))
	assert.NoFileExists(t, pwned)
}

func TestDeployBadInputFailsBeforeConnecting(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\ntest = x@y\nother = x@z\n",
		"a/a.ini":     "[module]\npath = $REMOTE/a\n",
	})
	for _, tc := range []struct {
		opts porter.Options
		want string
	}{
		{porter.Options{Target: porter.Target{Host: "nope"}}, `unknown host "nope": valid hosts: test, other`},
		{porter.Options{Config: "../etc"}, `config "../etc": no valid config name: name a config/NAME directory`},
		{porter.Options{Force: porter.ForceModules("ghost")}, `force ghost: unknown module "ghost": modules of`},
	} {
		_, err := f.deploy(t, tc.opts)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	assert.Empty(t, f.srv.Commands(), "nothing ran on the host")
}

func TestDeployGitSourceRecordsTheCommitNotTheBranch(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: apt-get install git (the CI script installs it)")
	}
	repo := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	portertest.WriteFiles(t, repo, map[string]string{"app.txt": "v1\n"})
	git("add", ".")
	git("commit", "-q", "-m", "one")
	first := git("rev-parse", "HEAD")
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		"app/app.ini": "[module]\npath = $REMOTE/app\n[scm]\nurl = git://" + repo + "\n[release:stable]\nbranch = main\n",
	})
	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, first, rep.Hosts[0].Modules[0].Version)
	assert.Equal(t, map[string]string{"app.txt": "v1\n"}, readTree(t, f.remote+"/app"))

	portertest.WriteFiles(t, repo, map[string]string{"app.txt": "v2\n"})
	git("commit", "-q", "-am", "two")
	rep, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, git("rev-parse", "HEAD"), rep.Hosts[0].Modules[0].Version)
	assert.NotEqual(t, first, rep.Hosts[0].Modules[0].Version)
	assert.Equal(t, map[string]string{"app.txt": "v2\n"}, readTree(t, f.remote+"/app"))
}

func TestCLIDeployAndUsage(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\nname = demo\ndepends = a\n[hosts]\ntest = x@y\n",
		"a/a.ini":     "[module]\npath = $REMOTE/a\n[scm]\nurl = dir://src\n[plugin:github.com/porter-deploy/porter/plugins/command]\ndeploy-finish = echo ran > RAN\n",
		"a/src/f":     "x",
	})
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
			Addresses: map[string]string{"test": f.srv.Address()}, Dial: f.srv.DialOptions()}
		return cli.Run(context.Background()), out.String(), errb.String()
	}

	code, out, errOut := run("deploy", "--host", "test", "--config", "testing", "--skip-commands")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Contains(t, out, "a       deployed")
	assert.Contains(t, out, "\nskipped a deploy-finish command \"echo ran > RAN\": --skip-commands (plugin github.com/porter-deploy/porter/plugins/command)\n")
	assert.FileExists(t, f.remote+"/a/f")
	assert.NoFileExists(t, f.remote+"/a/RAN", "--skip-commands reached the plugin")

	code, _, errOut = run("deploy", "--host", "test", "--config", "testing")
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.FileExists(t, f.remote+"/a/RAN")
	assert.Contains(t, errOut, "a: deployed")

	code, out, errOut = run("deploy", "--config", "testing")
	assert.Equal(t, porter.ExitUsage, code)
	assert.Contains(t, out, "test  x@y")
	assert.Contains(t, errOut, "pass --host NAME, one of: test")

	code, out, _ = run("deploy", "--help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Contains(t, out, "plugin github.com/porter-deploy/porter/plugins/command:\n      --skip-commands   ")

	code, _, errOut = run("deploy", "--host", "nope", "--config", "testing")
	assert.Equal(t, porter.ExitError, code)
	assert.Equal(t, "porter.test: unknown host \"nope\": valid hosts: test\n", lastLine(errOut))

	code, _, _ = run("frobnicate")
	assert.Equal(t, porter.ExitUsage, code)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1] + "\n"
}

func TestCreateProjectMakesALoadableProject(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "myproject")
	require.NoError(t, porter.CreateProject(dir))
	p, err := porter.LoadProject(dir)
	require.NoError(t, err)
	assert.Equal(t, "myproject", p.Name)
	assert.Equal(t, []string{"testing", "production"}, p.HostNames())
	m, err := porter.LoadModule(p, "app", porter.OnHost("testing"), porter.WithConfig("production"))
	require.NoError(t, err)
	assert.Equal(t, "/srv/myproject-testing/app", m.Path())
	assert.Equal(t, filepath.Join(dir, "app", "config", "production"), m.ConfigDir())
	assert.DirExists(t, filepath.Join(dir, "app", "config", "production"))
	assert.ErrorIs(t, porter.CreateProject(dir), fs.ErrExist)
}

func TestCLIUnknownHostKeyIsRefusedUnlessTrustedOnFirstUse(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\ntest = x@y\n",
		"a/a.ini":     "[module]\npath = $REMOTE/a\n",
	})
	known := filepath.Join(t.TempDir(), "known_hosts")
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
			Addresses: map[string]string{"test": f.srv.Address()},
			Dial:      portertest.TrustOnly(known, f.srv.IdentityFile())}
		return cli.Run(context.Background()), errb.String()
	}
	code, errOut := run("deploy", "--host", "test", "--config", "testing")
	assert.Equal(t, porter.ExitError, code)
	assert.Contains(t, lastLine(errOut), "unknown host "+f.srv.Addr()+": the server offers ssh-ed25519 "+ssh.FingerprintSHA256(f.srv.HostKey()))
	assert.Contains(t, lastLine(errOut), "--accept-new-host-keys")
	assert.NoFileExists(t, known)
	assert.NoDirExists(t, f.remote+"/a")

	code, errOut = run("--accept-new-host-keys", "deploy", "--host", "test", "--config", "testing")
	require.Equal(t, porter.ExitOK, code, errOut)
	b, err := os.ReadFile(known)
	require.NoError(t, err)
	assert.Contains(t, string(b), "ssh-ed25519")
	code, errOut = run("deploy", "--host", "test", "--config", "testing", "--force")
	assert.Equal(t, porter.ExitOK, code, "the key is known now: %s", errOut)
}
