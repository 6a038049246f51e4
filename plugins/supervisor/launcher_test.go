package supervisor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/scp"
)

// The launcher with a placeholder a listener fills in.
const template = `[group:app]
programs=web
[program:web]
command=/bin/sleep __seconds__
startsecs=0
stopwaitsecs=2
autorestart=false
`

func TestListenersFillTheStagedLauncherBeforeItIsInstalled(t *testing.T) {
	f := newFixture(t)
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.local, "app", "supervisor", "app.conf"): template})
	f.setListen(t, func(ctx context.Context, m *porter.Module, lu supervisor.LauncherUpdated) error {
		assert.False(t, lu.UseSudo)
		f.assertStaged(t, lu, 0o644)
		assert.Equal(t, template, read(t, lu.Path), "the listener sees the staged launcher")
		assert.Empty(t, f.confFiles(t), "nothing in conf_dir before the listeners are done")
		return scp.ReplacePlaceholders(ctx, m.Host(), lu.Path, map[string]string{"seconds": "1000"})
	})
	require.NoError(t, f.deploy(f.project(t, "", "[plugin:"+listener+"]\n"), nil))
	assert.Equal(t, launcher, read(t, filepath.Join(f.sv.confDir, "app.conf")), "filled in")
	assert.Equal(t, []string{"app.conf"}, f.confFiles(t))
	f.assertStagingGone(t)
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "mktemp -d", f.ctl("update"), f.ctl("start", "'app:*'")}, f.commands(0))
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
}

func TestFailingListenerOnAFirstDeployInstallsNoLauncher(t *testing.T) {
	f := newFixture(t)
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.local, "app", "supervisor", "app.conf"): template})
	f.setListen(t, func(context.Context, *porter.Module, supervisor.LauncherUpdated) error {
		return errors.New("sftp: connection lost")
	})
	err := f.deploy(f.project(t, "", "[plugin:"+listener+"]\n"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sftp: connection lost")
	assert.Empty(t, f.confFiles(t), "no launcher with __seconds__ left for the next deploy to keep")
	f.assertStagingGone(t)
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "mktemp -d"}, f.commands(0), "the unknown group was not stopped: nothing to start")

	// The next deploy installs the launcher, filled in.
	f.setListen(t, func(ctx context.Context, m *porter.Module, lu supervisor.LauncherUpdated) error {
		return scp.ReplacePlaceholders(ctx, m.Host(), lu.Path, map[string]string{"seconds": "1000"})
	})
	require.NoError(t, f.deploy(f.project(t, "", "[plugin:"+listener+"]\n"), nil))
	assert.Equal(t, launcher, read(t, filepath.Join(f.sv.confDir, "app.conf")))
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
}

// redeployFixture deploys the launcher once, makes it 0640 with a known
// modification time, and changes the local launcher.
func redeployFixture(t *testing.T) (f *fixture, dst string, mtime time.Time) {
	f = newFixture(t)
	require.NoError(t, f.deploy(f.project(t, "", ""), nil))
	require.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
	dst = filepath.Join(f.sv.confDir, "app.conf")
	mtime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, os.Chmod(dst, 0o640))
	require.NoError(t, os.Chtimes(dst, mtime, mtime))
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.local, "app", "supervisor", "app.conf"): strings.Replace(launcher, "sleep 1000", "sleep 2000", 1)})
	return f, dst, mtime
}

func assertOldLauncher(t *testing.T, f *fixture, dst string, mtime time.Time) {
	t.Helper()
	assert.Equal(t, launcher, read(t, dst), "the old launcher")
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	assert.True(t, st.ModTime().Equal(mtime), "mtime %v", st.ModTime())
	assert.Equal(t, []string{"app.conf"}, f.confFiles(t), "no temporary file left")
	f.assertStagingGone(t)
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
}

func TestFailingListenerKeepsTheOldLauncherAndStartsTheGroup(t *testing.T) {
	f, dst, mtime := redeployFixture(t)
	n := len(f.srv.Commands())
	f.setListen(t, func(context.Context, *porter.Module, supervisor.LauncherUpdated) error {
		return errors.New("sftp: connection lost")
	})
	err := f.deploy(f.project(t, "", "[plugin:"+listener+"]\n"), updateLauncher)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deploy app to test: supervisor-launcher-updated: plugin github.com/porter-deploy/porter/plugins/supervisor/listener_test: sftp: connection lost")
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "mktemp -d", f.ctl("start", "'app:*'")}, f.commands(n))
	assertOldLauncher(t, f, dst, mtime)
}

func TestInterruptedListenerKeepsTheOldLauncherAndStartsTheGroup(t *testing.T) {
	f, dst, mtime := redeployFixture(t)
	n := len(f.srv.Commands())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.setListen(t, func(ctx context.Context, _ *porter.Module, _ supervisor.LauncherUpdated) error {
		cancel() // Ctrl-C while the listener works
		<-ctx.Done()
		return ctx.Err()
	})
	err := f.deployCtx(ctx, f.project(t, "", "[plugin:"+listener+"]\n"), updateLauncher)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "mktemp -d", f.ctl("start", "'app:*'")}, f.commands(n))
	assertOldLauncher(t, f, dst, mtime)
}

