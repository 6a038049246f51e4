package virtualenv_test

import (
	"archive/zip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/plugintest"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/plugins/virtualenv"
	"github.com/porter-deploy/porter/portertest"
)

// needVenv skips the test on a host without python3 and its venv module,
// and otherwise returns the server option that keeps pip hermetic: the
// portertest server gives commands a HOME of its own, but the pip that
// python3 -m venv and the plugin run would still follow the user's pip
// configuration and cache settings (PIP_CACHE_DIR, XDG_CACHE_HOME) and
// check the network for a newer pip. It goes to the server's commands
// (portertest.WithEnv), not this process: the tests run in parallel.
func needVenv(t *testing.T) portertest.ServerOption {
	t.Helper()
	if err := exec.Command("python3", "-c", "import venv, ensurepip").Run(); err != nil {
		t.Skip("python3 with venv and ensurepip is not installed: apt-get install python3-venv")
	}
	return portertest.WithEnv("PIP_CONFIG_FILE="+os.DevNull, "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1", "XDG_CACHE_HOME="+t.TempDir())
}

// wheel writes a pure-Python wheel of package name (version 1.0) into dir:
// pip installs it offline, with --no-index --find-links dir.
func wheel(t *testing.T, dir, name string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name+"-1.0-py3-none-any.whl"))
	require.NoError(t, err)
	defer f.Close()
	z := zip.NewWriter(f)
	info := name + "-1.0.dist-info/"
	for _, e := range []struct{ name, body string }{
		{name + "/__init__.py", "VALUE = " + `"` + name + `"` + "\n"},
		{info + "METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n"},
		{info + "WHEEL", "Wheel-Version: 1.0\nGenerator: porter-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{info + "RECORD", name + "/__init__.py,,\n" + info + "METADATA,,\n" + info + "WHEEL,,\n" + info + "RECORD,,\n"},
	} {
		w, err := z.Create(e.name)
		require.NoError(t, err)
		_, err = w.Write([]byte(e.body))
		require.NoError(t, err)
	}
	require.NoError(t, z.Close())
}

// project writes module app, whose source (src/) is sent to dest, with the
// virtualenv section, then more ini text.
func project(t *testing.T, dest, section, more string, src map[string]string) *porter.Project {
	t.Helper()
	p, err := porter.LoadProject(writeProject(t, dest, section, more, src))
	require.NoError(t, err)
	return p
}

// writeProject writes the project of project and returns its directory.
func writeProject(t *testing.T, dest, section, more string, src map[string]string) string {
	t.Helper()
	local := t.TempDir()
	files := map[string]string{
		filepath.Join(local, "project.ini"): "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"): "[module]\npath = " + dest + "\n[scm]\nurl = dir://src\n" +
			"[plugin:" + virtualenv.Name + "]\n" + section + more,
		filepath.Join(local, "app", "src", "app.py"): "print('app')\n",
	}
	for k, v := range src {
		files[filepath.Join(local, "app", "src", k)] = v
	}
	portertest.WriteFiles(t, "", files)
	return local
}

func deploy(srv *portertest.Server, p *porter.Project, flags map[string]string) error {
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing",
		Flags: flags, Force: porter.ForceAll()})
	return err
}

// last returns the commands the plugin ran: those that name a virtualenv
// (the source sync runs its own commands first).
func last(srv *portertest.Server) []string {
	return venvCommands(srv.Commands())
}

func venvCommands(cmds []string) []string {
	var out []string
	for _, c := range cmds {
		if strings.Contains(c, "venv") || strings.Contains(c, "pip") {
			out = append(out, c)
		}
	}
	return out
}

func TestCreatesTheVirtualenvOnceAndInstallsRequirementsOffline(t *testing.T) {
	t.Parallel()
	srv := portertest.NewServer(t, needVenv(t))
	wheels := t.TempDir()
	wheel(t, wheels, "tinyone")
	wheel(t, wheels, "tinytwo")
	dest := filepath.Join(t.TempDir(), "the app")
	venv := filepath.Join(dest, ".venv")
	p := project(t, dest, "requirements = tinyone==1.0, file:__destpath__/requirements.txt\n"+
		"pip_options = --no-index, --find-links="+wheels+"\n", "", map[string]string{"requirements.txt": "tinytwo\n"})

	// Without the flag: the virtualenv only.
	require.NoError(t, deploy(srv, p, nil))
	create := "test -x '" + venv + "/bin/python' || python3 -m venv -- '" + venv + "'"
	assert.Equal(t, []string{create}, last(srv))
	assert.FileExists(t, filepath.Join(venv, "bin", "python"))
	st1, err := os.Stat(filepath.Join(venv, "pyvenv.cfg"))
	require.NoError(t, err)

	// With --update-requirements: pip install, in the same virtualenv.
	n := len(srv.Commands())
	require.NoError(t, deploy(srv, p, map[string]string{virtualenv.FlagUpdateRequirements: "true"}))
	install := "'" + venv + "/bin/python' -m pip install --no-index --find-links=" + wheels +
		" tinyone==1.0 -r '" + dest + "/requirements.txt'"
	assert.Equal(t, []string{create, install}, venvCommands(srv.Commands()[n:]))
	st2, err := os.Stat(filepath.Join(venv, "pyvenv.cfg"))
	require.NoError(t, err)
	assert.Equal(t, st1.ModTime(), st2.ModTime(), "not created again")
	out, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import tinyone, tinytwo; print(tinyone.VALUE, tinytwo.VALUE)").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "tinyone tinytwo\n", string(out))
}

