package supervisor_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/plugintest"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/portertest"
)

// describeProject writes module app with the supervisor section and its
// launcher, for describing: no supervisord is needed, as none is asked.
func describeProject(t *testing.T, dest, confDir, section string) *porter.Project {
	t.Helper()
	local := t.TempDir()
	portertest.WriteFiles(t, local, map[string]string{
		"project.ini":             "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		"app/app.ini":             "[module]\npath = " + dest + "\n[plugin:" + supervisor.Name + "]\nconf_dir = " + confDir + "\n" + section,
		"app/supervisor/app.conf": launcher,
	})
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	return p
}

var describedSignals = []porter.Signal{porter.SigDeployStart, porter.SigSourcePostSend, porter.SigDeployFinish, porter.SigDeployFailed, porter.SigRollbackFinish}

// TestDescribesWhatItWouldDoAndChangesNothing: supervisorctl's commands,
// the launcher's install or why not, and the undo; conf_dir is looked at
// over SFTP, and no command runs.
func TestDescribesWhatItWouldDoAndChangesNothing(t *testing.T) {
	srv := portertest.NewServer(t)
	dest, confDir := filepath.Join(t.TempDir(), "the app"), t.TempDir()
	p := describeProject(t, dest, confDir, "config = /etc/supervisor/my supervisord.conf\n")
	ctl := "supervisorctl -c '/etc/supervisor/my supervisord.conf' "
	dst := confDir + "/app.conf"
	start := []string{"deploy-start: run: " + ctl + "stop 'app:*'"}
	finish := []string{
		"deploy-finish: run: " + ctl + "update",
		"deploy-finish: run: " + ctl + "start 'app:*'",
		"deploy-failed: put back " + dst + " as it was, or remove it where there was none, if this deploy installed it",
		"deploy-failed: run: " + ctl + "update, if supervisord read the new launcher",
		"deploy-failed: run: " + ctl + "start 'app:*', if this deploy stopped the group and did not start it again",
		"rollback-finish: run: " + ctl + "restart 'app:*'",
	}
	install := []string{
		"source-post-send: run: mktemp -d (DIR, private to the SSH user)",
		"source-post-send: copy app/supervisor/app.conf to DIR/app.conf (0644)",
		"source-post-send: send supervisor-launcher-updated with DIR/app.conf",
		"source-post-send: install it as " + dst + " (0644), under a temporary name then renamed, over SFTP",
		"source-post-send: remove DIR",
	}

	m := plugintest.Module(t, srv, p, "app", nil)
	assert.Equal(t, concat(start, install, finish), plugintest.Describe(t, m, supervisor.Name, describedSignals...), "no launcher in conf_dir yet")

	portertest.WriteFiles(t, confDir, map[string]string{"app.conf": "old\n"})
	before := plugintest.Snapshot(t, dest, confDir, srv.Home())
	assert.Equal(t, concat(start, []string{"source-post-send: skip install launcher " + dst + ": it is there, and --update-launcher is not given"}, finish),
		plugintest.Describe(t, m, supervisor.Name, describedSignals...))

	m = plugintest.Module(t, srv, p, "app", updateLauncher)
	assert.Equal(t, concat([]string{"source-post-send: keep " + dst + " (read over SFTP), to put it back if the deploy fails"}, install),
		plugintest.Describe(t, m, supervisor.Name, porter.SigSourcePostSend))

	assert.Empty(t, srv.Commands(), "describing runs nothing")
	assert.Equal(t, before, plugintest.Snapshot(t, dest, confDir, srv.Home()))
}

// TestDescribesTheSudoCommands: with use_sudo, conf_dir is looked at with
// sudo -n test -e, the one command describing runs.
func TestDescribesTheSudoCommands(t *testing.T) {
	t.Parallel()
	srv := portertest.NewServer(t, portertest.WithEnv(fakeSudo(t)))
	dest, confDir := filepath.Join(t.TempDir(), "app"), t.TempDir()
	portertest.WriteFiles(t, confDir, map[string]string{"app.conf": "old\n"})
	before := portertest.Snapshot(t, confDir)
	m := plugintest.Module(t, srv, describeProject(t, dest, confDir, "use_sudo = true\n"), "app", updateLauncher)
	dst := confDir + "/app.conf"
	assert.Equal(t, []string{
		"deploy-start: run: sudo -n supervisorctl stop 'app:*'",
		"source-post-send: run: sudo -n cat -- " + dst + ", run: sudo -n stat -c %a -- " + dst + " (keep the launcher there, to put it back if the deploy fails)",
		"source-post-send: run: mktemp -d (DIR, private to the SSH user)",
		"source-post-send: copy app/supervisor/app.conf to DIR/app.conf (0644)",
		"source-post-send: send supervisor-launcher-updated with DIR/app.conf",
		"source-post-send: run: sudo -n install -m 0644 -- DIR/app.conf " + dst,
		"source-post-send: remove DIR",
		"deploy-finish: run: sudo -n supervisorctl update",
		"deploy-finish: run: sudo -n supervisorctl start 'app:*'",
		"deploy-failed: put back " + dst + " as it was (staged in a directory of mktemp -d, then sudo -n install -m MODE, its mode before the deploy), or sudo -n rm -f -- " + dst + " where there was none, if this deploy installed it",
		"deploy-failed: run: sudo -n supervisorctl update, if supervisord read the new launcher",
		"deploy-failed: run: sudo -n supervisorctl start 'app:*', if this deploy stopped the group and did not start it again",
		"rollback-finish: run: sudo -n supervisorctl restart 'app:*'",
	}, plugintest.Describe(t, m, supervisor.Name, describedSignals...))
	assert.Equal(t, []string{"sudo -n test -e " + dst}, srv.Commands(), "only the look at conf_dir")
	assert.Equal(t, before, portertest.Snapshot(t, confDir))
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
