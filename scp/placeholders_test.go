package scp_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// TestReplacePlaceholdersLongestKeyFirst: keys may not hold "__", so two
// placeholders can match at the same place only as __K__ and __K___ (key
// K_): there the longer one wins, whatever the order of the map.
// Shortest-first or by-name orders fail at every pair; an order left to the
// map fails unless all 16 pairs of each of 8 maps (each with its own hash
// seed) happen to come longest-first.
func TestReplacePlaceholdersLongestKeyFirst(t *testing.T) {
	h := portertest.NewServer(t).Dial(t)
	dir := t.TempDir()
	const pairs = 16
	for run := range 8 {
		values := map[string]string{}
		var text, want strings.Builder
		for i := range pairs {
			k := fmt.Sprintf("k%d", i)
			values[k] = "short" + k
			values[k+"_"] = "LONG" + k
			fmt.Fprintf(&text, "%s: __%s__ __%s___\n", k, k, k)
			fmt.Fprintf(&want, "%s: short%s LONG%s\n", k, k, k)
		}
		file := filepath.Join(dir, fmt.Sprint("run", run))
		write(t, file, text.String(), 0o644)
		require.NoError(t, scp.ReplacePlaceholders(context.Background(), h, file, values))
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, want.String(), string(b), "run %d", run)
	}

	// One pair, spelled out.
	file := filepath.Join(dir, "one")
	write(t, file, "__a___|__a__|__a____", 0o644)
	require.NoError(t, scp.ReplacePlaceholders(context.Background(), h, file, map[string]string{"a": "X", "a_": "Y"}))
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, "Y|X|Y_", string(b))
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
