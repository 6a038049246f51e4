package crontab_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/command"
	"github.com/porter-deploy/porter/plugins/crontab"
	"github.com/porter-deploy/porter/portertest"
)

// These tests use a stand-in crontab, never the real one. The plugin runs
// crontab -l, crontab - < FILE and crontab -r on the host, and the
// portertest server runs them as local processes of the user running the
// tests: the real crontab would replace THAT user's crontab (and a run
// killed half-way would leave it replaced), while tests must change nothing
// outside their temporary directories. So each test that may run crontab
// first calls fakeCrontab, which puts first on the PATH a stand-in that
// behaves like Debian's crontab and keeps the crontab in a file of the
// test's temporary directory (standin_test.go). The only test of the real
// crontab, TestRealCrontabOfAThrowawayUser (realcron_test.go), runs only as
// root, for a throwaway user named by PORTER_TEST_CRONTAB_USER.

const command = "github.com/porter-deploy/porter/plugins/command"

// project writes a project whose module app, deployed to dest, has the
// crontab section (and any other ini text after it) and the crontab file
// name.crontab.
func project(t *testing.T, dest, section, name, content, more string) *porter.Project {
	t.Helper()
	p, err := porter.LoadProject(writeProject(t, dest, section, name, content, more))
	require.NoError(t, err)
	return p
}

// writeProject writes the project of project and returns its directory.
func writeProject(t *testing.T, dest, section, name, content, more string) string {
	t.Helper()
	local := t.TempDir()
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"):                     "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"):                  "[module]\npath = " + dest + "\n[plugin:" + crontab.Name + "]\n" + section + more,
		filepath.Join(local, "app", "crontab", name+".crontab"): content,
	})
	return local
}

func deploy(srv *portertest.Server, p *porter.Project, flags map[string]string) error {
	_, err := porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing",
		Flags: flags})
	return err
}

// update is the flag that makes the plugin install the crontab, spelled
// out: it is what users type.
var update = map[string]string{"update-crontab": "true"}

const good = "# porter test\n*/5 * * * * /bin/true\n"

func TestShipsTheCrontabWithoutInstallingIt(t *testing.T) {
	t.Parallel()
	cron := fakeCrontab(t)
	srv := cron.server(t)
	dest := filepath.Join(t.TempDir(), "the app")
	p := project(t, dest, "", "app", good, "")
	require.NoError(t, deploy(srv, p, nil))
	b, err := os.ReadFile(filepath.Join(dest, "app.crontab"))
	require.NoError(t, err)
	assert.Equal(t, good, string(b))
	assert.Empty(t, srv.Commands(), "shipped over SFTP; crontab not run without --update-crontab")
	_, installed := cron.get(t)
	assert.False(t, installed)
}

func TestTheFlagIsUpdateCrontab(t *testing.T) {
	t.Parallel()
	flags := crontab.New().(porter.FlagProvider).Flags()
	require.Len(t, flags, 1)
	assert.Equal(t, porter.Flag{Name: "update-crontab", Bool: true, Default: "false",
		Usage: "install the module's crontab (crontab - < FILE) at the end of the deploy"}, flags[0])

	// deploy --help lists it under the plugin's name.
	p := project(t, "/srv/app", "", "app", good, "")
	var stdout, stderr bytes.Buffer
	cli := &porter.CLI{Args: []string{"--project", p.Dir, "deploy", "--help"}, Stdout: &stdout, Stderr: &stderr}
	require.Equal(t, porter.ExitOK, cli.Run(context.Background()), stderr.String())
	_, plugin, ok := strings.Cut(stdout.String(), "\nplugin github.com/porter-deploy/porter/plugins/crontab:\n")
	require.True(t, ok, stdout.String())
	plugin, _, _ = strings.Cut(plugin, "\n\n") // the plugin's flags end with a blank line
	assert.Equal(t, "      --update-crontab   install the module's crontab (crontab - < FILE) at the end of the deploy", plugin)
}

