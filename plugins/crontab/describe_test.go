package crontab_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/plugintest"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/plugins/crontab"
)

// TestDescribesWhatItWouldInstallAndChangesNothing: the plan's lines say
// where the crontab goes, whether it would be installed and how it
// compares with the installed one, what a failed deploy puts back and
// what a rollback installs; describing only reads the installed crontab.
func TestDescribesWhatItWouldInstallAndChangesNothing(t *testing.T) {
	t.Parallel()
	cron := fakeCrontab(t)
	srv := cron.server(t)
	dest := filepath.Join(t.TempDir(), "the app")
	p := project(t, dest, "file = root\n", "root", good, "")
	require.NoError(t, os.Chmod(filepath.Join(p.Dir, "app", "crontab", "root.crontab"), 0o600))
	sigs := []porter.Signal{porter.SigSourcePostSend, porter.SigDeployFinish, porter.SigDeployFailed, porter.SigRollbackFinish}
	file := dest + "/root.crontab"
	ship := "source-post-send: copy app/crontab/root.crontab to " + file + " (0600)"
	rollback := "rollback-finish: install, after a rollback, the crontab of the release it goes back to, if the installed crontab is the one of the release it leaves"
	before := plugintest.Snapshot(t, dest, srv.Home())

	m := plugintest.Module(t, srv, p, "app", nil)
	assert.Equal(t, []string{
		ship,
		"deploy-finish: skip install crontab " + file + ": --update-crontab not given (no crontab is installed now)",
		"deploy-failed: skip restore crontab: --update-crontab not given, so the deploy installs none",
		rollback,
	}, plugintest.Describe(t, m, crontab.Name, sigs...))

	cron.set(t, "# by hand\n@daily /bin/true\n*/2 * * * * /bin/true\n")
	m = plugintest.Module(t, srv, p, "app", update)
	assert.Equal(t, []string{
		ship,
		"deploy-finish: run: crontab -l (keep the installed crontab, to put it back if the deploy fails)",
		"deploy-finish: run: crontab - < '" + file + "' (differs from the installed crontab: 3 lines now, 2 in the new one)",
		"deploy-failed: run: crontab - with the crontab kept at deploy-finish, once the new one is installed",
		"deploy-failed: run: crontab -r instead, when no crontab was installed before",
		rollback,
	}, plugintest.Describe(t, m, crontab.Name, sigs...))

	cron.set(t, good)
	assert.Equal(t, []string{
		"deploy-finish: run: crontab -l (keep the installed crontab, to put it back if the deploy fails)",
		"deploy-finish: run: crontab - < '" + file + "' (the same as the installed crontab)",
	}, plugintest.Describe(t, m, crontab.Name, porter.SigDeployFinish))
	assert.Equal(t, []string{"rollback-finish: run: crontab - < '" + file + "' (if the installed crontab is the one of release 20260101T000000Z)"},
		plugintest.DescribeWith(t, m, crontab.Name, porter.SigRollbackFinish,
			porter.RollbackInfo{From: ledger.Release{ID: "20260101T000000Z"}, To: ledger.Release{ID: "20251231T000000Z"}}))

	assert.Equal(t, []string{"crontab -l", "crontab -l", "crontab -l"}, srv.Commands(), "describing only reads the crontab")
	got, _ := cron.get(t)
	assert.Equal(t, good, got)
	assert.Equal(t, before, plugintest.Snapshot(t, dest, srv.Home()))
}

// TestDescribeSaysTheInstallWouldFail when crontab -l fails on the host.
func TestDescribeSaysTheInstallWouldFail(t *testing.T) {
	t.Parallel()
	srv := fakeCrontab(t).server(t)
	dest := filepath.Join(t.TempDir(), "app")
	srv.FailCommands("crontab -l", 127, "sh: crontab: not found\x1b[2J")
	m := plugintest.Module(t, srv, project(t, dest, "", "app", good, ""), "app", update)
	lines := plugintest.Describe(t, m, crontab.Name, porter.SigDeployFinish)
	require.Len(t, lines, 2)
	assert.Equal(t, `deploy-finish: run: crontab - < `+dest+`/app.crontab (crontab -l fails now, so would the install: run "crontab -l" on `+srv.Address()+`: exit status 127: sh: crontab: not found\x1b[2J)`, lines[1], "the host's text escaped")
}
