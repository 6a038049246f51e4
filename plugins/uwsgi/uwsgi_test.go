package uwsgi_test

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/command"
	"github.com/porter-deploy/porter/plugins/uwsgi"
	"github.com/porter-deploy/porter/portertest"
)

const command = "github.com/porter-deploy/porter/plugins/command"

type fixture struct {
	srv           *portertest.Server
	local, dest   string
	vassals, pids string
}

func newFixture(t *testing.T) *fixture {
	return &fixture{srv: portertest.NewServer(t), local: t.TempDir(), dest: filepath.Join(t.TempDir(), "the app"),
		vassals: filepath.Join(t.TempDir(), "vassals dir"), pids: filepath.Join(t.TempDir(), "run dir")}
}

const apiIni = "[uwsgi]\nmodule = api:app\n"
const workerIni = "[uwsgi]\nmodule = worker:app\n"

// project writes module app with launchers api.ini and worker.ini, a
// domains.txt config, and the uwsgi section, then more.
func (f *fixture) project(t *testing.T, section, more string) *porter.Project {
	t.Helper()
	p, err := porter.LoadProject(f.write(t, section, more))
	require.NoError(t, err)
	return p
}

// write writes the project of project and returns its directory.
func (f *fixture) write(t *testing.T, section, more string) string {
	t.Helper()
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(f.local, "project.ini"): "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(f.local, "app", "app.ini"): "[module]\npath = " + f.dest + "\n[plugin:" + uwsgi.Name + "]\n" +
			"vassals_dir = " + f.vassals + "\npid_dir = " + f.pids + "\n" + section + more,
		filepath.Join(f.local, "app", "uwsgi", "api.ini"):                 apiIni,
		filepath.Join(f.local, "app", "uwsgi", "worker.ini"):              workerIni,
		filepath.Join(f.local, "app", "config", "testing", "domains.txt"): "example.org\n",
	})
	return f.local
}

func (f *fixture) deploy(p *porter.Project, flags map[string]string) error {
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}, Config: "testing",
		Flags: flags, Force: porter.ForceAll()})
	return err
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

func TestCopiesTheLaunchersOnceAndReplacesThemOnRequest(t *testing.T) {
	f := newFixture(t)
	p := f.project(t, "launchers = api.ini, worker.ini\ncopy_domains = true\n", "")
	require.NoError(t, f.deploy(p, nil))
	assert.Equal(t, apiIni, read(t, filepath.Join(f.vassals, "api.ini")))
	assert.Equal(t, workerIni, read(t, filepath.Join(f.vassals, "worker.ini")))
	assert.Equal(t, "example.org\n", read(t, filepath.Join(f.dest, "domains.txt")))
	assert.Empty(t, f.srv.Commands(), "copies go over SFTP; no --restart")

	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.vassals, "api.ini"): "edited on the host\n"})
	require.NoError(t, f.deploy(p, nil))
	assert.Equal(t, "edited on the host\n", read(t, filepath.Join(f.vassals, "api.ini")), "kept without --update-vassal-launcher")

	require.NoError(t, f.deploy(p, map[string]string{uwsgi.FlagUpdateVassalLauncher: "true"}))
	assert.Equal(t, apiIni, read(t, filepath.Join(f.vassals, "api.ini")))
}

func TestEmperorFalseCopiesNothing(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.deploy(f.project(t, "emperor = false\nlaunchers = api.ini\n", ""), nil))
	assert.NoDirExists(t, f.vassals)
}

func TestRestartSendsSIGHUPToEachMaster(t *testing.T) {
	f := newFixture(t)
	// The "master" is this test process: it catches SIGHUP, so the signal
	// the plugin sends through a real kill is seen here, with no polling.
	hup := make(chan os.Signal, 2)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	pid := strconv.Itoa(os.Getpid())
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.pids, "api.pid"): pid + "\n", filepath.Join(f.pids, "worker.pid"): pid})

	require.NoError(t, f.deploy(f.project(t, "launchers = api.ini, worker.ini\n", ""), map[string]string{uwsgi.FlagRestart: "true"}))
	assert.Equal(t, []string{
		"cat -- '" + f.pids + "/api.pid'",
		"cat -- '" + f.pids + "/worker.pid'",
		"kill -HUP " + pid,
		"kill -HUP " + pid,
	}, f.srv.Commands())
	for range 2 {
		select {
		case <-hup:
		case <-time.After(10 * time.Second):
			t.Fatal("no SIGHUP received")
		}
	}
}

