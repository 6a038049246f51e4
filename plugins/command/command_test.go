package command_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/plugintest"
	"github.com/porter-deploy/porter/plugins/command"
	"github.com/porter-deploy/porter/portertest"
)

func project(t *testing.T, section string) (*porter.Project, string) {
	t.Helper()
	local, dest := writeProject(t, section)
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	return p, dest
}

// writeProject writes the project of project and returns its directory.
func writeProject(t *testing.T, section string) (local, dest string) {
	t.Helper()
	local, dest = t.TempDir(), filepath.Join(t.TempDir(), "the app")
	files := map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		"app/app.ini": "[module]\npath = " + dest + "\n[scm]\nurl = dir://src\n[plugin:" + command.Name + "]\n" + section,
		"app/src/f":   "x",
	}
	for rel, c := range files {
		p := filepath.Join(local, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(c), 0o644))
	}
	return local, dest
}

func TestCommandsRunAtTheirSignalsInThePath(t *testing.T) {
	srv := portertest.NewServer(t)
	log := filepath.Join(t.TempDir(), "log")
	section := strings.NewReplacer("LOG", log).Replace(
		"deploy-start = echo start >> LOG\n" +
			"source-pre-send = test -e f || echo pre-send:nofile >> LOG\n" +
			"source-post-send = test -e f && echo post-send:$(cat f) >> LOG\n" +
			"deploy-finish = echo finish:$(pwd) >> LOG\n" +
			"deploy-failed = echo failed >> LOG\n")
	p, dest := project(t, section)
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing"})
	require.NoError(t, err)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	assert.Equal(t, "start\npre-send:nofile\npost-send:x\nfinish:"+dest+"\n", string(b))
}

func TestFailingCommandStopsTheDeployAndRunsDeployFailed(t *testing.T) {
	srv := portertest.NewServer(t)
	log := filepath.Join(t.TempDir(), "log")
	p, _ := project(t, "source-post-send = exit 3\ndeploy-failed = echo undo >> "+log+"\n")
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `deploy app to test: source-post-send: plugin github.com/porter-deploy/porter/plugins/command: command "exit 3": `)
	assert.Contains(t, err.Error(), "exit status 3")
	b, _ := os.ReadFile(log)
	assert.Equal(t, "undo\n", string(b))
}

func TestSkipCommandsFlag(t *testing.T) {
	srv := portertest.NewServer(t)
	p, dest := project(t, "deploy-finish = touch RAN\n")
	rep, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing",
		Flags: map[string]string{"skip-commands": "true"}})
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(dest, "RAN"))
	assert.Equal(t, []porter.Skip{{Owner: command.Name, Step: `deploy-finish command "touch RAN"`, Why: "--skip-commands"}},
		rep.Hosts[0].Modules[0].Skipped)
}

func TestUnknownKeyIsAnError(t *testing.T) {
	local, _ := writeProject(t, "deploy-finsh = typo\n")
	_, err := porter.LoadProject(local)
	assert.EqualError(t, err, `module app: app/app.ini [plugin:`+command.Name+`]: unknown key "deploy-finsh": use deploy-start, source-pre-send, source-post-send, deploy-finish or deploy-failed`)
}

func TestDescribesTheCommandsItWouldRunAndRunsNone(t *testing.T) {
	srv := portertest.NewServer(t)
	p, dest := project(t, "deploy-start = echo start > STARTED\n"+
		"source-post-send = DB_PASSWORD=hunter2 ./manage.py check --token t0k\n"+
		"deploy-finish = curl -fsS https://bob:s3cret@example.com/hook\n"+
		"deploy-failed = systemctl start app\n")
	before := plugintest.Snapshot(t, dest, srv.Home())
	sigs := []porter.Signal{porter.SigDeployStart, porter.SigSourcePreSend, porter.SigSourcePostSend, porter.SigDeployFinish, porter.SigDeployFailed}

	m := plugintest.Module(t, srv, p, "app", nil)
	q := "'" + dest + "'"
	assert.Equal(t, []string{
		"deploy-start: run: cd -- " + q + " && echo start > STARTED",
		"source-post-send: run: cd -- " + q + " && DB_PASSWORD=******** ./manage.py check --token ********",
		"deploy-finish: run: cd -- " + q + " && curl -fsS https://********@example.com/hook",
		"deploy-failed: run: cd -- " + q + " && systemctl start app",
	}, plugintest.Describe(t, m, command.Name, sigs...))

	m = plugintest.Module(t, srv, p, "app", map[string]string{"skip-commands": "true"})
	assert.Equal(t, []string{
		`deploy-start: skip deploy-start command "echo start > STARTED": --skip-commands`,
		`source-post-send: skip source-post-send command "DB_PASSWORD=******** ./manage.py check --token ********": --skip-commands`,
		`deploy-finish: skip deploy-finish command "curl -fsS https://********@example.com/hook": --skip-commands`,
		`deploy-failed: skip deploy-failed command "systemctl start app": --skip-commands`,
	}, plugintest.Describe(t, m, command.Name, sigs...))

	assert.Empty(t, srv.Commands(), "describing runs nothing")
	assert.Equal(t, before, plugintest.Snapshot(t, dest, srv.Home()))
}
