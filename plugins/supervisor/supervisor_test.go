package supervisor_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/command"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/plugins/virtualenv"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

const command = "github.com/porter-deploy/porter/plugins/command"

// recorder is a test plugin that records the LauncherUpdated payloads its
// module receives, by the module's path: each test takes its own
// ([fixture.takeUpdates]), so the tests run in parallel.
const recorder = "github.com/porter-deploy/porter/plugins/supervisor/recorder_test"

// listener is a test plugin whose SigLauncherUpdated handler is the one its
// test set for the module's path ([fixture.setListen]).
const listener = "github.com/porter-deploy/porter/plugins/supervisor/listener_test"

type listenFunc = func(context.Context, *porter.Module, supervisor.LauncherUpdated) error

var (
	recMu     sync.Mutex
	dests     = map[string]bool{}                         // the fixtures' module paths
	updates   = map[string][]supervisor.LauncherUpdated{} // by fixture dest
	listeners = map[string]listenFunc{}                   // by fixture dest
)

// ownerOf returns the fixture dest that the module's path is, or is under
// (a release of strategy = releases). recMu is held.
func ownerOf(m *porter.Module) string {
	for p := m.Path(); p != "/" && p != "."; p = filepath.Dir(p) {
		if dests[p] {
			return p
		}
	}
	return m.Path()
}

type recordPlugin struct{}

func (recordPlugin) RegisterSignalHandlers(m *porter.Module) error {
	m.PushSignalHandler(supervisor.SigLauncherUpdated, func(_ context.Context, m *porter.Module, payload any) error {
		recMu.Lock()
		defer recMu.Unlock()
		k := ownerOf(m)
		updates[k] = append(updates[k], payload.(supervisor.LauncherUpdated))
		return nil
	})
	return nil
}

type listenPlugin struct{}

func (listenPlugin) RegisterSignalHandlers(m *porter.Module) error {
	m.PushSignalHandler(supervisor.SigLauncherUpdated, func(ctx context.Context, m *porter.Module, payload any) error {
		recMu.Lock()
		l := listeners[ownerOf(m)]
		recMu.Unlock()
		if l == nil {
			return errors.New("listener_test: no listener set for " + m.Path())
		}
		return l(ctx, m, payload.(supervisor.LauncherUpdated))
	})
	return nil
}

// setListen makes the listener plugin call l for this fixture's module
// until the test ends.
func (f *fixture) setListen(t *testing.T, l listenFunc) {
	recMu.Lock()
	listeners[f.dest] = l
	recMu.Unlock()
	t.Cleanup(func() { recMu.Lock(); delete(listeners, f.dest); recMu.Unlock() })
}

func init() {
	porter.RegisterPlugin(recorder, func() porter.Plugin { return recordPlugin{} })
	porter.RegisterPlugin(listener, func() porter.Plugin { return listenPlugin{} })
}

// takeUpdates returns, and forgets, the payloads the recorder got for this
// fixture's module.
func (f *fixture) takeUpdates() []supervisor.LauncherUpdated {
	recMu.Lock()
	defer recMu.Unlock()
	u := updates[f.dest]
	delete(updates, f.dest)
	return u
}

// fakeSudo returns the PATH entry, for [newFixture] or portertest.WithEnv,
// of a directory with a fake sudo (sudo is not installed here, and a test
// cannot give itself root): it drops -n and runs the rest, so the command
// lines are real and run for real.
func fakeSudo(t *testing.T) string {
	bin := t.TempDir()
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(bin, "sudo"): "#!/bin/sh\n[ \"$1\" = -n ] && shift\nexec \"$@\"\n"})
	require.NoError(t, os.Chmod(filepath.Join(bin, "sudo"), 0o755))
	return "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")
}

const launcher = `[group:app]
programs=web
[program:web]
command=/bin/sleep 1000
startsecs=0
stopwaitsecs=2
autorestart=false
`

// updateLauncher is the flag that makes the plugin replace a launcher the
// host has, spelled out: it is what users type.
var updateLauncher = map[string]string{"update-launcher": "true"}

type fixture struct {
	srv   *portertest.Server
	sv    *supervisord
	local string // project dir
	dest  string // module path
	tmp   string // the host's TMPDIR, where mktemp -d makes the staging directories
}

// newFixture starts the test's server and supervisord; env goes to the
// commands the server runs (portertest.WithEnv), as fakeSudo's PATH. The
// test runs in parallel with the others.
func newFixture(t *testing.T, env ...string) *fixture {
	t.Parallel()
	tmp := t.TempDir()
	f := &fixture{srv: portertest.NewServer(t, portertest.WithEnv(append([]string{"TMPDIR=" + tmp}, env...)...)), sv: startSupervisord(t), local: t.TempDir(),
		dest: filepath.Join(t.TempDir(), "the app"), tmp: tmp}
	recMu.Lock()
	dests[f.dest] = true
	recMu.Unlock()
	t.Cleanup(func() { recMu.Lock(); delete(dests, f.dest); delete(updates, f.dest); recMu.Unlock() })
	return f
}