func TestRestartRefusesAPidFileThatHoldsNoPid(t *testing.T) {
	for _, content := range []string{"1; touch PWNED", "0", "-1", "", "12 13", "$(touch PWNED)"} {
		t.Run(content, func(t *testing.T) {
			f := newFixture(t)
			portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.pids, "api.pid"): content})
			err := f.deploy(f.project(t, "launchers = api.ini\n", ""), map[string]string{uwsgi.FlagRestart: "true"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "deploy app to test: deploy-finish: plugin github.com/porter-deploy/porter/plugins/uwsgi: restart uwsgi api.ini: pid file "+f.pids+"/api.pid: holds ")
			assert.Contains(t, err.Error(), "not a process id: remove it and restart the master")
			assert.Equal(t, []string{"cat -- '" + f.pids + "/api.pid'"}, f.srv.Commands(), "no kill")
			assert.NoFileExists(t, filepath.Join(f.srv.Home(), "PWNED"))
		})
	}
}

func TestRestartWithoutPidFileNamesIt(t *testing.T) {
	f := newFixture(t)
	err := f.deploy(f.project(t, "launchers = api.ini\n", ""), map[string]string{uwsgi.FlagRestart: "true"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "restart uwsgi api.ini: read pid file "+f.pids+"/api.pid: ")
	assert.Contains(t, err.Error(), "is its master running with pidfile = "+f.pids+"/api.pid?")
}

func TestFailedDeployPutsTheLaunchersBack(t *testing.T) {
	f := newFixture(t)
	portertest.WriteFiles(t, "", map[string]string{filepath.Join(f.vassals, "api.ini"): "the old one\n"})
	require.NoError(t, os.Chmod(filepath.Join(f.vassals, "api.ini"), 0o600))
	p := f.project(t, "launchers = api.ini, worker.ini\n", "[plugin:"+command+"]\ndeploy-finish = exit 3\n")
	err := f.deploy(p, map[string]string{uwsgi.FlagUpdateVassalLauncher: "true"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `command "exit 3"`)
	assert.Equal(t, "the old one\n", read(t, filepath.Join(f.vassals, "api.ini")))
	st, err := os.Stat(filepath.Join(f.vassals, "api.ini"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.NoFileExists(t, filepath.Join(f.vassals, "worker.ini"), "a launcher the deploy added is removed")
}

func TestParsePid(t *testing.T) {
	n, err := uwsgi.ParsePid([]byte(" 4242\n"))
	require.NoError(t, err)
	assert.Equal(t, 4242, n)
	for _, bad := range []string{"", "1", "0", "-5", "+5", "05", "4242x", "1 2", "0x10", "99999999999999999999999"} {
		_, err := uwsgi.ParsePid([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestSettingsErrors(t *testing.T) {
	f := newFixture(t)
	where := "module app: app/app.ini [plugin:" + uwsgi.Name + "]: "
	for section, want := range map[string]string{
		"launchers = missing.ini\n": "launcher app/uwsgi/missing.ini: no such file: create it, or fix launchers",
		"launchers = ../api.ini\n":  `launchers: "../api.ini": name a file of app/uwsgi`,
		"launchers =\n":             "launchers is empty: list files of app/uwsgi",
		"copy_domains = maybe\n":    `copy_domains = "maybe": want true or false`,
		"vassal_dir = /x\n":         `unknown key "vassal_dir": use launchers, vassals_dir, pid_dir, copy_domains or emperor`,
	} {
		_, err := porter.LoadProject(f.write(t, section, ""))
		assert.EqualError(t, err, where+want)
	}
	// The default launcher is <module>.ini.
	_, err := porter.LoadProject(f.write(t, "", ""))
	assert.EqualError(t, err, where+"launcher app/uwsgi/app.ini: no such file: create it, or fix launchers")
}
