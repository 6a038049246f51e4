package django_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/plugintest"
	"github.com/porter-deploy/porter/plugins/django"
	"github.com/porter-deploy/porter/plugins/virtualenv"
	"github.com/porter-deploy/porter/portertest"
)

const settings = "DEBUG = False\nSECRET_KEY = 's3cr3t'\n"

// project writes module app with a virtualenv section (venv) and the
// django section, and config/testing/local_settings.py.
func project(t *testing.T, dest, venv, section string) *porter.Project {
	t.Helper()
	local := t.TempDir()
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"): "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"): "[module]\npath = " + dest + "\n" +
			"[plugin:" + virtualenv.Name + "]\npath = " + venv + "\n" +
			"[plugin:" + django.Name + "]\n" + section,
		filepath.Join(local, "app", "config", "testing", "local_settings.py"): settings,
	})
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	return p
}

// fakePython puts a fake python into venv/bin: Django cannot be installed
// offline, so the test checks the exact command line the plugin runs and
// where it runs it. The fake records its arguments and working directory,
// and exits with status.
func fakePython(t *testing.T, venv, status string) string {
	t.Helper()
	record := filepath.Join(t.TempDir(), "argv")
	py := filepath.Join(venv, "bin", "python")
	portertest.WriteFiles(t, "", map[string]string{py: "#!/bin/sh\nprintf '%s|' \"$@\" > '" + record + "'\npwd >> '" + record + "'\nexit " + status + "\n"})
	require.NoError(t, os.Chmod(py, 0o755))
	return record
}

func deploy(srv *portertest.Server, p *porter.Project, flags map[string]string) error {
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing",
		Flags: flags, Force: porter.ForceAll()})
	return err
}

func TestCopiesTheSettingsFile(t *testing.T) {
	srv := portertest.NewServer(t)
	dest := filepath.Join(t.TempDir(), "the app")
	venv := filepath.Join(t.TempDir(), "the venv")
	fakePython(t, venv, "0")
	require.NoError(t, deploy(srv, project(t, dest, venv, ""), nil))
	b, err := os.ReadFile(filepath.Join(dest, "local_settings.py"))
	require.NoError(t, err)
	assert.Equal(t, settings, string(b))
	assert.Equal(t, []string{"test -x '" + venv + "/bin/python' || python3 -m venv -- '" + venv + "'"}, srv.Commands(),
		"no migration without --migrate-database")

	require.NoError(t, deploy(srv, project(t, dest, venv, "settings_dir = mysite\n"), nil))
	assert.FileExists(t, filepath.Join(dest, "mysite", "local_settings.py"))
}

func TestMigrateDatabaseRunsManagePyInThePathWithTheVirtualenvPython(t *testing.T) {
	srv := portertest.NewServer(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	parent := t.TempDir()
	dest := filepath.Join(parent, "app's $(touch "+marker+")")
	venv := filepath.Join(t.TempDir(), "v env")
	record := fakePython(t, venv, "0")
	p := project(t, dest, venv, "")
	require.NoError(t, deploy(srv, p, map[string]string{django.FlagMigrateDatabase: "true"}))
	assert.Equal(t, []string{
		"test -x '" + venv + "/bin/python' || python3 -m venv -- '" + venv + "'",
		`cd -- '` + parent + `/app'\''s $(touch ` + marker + `)' && '` + venv + `/bin/python' manage.py migrate --noinput`,
	}, srv.Commands())
	b, err := os.ReadFile(record)
	require.NoError(t, err)
	assert.Equal(t, "manage.py|migrate|--noinput|"+dest+"\n", string(b))
	assert.NoFileExists(t, marker)
}

func TestMigrateZeroNeverMigrates(t *testing.T) {
	srv := portertest.NewServer(t)
	dest, venv := filepath.Join(t.TempDir(), "app"), filepath.Join(t.TempDir(), "venv")
	record := fakePython(t, venv, "0")
	require.NoError(t, deploy(srv, project(t, dest, venv, "migrate = 0\n"), map[string]string{django.FlagMigrateDatabase: "true"}))
	assert.Len(t, srv.Commands(), 1, "the virtualenv check only")
	assert.NoFileExists(t, record)
}

func TestFailedMigrationFailsTheDeploy(t *testing.T) {
	srv := portertest.NewServer(t)
	dest, venv := filepath.Join(t.TempDir(), "app"), filepath.Join(t.TempDir(), "venv")
	fakePython(t, venv, "1")
	err := deploy(srv, project(t, dest, venv, ""), map[string]string{django.FlagMigrateDatabase: "true"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deploy app to test: source-post-send: plugin github.com/porter-deploy/porter/plugins/django: migrate the database: ")
	assert.Contains(t, err.Error(), "exit status 1")
}

func TestMissingSettingsFileFailsBeforeConnecting(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "app")
	p := project(t, dest, "venv", "settings_file = prod.py\n")
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: "nowhere.invalid:1"}, Config: "testing"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "app/app.ini [plugin:"+django.Name+"]: settings_file: ")
	assert.Contains(t, err.Error(), "config/testing/prod.py: no such file")
	assert.NoDirExists(t, dest)
}

func TestDescribesTheCopyAndTheMigrationAndRunsNothing(t *testing.T) {
	srv := portertest.NewServer(t)
	dest := filepath.Join(t.TempDir(), "the app")
	venv := filepath.Join(t.TempDir(), "the venv")
	p := project(t, dest, venv, "settings_dir = mysite\n")
	local := filepath.Join(p.Dir, "app", "config", "testing", "local_settings.py")
	require.NoError(t, os.Chmod(local, 0o600))
	before := plugintest.Snapshot(t, dest, venv, srv.Home())
	copyLine := "source-post-send: copy app/config/testing/local_settings.py to " + dest + "/mysite/local_settings.py (0600)"

	m := plugintest.Module(t, srv, p, "app", nil)
	assert.Equal(t, []string{copyLine, "source-post-send: skip migrate: --migrate-database not given"},
		plugintest.Describe(t, m, django.Name, porter.SigSourcePostSend))

	m = plugintest.Module(t, srv, p, "app", map[string]string{"migrate-database": "true"})
	assert.Equal(t, []string{copyLine, "source-post-send: run: cd -- '" + dest + "' && '" + venv + "/bin/python' manage.py migrate --noinput"},
		plugintest.Describe(t, m, django.Name, porter.SigSourcePostSend))

	p = project(t, dest, venv, "migrate = 0\n")
	m = plugintest.Module(t, srv, p, "app", map[string]string{"migrate-database": "true"})
	assert.Equal(t, []string{
		"source-post-send: copy app/config/testing/local_settings.py to " + dest + "/local_settings.py (0644)",
		"source-post-send: skip migrate: migrate = 0 in [plugin:" + django.Name + "]",
	}, plugintest.Describe(t, m, django.Name, porter.SigSourcePostSend))

	assert.Empty(t, srv.Commands(), "describing runs nothing")
	assert.Equal(t, before, plugintest.Snapshot(t, dest, venv, srv.Home()))
}