// commands returns the commands the server ran from the n-th on, with each
// staging directory (f.tmp/tmp.XXXXXXXXXX) shown as TMP.
func (f *fixture) commands(n int) []string {
	staging := regexp.MustCompile(regexp.QuoteMeta(f.tmp) + `/tmp\.[A-Za-z0-9]+`)
	out := []string{}
	for _, c := range f.srv.Commands()[n:] {
		out = append(out, staging.ReplaceAllString(c, "TMP"))
	}
	return out
}

// assertStagingGone checks that no staging directory is left on the host.
func (f *fixture) assertStagingGone(t *testing.T) {
	t.Helper()
	es, err := os.ReadDir(f.tmp)
	require.NoError(t, err)
	assert.Empty(t, es, "the staging directories are removed")
}

// assertStaged checks the payload of SigLauncherUpdated: a launcher in a
// directory of mktemp -d in the host's TMPDIR, private to the SSH user,
// with the local launcher's mode.
func (f *fixture) assertStaged(t *testing.T, lu supervisor.LauncherUpdated, mode os.FileMode) {
	t.Helper()
	dir := filepath.Dir(lu.Path)
	assert.Equal(t, "app.conf", filepath.Base(lu.Path))
	assert.Regexp(t, "^"+regexp.QuoteMeta(f.tmp)+`/tmp\.[A-Za-z0-9]+$`, dir)
	st, err := os.Lstat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.ModeDir|0o700, st.Mode(), "the staging directory is private")
	st, err = os.Stat(lu.Path)
	require.NoError(t, err)
	assert.Equal(t, mode, st.Mode().Perm(), "the staged launcher keeps the local file's mode")
}

// project writes module app with the supervisor section (plus config =
// the test's supervisord), then more ini text.
func (f *fixture) project(t *testing.T, section, more string) *porter.Project {
	t.Helper()
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(f.local, "project.ini"): "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(f.local, "app", "app.ini"): "[module]\npath = " + f.dest + "\n[plugin:" + supervisor.Name + "]\n" +
			"config = " + f.sv.cfg + "\nconf_dir = " + f.sv.confDir + "\n" + section + more,
	})
	if _, err := os.Stat(filepath.Join(f.local, "app", "supervisor", "app.conf")); err != nil {
		portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.local, "app", "supervisor", "app.conf"): launcher})
	}
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	return p
}

func (f *fixture) deploy(p *porter.Project, flags map[string]string) error {
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Config: "testing",
		Flags: flags, Force: porter.ForceAll()})
	return err
}

func (f *fixture) deployCtx(ctx context.Context, p *porter.Project, flags map[string]string) error {
	_, err := porter.Deploy(ctx, p, porter.Options{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Config: "testing",
		Flags: flags, Force: porter.ForceAll()})
	return err
}

// confFiles lists conf_dir, hidden (temporary) files included.
func (f *fixture) confFiles(t *testing.T) []string {
	t.Helper()
	es, err := os.ReadDir(f.sv.confDir)
	require.NoError(t, err)
	names := []string{}
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func (f *fixture) ctl(args ...string) string {
	return "supervisorctl -c " + remote.Quote(f.sv.cfg) + " " + strings.Join(args, " ")
}

func TestFirstDeployInstallsTheLauncherAndStartsTheGroup(t *testing.T) {
	f := newFixture(t)
	p := f.project(t, "", "[plugin:"+recorder+"]\n")
	f.takeUpdates()
	require.NoError(t, f.deploy(p, nil))

	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "mktemp -d", f.ctl("update"), f.ctl("start", "'app:*'")}, f.commands(0),
		"a group supervisord does not know yet is not an error to stop")
	b, err := os.ReadFile(filepath.Join(f.sv.confDir, "app.conf"))
	require.NoError(t, err)
	assert.Equal(t, launcher, string(b))
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
	u := f.takeUpdates()
	require.Len(t, u, 1)
	assert.False(t, u[0].UseSudo)
	assert.NotEqual(t, filepath.Join(f.sv.confDir, "app.conf"), u[0].Path, "the staged copy, not conf_dir's")
	assert.Regexp(t, "^"+regexp.QuoteMeta(f.tmp)+`/tmp\.[A-Za-z0-9]+/app\.conf$`, u[0].Path)
	f.assertStagingGone(t)
	assert.Equal(t, []string{"app.conf"}, f.confFiles(t), "no temporary file left")
}

