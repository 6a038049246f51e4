package scm

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWalkTreeListsEverythingSorted: every entry once, sorted by its
// slash path (so "a.txt" before "a/b"), .git directories below the root
// left out with what they hold, a symlink to a directory listed as a link
// and not followed, and each entry's lstat.
func TestWalkTreeListsEverythingSorted(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/b/c", "a/.git/objects", ".git", "z", "m/.gitx"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"a.txt", "a/b/c/deep", "a/.git/HEAD", ".git/HEAD", "z/1", "m/.gitx/f"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, f), []byte(f), 0o644))
	}
	require.NoError(t, os.Symlink("a", filepath.Join(root, "link")))
	tree, err := walkTree(context.Background(), root)
	require.NoError(t, err)
	var got []string
	for _, w := range tree {
		got = append(got, filepath.ToSlash(w.rel))
		want, err := os.Lstat(filepath.Join(root, w.rel))
		require.NoError(t, err)
		assert.Equal(t, want.Mode(), w.info.Mode(), w.rel)
		assert.Equal(t, want.Size(), w.info.Size(), w.rel)
	}
	assert.Equal(t, []string{".", "a", "a.txt", "a/b", "a/b/c", "a/b/c/deep", "link", "m", "m/.gitx", "m/.gitx/f", "z", "z/1"}, got)
}

// TestWalkTreeErrors: a root that does not exist, a directory that cannot
// be read (as a plain user), and an ended context stop the walk with the
// error.
func TestWalkTreeErrors(t *testing.T) {
	_, err := walkTree(context.Background(), filepath.Join(t.TempDir(), "nope"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(root, "d"), 0o755))
	_, err = walkTree(ctx, root)
	assert.ErrorIs(t, err, context.Canceled)

	if os.Geteuid() == 0 {
		t.Skip("root reads every directory: the unreadable case runs as a plain user")
	}
	require.NoError(t, os.Chmod(filepath.Join(root, "d"), 0))
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "d"), 0o755) })
	_, err = walkTree(context.Background(), root)
	assert.ErrorIs(t, err, os.ErrPermission)
	assert.Contains(t, err.Error(), "open "+filepath.Join(root, "d"))
}
