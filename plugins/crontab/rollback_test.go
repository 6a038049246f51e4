package crontab_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
)

// TestRollbackInstallsTheOldReleasesCrontab: with strategy = releases the
// crontab ships into each release; a rollback installs the one of the
// release it goes back to, as long as the installed crontab is the one of
// the release it leaves (porter installed it); one a person changed since
// is left alone.
func TestRollbackInstallsTheOldReleasesCrontab(t *testing.T) {
	t.Parallel()
	cron := fakeCrontab(t)
	srv := cron.server(t)
	dest := filepath.Join(t.TempDir(), "app")
	v1, v2 := "# v1\n*/5 * * * * /bin/true\n", "# v2\n*/9 * * * * /bin/true\n"
	p := project(t, dest, "", "app", v1, "")
	ini := filepath.Join(p.Dir, "app", "app.ini")
	b, err := os.ReadFile(ini)
	require.NoError(t, err)
	// A section is written once: the key goes into the one there is.
	require.NoError(t, os.WriteFile(ini, []byte(strings.Replace(string(b), "[module]\n", "[module]\nstrategy = releases\n", 1)), 0o644))
	p, err = porter.LoadProject(p.Dir)
	require.NoError(t, err)

	require.NoError(t, deploy(srv, p, update))
	require.NoError(t, os.WriteFile(filepath.Join(p.Dir, "app", "crontab", "app.crontab"), []byte(v2), 0o644))
	p, err = porter.LoadProject(p.Dir)
	require.NoError(t, err)
	// The crontab is not part of the module's version: force the deploy.
	_, err = porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Config: "testing",
		Flags: update, Force: porter.ForceAll()})
	require.NoError(t, err)
	got, _ := cron.get(t)
	require.Equal(t, v2, got)
	id2, err := os.Readlink(filepath.Join(dest, "current"))
	require.NoError(t, err)

	rollback := func() {
		t.Helper()
		_, err := porter.Rollback(context.Background(), p, porter.RollbackOptions{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}})
		require.NoError(t, err)
	}
	id1 := rollbackTarget(t, dest)
	rollback()
	got, _ = cron.get(t)
	assert.Equal(t, v1, got, "the old release's crontab")

	// Forward again, then a person edits the crontab: a rollback leaves it.
	_, err = porter.Rollback(context.Background(), p, porter.RollbackOptions{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Modules: []string{"app"}, To: filepath.Base(id2)})
	require.NoError(t, err)
	got, _ = cron.get(t)
	require.Equal(t, v2, got)
	cron.set(t, "# edited by hand\n")
	_, err = porter.Rollback(context.Background(), p, porter.RollbackOptions{Target: porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}, Modules: []string{"app"}, To: filepath.Base(id1)})
	require.NoError(t, err)
	got, _ = cron.get(t)
	assert.Equal(t, "# edited by hand\n", got)
}

// rollbackTarget is the release that is not current (of two).
func rollbackTarget(t *testing.T, dest string) string {
	t.Helper()
	cur, err := os.Readlink(filepath.Join(dest, "current"))
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join(dest, "releases"))
	require.NoError(t, err)
	for _, e := range entries {
		if e.Name() != filepath.Base(cur) {
			return e.Name()
		}
	}
	t.Fatal("one release only")
	return ""
}