func TestRedeployStopsTheGroupDuringTheDeployAndKeepsTheLauncher(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.deploy(f.project(t, "", ""), nil))
	require.Equal(t, "RUNNING", f.sv.state(t, "app:web"))

	// During the deploy (after the send) the group is stopped.
	during := filepath.Join(t.TempDir(), "during")
	changed := strings.Replace(launcher, "sleep 1000", "sleep 2000", 1)
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.local, "app", "supervisor", "app.conf"): changed})
	p := f.project(t, "", "[plugin:"+command+"]\nsource-post-send = "+f.ctl("status", "app:web")+" > "+during+"; true\n[plugin:"+recorder+"]\n")
	f.takeUpdates()
	require.NoError(t, f.deploy(p, nil))
	b, err := os.ReadFile(during)
	require.NoError(t, err)
	assert.Contains(t, string(b), "STOPPED")
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
	b, _ = os.ReadFile(filepath.Join(f.sv.confDir, "app.conf"))
	assert.Equal(t, launcher, string(b), "kept without --update-launcher")
	assert.Empty(t, f.takeUpdates(), "nothing copied, nothing signalled")

	// With --update-launcher it is replaced, and update restarts the group on the new one.
	require.NoError(t, f.deploy(p, updateLauncher))
	b, _ = os.ReadFile(filepath.Join(f.sv.confDir, "app.conf"))
	assert.Equal(t, changed, string(b))
	assert.Len(t, f.takeUpdates(), 1)
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
	assert.Contains(t, f.sv.ctl(t, "avail"), "app:web")
}

func TestFailedDeployStartsTheStoppedGroupAgain(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.deploy(f.project(t, "", ""), nil))
	require.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
	n := len(f.srv.Commands())

	p := f.project(t, "", "[plugin:"+command+"]\nsource-post-send = exit 3\n")
	err := f.deploy(p, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `deploy app to test: source-post-send: plugin github.com/porter-deploy/porter/plugins/command: command "exit 3"`)
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "cd -- '" + f.dest + "' && exit 3", f.ctl("start", "'app:*'")},
		f.srv.Commands()[n:], "stopped, failed, started again: never update")
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
}

func TestFailureBeforeTheStopStartsNothing(t *testing.T) {
	f := newFixture(t)
	p := f.project(t, "", "[plugin:"+command+"]\ndeploy-start = exit 4\n")
	// The supervisor section comes first, so its stop runs before the failing command:
	// with an unknown group nothing was stopped, so nothing is started.
	err := f.deploy(p, nil)
	require.Error(t, err)
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "cd -- '" + f.dest + "' && exit 4"}, f.srv.Commands())
}

func TestHostileGroupNameRunsNothing(t *testing.T) {
	f := newFixture(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	p := f.project(t, "group_name = a b; touch "+marker+"\n", "")
	err := f.deploy(p, nil)
	require.Error(t, err, "supervisord has no such group")
	assert.Contains(t, err.Error(), "deploy app to test: deploy-finish: plugin github.com/porter-deploy/porter/plugins/supervisor: start supervisor group a b; touch "+marker+": ")
	assert.Contains(t, err.Error(), "no such")
	assert.NoFileExists(t, marker)
	assert.Equal(t, f.ctl("stop", "'a b; touch "+marker+":*'"), f.srv.Commands()[0])
}

func TestUseSudoStagesTheLauncherAndInstallsItWithSudo(t *testing.T) {
	f := newFixture(t, fakeSudo(t))
	// The launcher holds a secret: it is 0600 here, and must be there.
	local := filepath.Join(f.local, "app", "supervisor", "app.conf")
	portertest.WriteFiles(t, "", map[string]string{local: strings.Replace(launcher, "autorestart=false", "autorestart=false\nenvironment=API_TOKEN=\"s3cret\"", 1)})
	require.NoError(t, os.Chmod(local, 0o600))
	p := f.project(t, "use_sudo = true\n", "[plugin:"+listener+"]\n")
	var staged string
	f.setListen(t, func(_ context.Context, _ *porter.Module, lu supervisor.LauncherUpdated) error {
		assert.True(t, lu.UseSudo)
		f.assertStaged(t, lu, 0o600)
		staged = lu.Path
		return nil
	})
	require.NoError(t, f.deploy(p, nil))
	dst := filepath.Join(f.sv.confDir, "app.conf")
	assert.Equal(t, []string{
		"sudo -n " + f.ctl("stop", "'app:*'"),
		"sudo -n test -e " + dst,
		"mktemp -d",
		"sudo -n install -m 0600 -- TMP/app.conf " + dst,
		"sudo -n " + f.ctl("update"),
		"sudo -n " + f.ctl("start", "'app:*'"),
	}, f.commands(0))
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "installed with the local file's mode")
	assert.Contains(t, f.srv.Commands(), "sudo -n install -m 0600 -- "+staged+" "+dst, "what the listener saw is what was installed")
	f.assertStagingGone(t)
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
}

