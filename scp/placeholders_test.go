package scp_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/scp"
)

func TestReplacePlaceholdersKeepsModeAndWritesValuesVerbatim(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "app.conf")
	write(t, file, "command=__env__/bin/gunicorn\ndirectory=__project__\nkeep=__other__ __env_x__\n", 0o640)

	hostile := `/srv/a b/'q"/$(touch ` + filepath.Join(dir, "pwned") + `)&\1`
	require.NoError(t, scp.ReplacePlaceholders(context.Background(), h, file, map[string]string{
		"env": "/venv", "project": hostile, "env_x": "X"}))

	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, "command=/venv/bin/gunicorn\ndirectory="+hostile+"\nkeep=__other__ X\n", string(b))
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o640), st.Mode().Perm(), "mode kept")
	assert.NoFileExists(t, filepath.Join(dir, "pwned"))
	assert.Empty(t, srv.Commands(), "SFTP only: no shell ever sees a value")
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "no temporary file left")
}

func TestReplacePlaceholdersLeavesAFileWithoutPlaceholdersUntouched(t *testing.T) {
	h := portertest.NewServer(t).Dial(t)
	file := filepath.Join(t.TempDir(), "f")
	write(t, file, "nothing to do\n", 0o600)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, os.Chtimes(file, old, old))
	require.NoError(t, scp.ReplacePlaceholders(context.Background(), h, file, map[string]string{"env": "x"}))
	st, err := os.Stat(file)
	require.NoError(t, err)
	assert.True(t, old.Equal(st.ModTime()), "not rewritten")
}

func TestReplacePlaceholdersFollowsSymlinks(t *testing.T) {
	h := portertest.NewServer(t).Dial(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "real.conf")
	write(t, target, "a=__v__\n", 0o644)
	link := filepath.Join(dir, "link.conf")
	require.NoError(t, os.Symlink("real.conf", link))
	require.NoError(t, scp.ReplacePlaceholders(context.Background(), h, link, map[string]string{"v": "1"}))
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "a=1\n", string(b))
	st, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&fs.ModeSymlink, "the link stays a link")
}

func TestReplacePlaceholdersErrors(t *testing.T) {
	h := portertest.NewServer(t).Dial(t)
	missing := filepath.Join(t.TempDir(), "missing.conf")
	err := scp.ReplacePlaceholders(context.Background(), h, missing, map[string]string{"v": "1"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, fs.ErrNotExist), "%v", err)
	assert.Contains(t, err.Error(), "replace placeholders in "+h.Name()+":"+missing)

	err = scp.ReplacePlaceholders(context.Background(), h, missing, map[string]string{"a__b": "1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `key "a__b"`)
}

// A module hook that fills the placeholders of a config file it shipped:
// __env__ and __project__ in <path>/app.conf.
func ExampleReplacePlaceholders() {
	porter.RegisterDeployment("example-placeholders", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePostSend, func(ctx context.Context, m *porter.Module, _ any) error {
			return scp.ReplacePlaceholders(ctx, m.Host(), path.Join(m.Path(), "app.conf"),
				map[string]string{"env": path.Join(m.Path(), ".venv"), "project": m.Path()})
		})
		return nil
	})
}