func TestUpdateCrontabInstallsIt(t *testing.T) {
	t.Parallel()
	cron := fakeCrontab(t)
	srv := cron.server(t)
	dest := filepath.Join(t.TempDir(), "the app")
	p := project(t, dest, "file = jobs\n", "jobs", good, "")
	// Through the command line, as a user deploys.
	var stdout, stderr bytes.Buffer
	cli := &porter.CLI{
		Args:      []string{"--project", p.Dir, "deploy", "--host", "test", "--config", "testing", "--update-crontab"},
		Stdout:    &stdout,
		Stderr:    &stderr,
		Addresses: map[string]string{"test": srv.Address()},
		Dial:      srv.DialOptions(),
	}
	require.Equal(t, porter.ExitOK, cli.Run(context.Background()), stderr.String())
	assert.Equal(t, []string{"crontab -l", "crontab - < '" + dest + "/jobs.crontab'"}, srv.Commands())
	got, ok := cron.get(t)
	require.True(t, ok)
	assert.Equal(t, good, got)
}

func TestMalformedCrontabFailsAndKeepsTheInstalledOne(t *testing.T) {
	t.Parallel()
	cron := fakeCrontab(t)
	const before = "0 3 * * * /bin/echo before\n"
	cron.set(t, before)
	srv := cron.server(t)
	dest := filepath.Join(t.TempDir(), "the app")
	p := project(t, dest, "", "app", "# a job\nthis is not a crontab line\n", "")
	err := deploy(srv, p, update)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deploy app to test: deploy-finish: plugin github.com/porter-deploy/porter/plugins/crontab: install crontab "+dest+"/app.crontab: ")
	assert.Contains(t, err.Error(), `exit status 1: "-":1: bad minute`, "crontab's own words, naming the line")
	assert.Contains(t, err.Error(), "fix the lines crontab names in app/crontab/app.crontab")
	got, _ := cron.get(t)
	assert.Equal(t, before, got)
	assert.Equal(t, []string{"crontab -l", "crontab - < '" + dest + "/app.crontab'"}, srv.Commands(),
		"nothing to undo: the malformed crontab was never installed")
}

func TestAFailureAfterTheInstallPutsThePreviousCrontabBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		before string
		had    bool
		undo   string
	}{
		{"had one", "0 3 * * * /bin/echo before\n", true, "crontab -"},
		{"had none", "", false, "crontab -r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cron := fakeCrontab(t)
			if tc.had {
				cron.set(t, tc.before)
			}
			srv := cron.server(t)
			dest := filepath.Join(t.TempDir(), "the app")
			p := project(t, dest, "", "app", good, "[plugin:"+command+"]\ndeploy-finish = exit 3\n")
			err := deploy(srv, p, update)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `command "exit 3"`)
			got, had := cron.get(t)
			assert.Equal(t, tc.had, had)
			assert.Equal(t, tc.before, got)
			assert.Equal(t, []string{"crontab -l", "crontab - < '" + dest + "/app.crontab'", "cd -- '" + dest + "' && exit 3", tc.undo},
				srv.Commands())
		})
	}
}

func TestHostileFileNameIsRefusedAndMissingFileNamed(t *testing.T) {
	t.Parallel()
	where := "module app: app/app.ini [plugin:" + crontab.Name + "]: "
	_, err := porter.LoadProject(writeProject(t, "/srv/app", "file = ../x\n", "app", good, ""))
	assert.EqualError(t, err, where+`file = "../x": name a file NAME.crontab of app/crontab without its extension`)

	_, err = porter.LoadProject(writeProject(t, "/srv/app", "file = other\n", "app", good, ""))
	assert.EqualError(t, err, where+"app/crontab/other.crontab: no such file: create it, or set file = NAME of a NAME.crontab in app/crontab")
}

func TestQuotesTheRemotePath(t *testing.T) {
	t.Parallel()
	cron := fakeCrontab(t)
	srv := cron.server(t)
	parent := t.TempDir()
	dest := filepath.Join(parent, "x'; touch pwned; '")
	p := project(t, dest, "", "app", good, "")
	require.NoError(t, deploy(srv, p, update))
	assert.NoFileExists(t, filepath.Join(srv.Home(), "pwned"))
	assert.Equal(t, []string{"crontab -l", "crontab - < '" + parent + `/x'\''; touch pwned; '\''/app.crontab'`}, srv.Commands())
	got, _ := cron.get(t)
	assert.Equal(t, good, got)
}
