package crontab_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
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

const command = "github.com/porter-deploy/porter/plugins/command"

// project writes a project whose module app has the crontab section (and
// any other ini text after it) and the crontab file name.crontab.
func project(t *testing.T, section, name, content, more string) (*porter.Project, string) {
	t.Helper()
	local, dest := t.TempDir(), filepath.Join(t.TempDir(), "the app")
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"):                     "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"):                  "[module]\npath = " + dest + "\n[plugin:" + crontab.Name + "]\n" + section + more,
		filepath.Join(local, "app", "crontab", name+".crontab"): content,
	})
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	return p, dest
}

func deploy(srv *portertest.Server, p *porter.Project, flags map[string]string) error {
	_, err := porter.Deploy(context.Background(), p, porter.Options{Host: "test", Config: "testing",
		Address: srv.Address(), Dial: srv.DialOptions(), Flags: flags})
	return err
}

// userCrontab returns the crontab of the user running the tests (the
// portertest server runs commands as that user), "" when none.
func userCrontab(t *testing.T) (string, bool) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("crontab", "-l")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && strings.Contains(stderr.String(), "no crontab") {
		return "", false
	}
	require.NoError(t, err, stderr.String())
	return string(out), true
}

func setCrontab(t *testing.T, content string, ok bool) {
	t.Helper()
	cmd := exec.Command("crontab", "-r")
	if ok {
		cmd = exec.Command("crontab", "-")
		cmd.Stdin = strings.NewReader(content)
	}
	out, err := cmd.CombinedOutput()
	if !ok && strings.Contains(string(out), "no crontab") {
		return
	}
	require.NoError(t, err, string(out))
}

// needCrontab skips the test without cron's crontab, and otherwise puts the
// user's crontab back as it was when the test ends: these tests install
// crontabs for real.
func needCrontab(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("crontab"); err != nil {
		t.Skip("crontab is not installed: apt-get install cron (the CI script installs it)")
	}
	old, had := userCrontab(t)
	t.Cleanup(func() { setCrontab(t, old, had) })
}

const good = "# porter test\n*/5 * * * * /bin/true\n"

func TestShipsTheCrontabWithoutInstallingIt(t *testing.T) {
	srv := portertest.NewServer(t)
	p, dest := project(t, "", "app", good, "")
	require.NoError(t, deploy(srv, p, nil))
	b, err := os.ReadFile(filepath.Join(dest, "app.crontab"))
	require.NoError(t, err)
	assert.Equal(t, good, string(b))
	assert.Empty(t, srv.Commands(), "shipped over SFTP; crontab not run without --update-crontab")
}

func TestUpdateCrontabInstallsIt(t *testing.T) {
	needCrontab(t)
	setCrontab(t, "", false)
	srv := portertest.NewServer(t)
	p, dest := project(t, "file = jobs\n", "jobs", good, "")
	require.NoError(t, deploy(srv, p, map[string]string{crontab.FlagUpdateCrontab: "true"}))
	assert.Equal(t, []string{"crontab -l", "crontab - < '" + filepath.Join(dest, "jobs.crontab") + "'"}, srv.Commands())
	got, ok := userCrontab(t)
	require.True(t, ok)
	assert.Equal(t, good, got)
}

func TestMalformedCrontabFailsAndKeepsTheInstalledOne(t *testing.T) {
	needCrontab(t)
	const before = "0 3 * * * /bin/echo before\n"
	setCrontab(t, before, true)
	srv := portertest.NewServer(t)
	p, _ := project(t, "", "app", "this is not a crontab line\n", "")
	err := deploy(srv, p, map[string]string{crontab.FlagUpdateCrontab: "true"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deploy app to test: deploy-finish: install crontab ")
	assert.Contains(t, err.Error(), "fix the lines crontab names in app/crontab/app.crontab")
	got, _ := userCrontab(t)
	assert.Equal(t, before, got)
}

func TestAFailureAfterTheInstallPutsThePreviousCrontabBack(t *testing.T) {
	needCrontab(t)
	for _, tc := range []struct {
		name   string
		before string
		had    bool
	}{{"had one", "0 3 * * * /bin/echo before\n", true}, {"had none", "", false}} {
		t.Run(tc.name, func(t *testing.T) {
			setCrontab(t, tc.before, tc.had)
			srv := portertest.NewServer(t)
			p, _ := project(t, "", "app", good, "[plugin:"+command+"]\ndeploy-finish = exit 3\n")
			err := deploy(srv, p, map[string]string{crontab.FlagUpdateCrontab: "true"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `command "exit 3"`)
			got, had := userCrontab(t)
			assert.Equal(t, tc.had, had)
			assert.Equal(t, tc.before, got)
			cmds := srv.Commands()
			want := "crontab -r"
			if tc.had {
				want = "crontab -"
			}
			assert.Equal(t, want, cmds[len(cmds)-1])
		})
	}
}

func TestHostileFileNameIsRefusedAndMissingFileNamed(t *testing.T) {
	p, _ := project(t, "file = ../x\n", "app", good, "")
	_, err := porter.LoadModule(p, "app")
	assert.ErrorContains(t, err, `file = "../x": name a file NAME.crontab of app/crontab without its extension`)

	p, _ = project(t, "file = other\n", "app", good, "")
	_, err = porter.LoadModule(p, "app")
	assert.ErrorContains(t, err, "app/crontab/other.crontab: no such file: create it, or set file = NAME")
}

func TestQuotesTheRemotePath(t *testing.T) {
	needCrontab(t)
	srv := portertest.NewServer(t)
	local := t.TempDir()
	dest := filepath.Join(t.TempDir(), "x'; touch pwned; '")
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"):                   "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"):                "[module]\npath = " + dest + "\n[plugin:" + crontab.Name + "]\n",
		filepath.Join(local, "app", "crontab", "app.crontab"): good,
	})
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	require.NoError(t, deploy(srv, p, map[string]string{crontab.FlagUpdateCrontab: "true"}))
	assert.NoFileExists(t, filepath.Join(srv.Home(), "pwned"))
	got, _ := userCrontab(t)
	assert.Equal(t, good, got)
}