func TestHostileValuesAreArgumentsNotShell(t *testing.T) {
	t.Parallel()
	srv := portertest.NewServer(t, needVenv(t))
	marker := filepath.Join(t.TempDir(), "pwned")
	dest := filepath.Join(t.TempDir(), "app $(touch "+marker+")")
	venvDir := filepath.Join(t.TempDir(), "env; touch "+marker)
	p := project(t, dest, "path = "+venvDir+"\nrequirements = x; touch "+marker+"\npip_options = --no-index\n", "", nil)
	err := deploy(srv, p, map[string]string{virtualenv.FlagUpdateRequirements: "true"})
	require.Error(t, err, "pip refuses the requirement")
	assert.Contains(t, err.Error(), "deploy app to test: source-post-send: plugin github.com/porter-deploy/porter/plugins/virtualenv: install requirements in "+venvDir+": ")
	assert.FileExists(t, filepath.Join(venvDir, "bin", "python"), "the virtualenv is where path says, name and all")
	assert.NoFileExists(t, marker)
}

// sender is a test plugin that sends supervisor.SigLauncherUpdated for the
// file its section names, as the supervisor plugin does after copying a
// launcher (which needs a running supervisord: see that plugin's tests).
const sender = "github.com/porter-deploy/porter/plugins/virtualenv/sender_test"

type sendPlugin struct{}

func (sendPlugin) RegisterSignalHandlers(m *porter.Module) error {
	file := m.PluginSettings().String("file", "")
	m.PushSignalHandler(porter.SigDeployFinish, func(ctx context.Context, m *porter.Module, _ any) error {
		return m.Signal(ctx, supervisor.SigLauncherUpdated, supervisor.LauncherUpdated{Path: file})
	})
	return nil
}

func init() { porter.RegisterPlugin(sender, func() porter.Plugin { return sendPlugin{} }) }

func TestFillsTheLauncherPlaceholders(t *testing.T) {
	t.Parallel()
	srv := portertest.NewServer(t)
	dest := filepath.Join(t.TempDir(), "it's the app")
	conf := filepath.Join(t.TempDir(), "app.conf")
	portertest.WriteFiles(t, "", map[string]string{conf: "command=__env__/bin/gunicorn app\ndirectory=__project__\n"})
	require.NoError(t, os.Chmod(conf, 0o640))
	p := project(t, dest, "path = /srv/venvs/app\npython = /bin/true\n", "[plugin:"+sender+"]\nfile = "+conf+"\n", nil)
	require.NoError(t, deploy(srv, p, nil))
	b, err := os.ReadFile(conf)
	require.NoError(t, err)
	assert.Equal(t, "command=/srv/venvs/app/bin/gunicorn app\ndirectory="+dest+"\n", string(b))
	st, err := os.Stat(conf)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
}

// With strategy = releases the launcher names the live path, current, not
// the release being built: supervisord, restarted after a rollback, runs
// the release current points to again. pip still works in the new release.
func TestFillsTheLauncherThroughTheLivePath(t *testing.T) {
	t.Parallel()
	srv := portertest.NewServer(t)
	dest := filepath.Join(t.TempDir(), "app")
	conf := filepath.Join(t.TempDir(), "app.conf")
	portertest.WriteFiles(t, "", map[string]string{conf: "command=__env__/bin/gunicorn app\ndirectory=__project__\n"})
	p := project(t, dest+"\nstrategy = releases", "python = /bin/true\n", "[plugin:"+sender+"]\nfile = "+conf+"\n", nil)
	require.NoError(t, deploy(srv, p, nil))
	b, err := os.ReadFile(conf)
	require.NoError(t, err)
	assert.Equal(t, "command="+dest+"/current/.venv/bin/gunicorn app\ndirectory="+dest+"/current\n", string(b))
	cmds := last(srv)
	require.Len(t, cmds, 1)
	assert.Regexp(t, "^test -x "+regexp.QuoteMeta(dest)+"/releases/[^/]+/.venv/bin/python \\|\\| /bin/true -m venv -- ", cmds[0],
		"the virtualenv is made in the release being built")

	assert.Equal(t, []string{"supervisor-launcher-updated: fill in /x/launcher: __env__ = " + dest + "/current/.venv, __project__ = " + dest + "/current"},
		plugintest.DescribeWith(t, plugintest.Module(t, srv, p, "app", nil), virtualenv.Name, supervisor.SigLauncherUpdated, supervisor.LauncherUpdated{Path: "/x/launcher"}))
}

