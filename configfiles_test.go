package porter_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
)

// seenAtPostSend holds, by module path, what the e2e-config module's own
// SigSourcePostSend handler found on the host: the config files must be in
// place before the hook's and the plugins' post-send handlers run.
var seenAtPostSend sync.Map

func init() {
	porter.RegisterDeployment("e2e-config", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(_ context.Context, m *porter.Module, _ any) error {
			b, err := os.ReadFile(filepath.Join(m.Path(), "settings.ini")) // the test host is this machine
			if err != nil {
				seenAtPostSend.Store(m.Path(), err.Error())
				return nil
			}
			seenAtPostSend.Store(m.Path(), string(b))
			return nil
		})
		return nil
	})
}

func configModule(ini string) map[string]string {
	return map[string]string{
		"project.ini":                                 "[project]\ndepends = e2e-config\n[hosts]\ntest = x@y\n",
		"e2e-config/e2e-config.ini":                   "[module]\npath = $REMOTE/app\n" + ini + "[scm]\nurl = dir://src\n",
		"e2e-config/src/index.html":                   "<h1>app</h1>\n",
		"e2e-config/src/settings.ini":                 "from the source, never shipped\n",
		"e2e-config/config/testing/settings.ini":      "debug = true\n",
		"e2e-config/config/testing/secrets/db.env":    "PASSWORD=s3cret\n",
		"e2e-config/config/testing/not-named.txt":     "not shipped\n",
		"e2e-config/config/production/settings.ini":   "debug = false\n",
		"e2e-config/config/production/secrets/db.env": "PASSWORD=prod\n",
	}
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	require.NoError(t, err)
	return st.Mode().Perm()
}

func TestConfigKeyShipsTheNamedFilesAfterTheSource(t *testing.T) {
	f := newFixture(t, configModule("config = settings.ini, secrets/db.env\ndelete = true\n"))
	secret := filepath.Join(f.local, "e2e-config/config/testing/secrets/db.env")
	require.NoError(t, os.Chmod(secret, 0o600))
	app := f.remote + "/app"

	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, porter.Deployed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, map[string]string{
		"index.html":     "<h1>app</h1>\n",
		"settings.ini":   "debug = true\n",
		"secrets/db.env": "PASSWORD=s3cret\n",
	}, readTree(t, app), "the named files of config/testing, over the source's; no temporary file left")
	assert.Equal(t, fs.FileMode(0o600), mode(t, app+"/secrets/db.env"), "a secret keeps its mode")
	assert.Equal(t, fs.FileMode(0o644), mode(t, app+"/settings.ini"))
	seen, _ := seenAtPostSend.Load(app)
	assert.Equal(t, "debug = true\n", seen, "the module's own post-send handler finds the config file in place")

	// A forced redeploy sends nothing and deletes nothing: the config files
	// are not the source's.
	rep, err = f.deploy(t, porter.Options{Force: porter.ForceAll()})
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Hosts[0].Modules[0].Sync.Sent, "the source's settings.ini is never sent over the config's")
	assert.Equal(t, 0, rep.Hosts[0].Modules[0].Sync.Deleted, "delete = true leaves the config files")
	assert.Equal(t, "debug = true\n", readTree(t, app)["settings.ini"])

	// A change of a named file, content or mode, redeploys the module.
	rep, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, porter.Unchanged, rep.Hosts[0].Modules[0].Outcome)
	require.NoError(t, os.WriteFile(secret, []byte("PASSWORD=new\n"), 0o600))
	rep, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, porter.Deployed, rep.Hosts[0].Modules[0].Outcome, "a changed config file counts in the settings hash")
	assert.Equal(t, "PASSWORD=new\n", readTree(t, app)["secrets/db.env"])
	require.NoError(t, os.Chmod(secret, 0o640))
	rep, err = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, porter.Deployed, rep.Hosts[0].Modules[0].Outcome, "so does its mode")
	assert.Equal(t, fs.FileMode(0o640), mode(t, app+"/secrets/db.env"))

	rep, err = f.deploy(t, porter.Options{Config: "production"})
	require.NoError(t, err)
	assert.Equal(t, porter.Deployed, rep.Hosts[0].Modules[0].Outcome)
	assert.Equal(t, "debug = false\n", readTree(t, app)["settings.ini"], "--config picks the directory")
}

func TestConfigKeyMissingFileFailsBeforeConnecting(t *testing.T) {
	f := newFixture(t, configModule("config = settings.ini, nope.ini\n"))
	_, err := f.deploy(t, porter.Options{})
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.EqualError(t, err, "module e2e-config: config testing: "+filepath.Join("e2e-config", "config", "testing", "nope.ini")+
		": file does not exist: create it, or take nope.ini out of config = in e2e-config/e2e-config.ini [module]")
	assert.Zero(t, f.srv.Connections(), "nothing connected, nothing sent")
	assert.NoDirExists(t, f.remote+"/app")
}

func TestConfigKeyNamesStayInTheConfigDir(t *testing.T) {
	for _, name := range []string{"../secrets.env", "/etc/passwd", "a/../../b", "./settings.ini", "a//b", ".porter/e2e-config/state.json", `a\b`} {
		t.Run(name, func(t *testing.T) {
			files := configModule("config = settings.ini, " + name + "\n")
			dir := portertest.WriteFiles(t, t.TempDir(), files)
			p, err := porter.LoadProject(dir)
			require.NoError(t, err)
			_, err = porter.LoadModule(p, "e2e-config", porter.WithConfig("testing"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "module e2e-config: e2e-config/e2e-config.ini [module]: config = settings.ini, "+name+": ")
			assert.Contains(t, err.Error(), "name a file under config/<NAME>/ of the module")
		})
	}
}

func TestCreatedProjectShipsItsTestingSettings(t *testing.T) {
	srv := portertest.NewServer(t)
	remoteDir := t.TempDir()
	dir := filepath.Join(t.TempDir(), "shop")
	f := &fixture{srv: srv, local: dir, remote: remoteDir}
	run := cliRunner(f, t.TempDir())
	code, out, errOut := run("create-project", dir)
	require.Equal(t, porter.ExitOK, code, errOut)
	assert.Contains(t, out, "created project "+dir)
	ini := filepath.Join(dir, "app", "app.ini")
	b, err := os.ReadFile(ini)
	require.NoError(t, err)
	require.Contains(t, string(b), "\nconfig = settings.ini\n")
	// Where the test host can write.
	edited := strings.Replace(string(b), "path-testing = /srv/shop-testing/app", "path-testing = "+remoteDir+"/app", 1)
	require.NotEqual(t, string(b), edited)
	require.NoError(t, os.WriteFile(ini, []byte(edited), 0o644))

	var stdout, stderr bytes.Buffer
	cli := &porter.CLI{Args: []string{"--project", dir, "deploy", "--host", "testing", "--config", "testing"},
		Stdout: &stdout, Stderr: &stderr, Addresses: map[string]string{"testing": srv.Address()}, Dial: srv.DialOptions()}
	require.Equal(t, porter.ExitOK, cli.Run(context.Background()), stderr.String())
	assert.Contains(t, stdout.String(), "app     deployed")
	assert.Contains(t, stderr.String(), "app: config copied file=settings.ini to="+remoteDir+"/app/settings.ini")
	assert.Equal(t, map[string]string{"index.html": "<h1>shop</h1>\n", "settings.ini": "[app]\ndebug = true\n"}, readTree(t, remoteDir+"/app"))
}