func TestTheFlagIsUpdateLauncher(t *testing.T) {
	flags := supervisor.New().(porter.FlagProvider).Flags()
	require.Len(t, flags, 1)
	assert.Equal(t, porter.Flag{Name: "update-launcher", Bool: true, Default: "false",
		Usage: "copy the supervisor launcher to the host even when it is already there"}, flags[0])

	// deploy --help lists it under the plugin's name (no supervisord needed).
	local := t.TempDir()
	portertest.WriteFiles(t, local, map[string]string{
		"project.ini":             "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		"app/app.ini":             "[module]\npath = /srv/app\n[plugin:" + supervisor.Name + "]\n",
		"app/supervisor/app.conf": launcher,
	})
	var stdout, stderr bytes.Buffer
	cli := &porter.CLI{Args: []string{"--project", local, "deploy", "--help"}, Stdout: &stdout, Stderr: &stderr}
	require.Equal(t, porter.ExitOK, cli.Run(context.Background()), stderr.String())
	_, plugin, ok := strings.Cut(stdout.String(), "\nplugin github.com/porter-deploy/porter/plugins/supervisor:\n")
	require.True(t, ok, stdout.String())
	plugin, _, _ = strings.Cut(plugin, "\n\n") // the plugin's flags end with a blank line
	assert.Equal(t, "      --update-launcher   copy the supervisor launcher to the host even when it is already there", plugin)
}

func TestSettingsErrors(t *testing.T) {
	local := t.TempDir()
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"):    "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"): "[module]\npath = /x\n[plugin:" + supervisor.Name + "]\nlauncher = web.conf\n",
	})
	where := "module app: app/app.ini [plugin:" + supervisor.Name + "]: "
	_, err := porter.LoadProject(local)
	assert.EqualError(t, err, where+"launcher app/supervisor/web.conf: no such file: create it, or set launcher = NAME of a file in app/supervisor")

	portertest.WriteFiles(t, "", map[string]string{filepath.Join(local, "app", "app.ini"): "[module]\npath = /x\n[plugin:" + supervisor.Name + "]\ngroup = x\n"})
	_, err = porter.LoadProject(local)
	assert.EqualError(t, err, where+`unknown key "group": use launcher, group_name, use_sudo, conf_dir or config`)
}

func TestVirtualenvFillsTheInstalledLauncherAndSupervisordRunsIt(t *testing.T) {
	if err := exec.Command("python3", "-c", "import venv, ensurepip").Run(); err != nil {
		t.Skip("python3 with venv is not installed: apt-get install python3-venv")
	}
	f := newFixture(t, hermeticPip(t)...)
	// The module path has a space: the launcher quotes __env__ as
	// supervisord splits command like a shell does.
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.local, "app", "supervisor", "app.conf"): `[group:app]
programs=web
[program:web]
command="__env__/bin/python" -c "import time; time.sleep(1000)"
directory=__project__
startsecs=0
autorestart=false
`})
	p := f.project(t, "", "[plugin:"+virtualenv.Name+"]\n")
	// The virtualenv is made beforehand, without pip (a tenth of a second,
	// where python3 -m venv with pip takes seconds): making one is the
	// virtualenv plugin's tests' job; here its test -x finds it, and the
	// launcher names its python.
	venv := filepath.Join(f.dest, ".venv")
	out, err := exec.Command("python3", "-m", "venv", "--without-pip", venv).CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, f.deploy(p, nil))
	assert.Equal(t, `[group:app]
programs=web
[program:web]
command="`+venv+`/bin/python" -c "import time; time.sleep(1000)"
directory=`+f.dest+`
startsecs=0
autorestart=false
`, read(t, filepath.Join(f.sv.confDir, "app.conf")))
	if !assert.Equal(t, "RUNNING", f.sv.state(t, "app:web")) {
		t.Log(f.sv.ctl(t, "tail", "app:web", "stderr"))
	}
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "mktemp -d", "test -x '" + venv + "/bin/python' || python3 -m venv -- '" + venv + "'",
		f.ctl("update"), f.ctl("start", "'app:*'")}, f.commands(0))
	f.assertStagingGone(t)
}

// hermeticPip returns the environment, for newFixture, that keeps the pip
// that python3 -m venv runs from the user's pip configuration and cache
// (PIP_CACHE_DIR, XDG_CACHE_HOME...: the portertest server only moves
// HOME) and from the network.
func hermeticPip(t *testing.T) []string {
	return []string{"PIP_CONFIG_FILE=" + os.DevNull, "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1", "XDG_CACHE_HOME=" + t.TempDir()}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}