func TestCommandsAndDir(t *testing.T) {
	t.Parallel()
	p := project(t, "/srv/app", "path = venv\nrequirements = file:__destpath__/req.txt, Django>=4.2\npython = python3.12\n", "", nil)
	m, err := porter.LoadModule(p, "app")
	require.NoError(t, err)
	assert.Equal(t, "/srv/app/venv", virtualenv.Dir(m), "relative to the module path")
	assert.Equal(t, []string{"-r", "/srv/app/req.txt", "Django>=4.2"}, virtualenv.Requirements(m))
	assert.Equal(t, "test -x /srv/app/venv/bin/python || python3.12 -m venv -- /srv/app/venv", virtualenv.CreateCommand(m))
	cmd, ok := virtualenv.InstallCommand(m)
	assert.True(t, ok)
	assert.Equal(t, "/srv/app/venv/bin/python -m pip install -r /srv/app/req.txt 'Django>=4.2'", cmd)

	p = project(t, "/srv/app", "", "", nil)
	m, err = porter.LoadModule(p, "app")
	require.NoError(t, err)
	assert.Equal(t, "/srv/app/.venv", virtualenv.Dir(m))
	_, ok = virtualenv.InstallCommand(m)
	assert.False(t, ok)
}

func TestSettingsErrors(t *testing.T) {
	t.Parallel()
	for section, want := range map[string]string{
		"requirement = x\n":              `unknown key "requirement": use path, requirements, python or pip_options`,
		"requirements = --index-url=x\n": `requirements: "--index-url=x" looks like an option: put pip options in pip_options`,
		"python =\n":                     "python is empty: name the interpreter (e.g. python3.12) or remove the key",
	} {
		_, err := porter.LoadProject(writeProject(t, "/srv/app", section, "", nil))
		assert.EqualError(t, err, "module app: app/app.ini [plugin:"+virtualenv.Name+"]: "+want)
	}
}

func TestDescribesWhatItWouldRunAndRunsNothing(t *testing.T) {
	t.Parallel()
	srv := portertest.NewServer(t)
	dest := filepath.Join(t.TempDir(), "the app")
	venv := dest + "/.venv"
	create := "source-post-send: run: test -x '" + venv + "/bin/python' || python3 -m venv -- '" + venv + "'"
	sigs := []porter.Signal{porter.SigSourcePostSend, supervisor.SigLauncherUpdated}
	fill := "supervisor-launcher-updated: fill in the staged supervisor launcher: __env__ = " + venv + ", __project__ = " + dest
	update := map[string]string{"update-requirements": "true"}

	m := plugintest.Module(t, srv, project(t, dest, "", "", nil), "app", update)
	assert.Equal(t, []string{
		create + " (no " + venv + "/bin/python yet: it creates the virtualenv)",
		"source-post-send: skip pip install: no requirements in [plugin:" + virtualenv.Name + "]",
		fill,
	}, plugintest.Describe(t, m, virtualenv.Name, sigs...))

	portertest.WriteFiles(t, "", map[string]string{venv + "/bin/python": "#!/bin/sh\n"})
	require.NoError(t, os.Chmod(venv+"/bin/python", 0o755))
	before := plugintest.Snapshot(t, dest, srv.Home())
	p := project(t, dest, "requirements = git+https://bob:s3cret@git.example.com/lib.git, file:__destpath__/req.txt\n"+
		"pip_options = --index-url=https://ci:t0ken@pypi.example.com/simple\n", "", nil)
	m = plugintest.Module(t, srv, p, "app", update)
	assert.Equal(t, []string{
		create + " (" + venv + "/bin/python is there: it creates nothing)",
		"source-post-send: run: '" + venv + "/bin/python' -m pip install --index-url=https://********@pypi.example.com/simple " +
			"git+https://********@git.example.com/lib.git -r '" + dest + "/req.txt'",
		fill,
	}, plugintest.Describe(t, m, virtualenv.Name, sigs...))
	assert.Equal(t, []string{"supervisor-launcher-updated: fill in /x/launcher: __env__ = " + venv + ", __project__ = " + dest},
		plugintest.DescribeWith(t, m, virtualenv.Name, supervisor.SigLauncherUpdated, supervisor.LauncherUpdated{Path: "/x/launcher"}))

	m = plugintest.Module(t, srv, p, "app", nil)
	assert.Equal(t, []string{
		create + " (" + venv + "/bin/python is there: it creates nothing)",
		"source-post-send: skip pip install: --update-requirements not given",
	}, plugintest.Describe(t, m, virtualenv.Name, porter.SigSourcePostSend))

	assert.Empty(t, srv.Commands(), "describing runs nothing: the virtualenv is looked up over SFTP")
	assert.Equal(t, before, plugintest.Snapshot(t, dest, srv.Home()))
}
