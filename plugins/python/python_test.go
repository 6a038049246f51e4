package python_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/plugintest"
	"github.com/porter-deploy/porter/plugins/python"
	"github.com/porter-deploy/porter/portertest"
)

// project writes a project whose module app ships src/ to dest.
func project(t *testing.T, dest, section string) *porter.Project {
	t.Helper()
	p, err := porter.LoadProject(writeProject(t, dest, section))
	require.NoError(t, err)
	return p
}

// writeProject writes the project of project and returns its directory.
func writeProject(t *testing.T, dest, section string) string {
	t.Helper()
	local := t.TempDir()
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"):        "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"):     "[module]\npath = " + dest + "\n[scm]\nurl = dir://src\n[plugin:" + python.Name + "]\n" + section,
		filepath.Join(local, "app", "src", "a.py"): "print(1)\n",
	})
	return local
}

func deploy(t *testing.T, srv *portertest.Server, p *porter.Project) error {
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing"})
	return err
}

func TestDeletesPycAfterTheSend(t *testing.T) {
	srv := portertest.NewServer(t)
	dest := filepath.Join(t.TempDir(), "my app; touch pwned")
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(dest, "old.pyc"):                                 "x",
		filepath.Join(dest, "pkg", "__pycache__", "m.cpython-311.pyc"): "x",
		filepath.Join(dest, "keep.py"):                                 "x",
	})
	require.NoError(t, deploy(t, srv, project(t, dest, "")))
	cmds := srv.Commands()
	require.NotEmpty(t, cmds)
	assert.Equal(t, "if [ -d '"+dest+"' ]; then find -H '"+dest+"' -name '*.pyc' -delete; fi", cmds[len(cmds)-1],
		"the last command, right after the send")
	assert.NoFileExists(t, filepath.Join(srv.Home(), "pwned"), "the quoted path ran nothing")
	assert.NoFileExists(t, filepath.Join(dest, "old.pyc"))
	assert.NoFileExists(t, filepath.Join(dest, "pkg", "__pycache__", "m.cpython-311.pyc"))
	assert.FileExists(t, filepath.Join(dest, "keep.py"))
	assert.FileExists(t, filepath.Join(dest, "a.py"))
}

func TestMissingPathIsSkipped(t *testing.T) {
	srv := portertest.NewServer(t)
	dest := filepath.Join(t.TempDir(), "never sent")
	local := t.TempDir()
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"):    "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"): "[module]\npath = " + dest + "\n[plugin:" + python.Name + "]\n",
	})
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	require.NoError(t, deploy(t, srv, p))
	assert.Equal(t, []string{"if [ -d '" + dest + "' ]; then find -H '" + dest + "' -name '*.pyc' -delete; fi"}, srv.Commands())
}

func TestCleanCommandNeverPassesAnOption(t *testing.T) {
	assert.Equal(t, "if [ -d ./-rf ]; then find -H ./-rf -name '*.pyc' -delete; fi", python.CleanCommand("-rf"))
}

func TestSettingsAreRefused(t *testing.T) {
	_, err := porter.LoadProject(writeProject(t, t.TempDir(), "path = x\n"))
	assert.EqualError(t, err, `module app: app/app.ini [plugin:`+python.Name+`]: unknown key "path": the section takes no keys`)
}

func TestFollowsAModulePathThatIsASymlink(t *testing.T) {
	srv := portertest.NewServer(t)
	root := t.TempDir()
	release := filepath.Join(root, "releases", "x")
	outside := filepath.Join(root, "outside")
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(release, "old.pyc"):                                 "x",
		filepath.Join(release, "pkg", "__pycache__", "m.cpython-311.pyc"): "x",
		filepath.Join(release, "keep.py"):                                 "x",
		filepath.Join(outside, "other.pyc"):                               "x",
	})
	// A link below the path is not followed: only the path itself is.
	require.NoError(t, os.Symlink(outside, filepath.Join(release, "shared")))
	dest := filepath.Join(root, "current release")
	require.NoError(t, os.Symlink(filepath.Join("releases", "x"), dest))
	local := t.TempDir()
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"):    "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"): "[module]\npath = " + dest + "\n[plugin:" + python.Name + "]\n",
	})
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	require.NoError(t, deploy(t, srv, p))
	assert.Equal(t, []string{"if [ -d '" + dest + "' ]; then find -H '" + dest + "' -name '*.pyc' -delete; fi"}, srv.Commands())
	assert.NoFileExists(t, filepath.Join(release, "old.pyc"))
	assert.NoFileExists(t, filepath.Join(release, "pkg", "__pycache__", "m.cpython-311.pyc"))
	assert.FileExists(t, filepath.Join(release, "keep.py"))
	assert.FileExists(t, filepath.Join(outside, "other.pyc"), "a symlink below the path is not followed")
	fi, err := os.Lstat(dest)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "the link stays a link")
}

func TestDescribesTheCleanAndRunsNothing(t *testing.T) {
	srv := portertest.NewServer(t)
	dest := filepath.Join(t.TempDir(), "my app")
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(dest, "old.pyc"): "x"})
	before := plugintest.Snapshot(t, dest, srv.Home())
	m := plugintest.Module(t, srv, project(t, dest, ""), "app", nil)
	assert.Equal(t, []string{
		"source-post-send: run: if [ -d '" + dest + "' ]; then find -H '" + dest + "' -name '*.pyc' -delete; fi",
	}, plugintest.Describe(t, m, python.Name, porter.SigSourcePostSend))
	assert.Empty(t, srv.Commands(), "describing runs nothing")
	assert.Equal(t, before, plugintest.Snapshot(t, dest, srv.Home()))
}