func TestFailureAfterTheInstallPutsTheOldLauncherBack(t *testing.T) {
	f, dst, mtime := redeployFixture(t)
	n := len(f.srv.Commands())
	// The command's section comes after the supervisor's: it fails once the launcher is installed.
	p := f.project(t, "", "[plugin:"+command+"]\nsource-post-send = exit 3\n")
	err := f.deploy(p, updateLauncher)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `deploy app to test: source-post-send: plugin github.com/porter-deploy/porter/plugins/command: command "exit 3"`)
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "mktemp -d", "cd -- '" + f.dest + "' && exit 3", f.ctl("start", "'app:*'")},
		f.commands(n), "stopped, failed, launcher put back, started again: never update")
	assertOldLauncher(t, f, dst, mtime)
}

func TestFailureAfterTheInstallOnAFirstDeployRemovesTheLauncher(t *testing.T) {
	f := newFixture(t)
	p := f.project(t, "", "[plugin:"+command+"]\nsource-post-send = test -e "+filepath.Join(f.sv.confDir, "app.conf")+" && exit 3\n")
	err := f.deploy(p, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exit status 3", "the launcher was installed when the command ran")
	assert.Empty(t, f.confFiles(t))
	f.assertStagingGone(t)
	assert.Equal(t, []string{f.ctl("stop", "'app:*'"), "mktemp -d", "cd -- '" + f.dest + "' && test -e " + filepath.Join(f.sv.confDir, "app.conf") + " && exit 3"}, f.commands(0),
		"stop (an unknown group), the command: nothing to start")
}

func TestFailedStartPutsTheOldLauncherBackAndUpdatesAgain(t *testing.T) {
	f, dst, mtime := redeployFixture(t)
	n := len(f.srv.Commands())
	// A launcher supervisord loads but cannot start (autostart = false: the
	// start command spawns it, and reports the failure).
	missing := filepath.Join(t.TempDir(), "no-such-program")
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.local, "app", "supervisor", "app.conf"): strings.Replace(launcher, "/bin/sleep 1000", missing+"\nautostart=false", 1)})
	err := f.deploy(f.project(t, "", ""), updateLauncher)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deploy app to test: deploy-finish: plugin github.com/porter-deploy/porter/plugins/supervisor: start supervisor group app: ")
	assert.Equal(t, []string{
		f.ctl("stop", "'app:*'"), "mktemp -d", f.ctl("update"), f.ctl("start", "'app:*'"),
		f.ctl("update"), f.ctl("start", "'app:*'"),
	}, f.commands(n), "the failed start, then the old launcher read again and the group started")
	assertOldLauncher(t, f, dst, mtime)
}

func TestUseSudoFailedDeployPutsTheOldLauncherBack(t *testing.T) {
	f := newFixture(t, fakeSudo(t))
	require.NoError(t, f.deploy(f.project(t, "use_sudo = true\n", ""), nil))
	dst := filepath.Join(f.sv.confDir, "app.conf")
	require.Equal(t, launcher, read(t, dst))
	n := len(f.srv.Commands())

	require.NoError(t, os.Chmod(dst, 0o640))
	local := filepath.Join(f.local, "app", "supervisor", "app.conf")
	portertest.WriteFiles(t, "", map[string]string{local: strings.Replace(launcher, "sleep 1000", "sleep 2000", 1)})
	require.NoError(t, os.Chmod(local, 0o600))
	p := f.project(t, "use_sudo = true\n", "[plugin:"+command+"]\nsource-post-send = exit 3\n")
	require.Error(t, f.deploy(p, updateLauncher))
	assert.Equal(t, []string{
		"sudo -n " + f.ctl("stop", "'app:*'"),
		"sudo -n test -e " + dst,
		"sudo -n cat -- " + dst,
		"sudo -n stat -c %a -- " + dst,
		"mktemp -d",
		"sudo -n install -m 0600 -- TMP/app.conf " + dst,
		"cd -- '" + f.dest + "' && exit 3",
		"mktemp -d",
		"sudo -n install -m 0640 -- TMP/app.conf " + dst,
		"sudo -n " + f.ctl("start", "'app:*'"),
	}, f.commands(n), "the new launcher installed 0600 as the local one is; the old one put back 0640 as it was")
	assert.Equal(t, launcher, read(t, dst))
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	assert.Equal(t, []string{"app.conf"}, f.confFiles(t))
	f.assertStagingGone(t)
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))

	// A failing listener: nothing installed, nothing to put back.
	n = len(f.srv.Commands())
	f.setListen(t, func(context.Context, *porter.Module, supervisor.LauncherUpdated) error { return errors.New("boom") })
	p = f.project(t, "use_sudo = true\n", "[plugin:"+listener+"]\n")
	require.Error(t, f.deploy(p, updateLauncher))
	assert.Equal(t, []string{
		"sudo -n " + f.ctl("stop", "'app:*'"),
		"sudo -n test -e " + dst,
		"sudo -n cat -- " + dst,
		"sudo -n stat -c %a -- " + dst,
		"mktemp -d",
		"sudo -n " + f.ctl("start", "'app:*'"),
	}, f.commands(n))
	assert.Equal(t, launcher, read(t, dst))
	f.assertStagingGone(t)
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
}
