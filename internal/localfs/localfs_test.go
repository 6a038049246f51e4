package localfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWalkFollowsLinksInOrder(t *testing.T) {
	shared, root := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(shared, "s.conf"), []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(root, "b"), []byte("b"), 0o644))
	require.NoError(t, os.Symlink(shared, filepath.Join(root, "a-linked-dir")))
	require.NoError(t, os.Symlink(filepath.Join(shared, "s.conf"), filepath.Join(root, "c-linked-file")))
	var got []string
	require.NoError(t, Walk(root, func(_, rel string, info fs.FileInfo) error {
		got = append(got, rel+" "+info.Mode().String())
		return nil
	}))
	assert.Equal(t, []string{".", "a-linked-dir", "a-linked-dir/s.conf", "b", "c-linked-file"}, trimModes(got))
	assert.Contains(t, got, "c-linked-file -rw-------", "a link is seen as its target")
}

func trimModes(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l[:len(l)-11]
	}
	return out
}

func TestWalkRefusesLoopsAndDanglingLinks(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.Symlink(root, filepath.Join(root, "loop")))
	err := Walk(root, func(string, string, fs.FileInfo) error { return nil })
	assert.ErrorContains(t, err, "loop: a symlink loop: it leads back to")

	root = t.TempDir()
	require.NoError(t, os.Symlink(filepath.Join(root, "nowhere"), filepath.Join(root, "dangling")))
	err = Walk(root, func(string, string, fs.FileInfo) error { return nil })
	assert.ErrorIs(t, err, fs.ErrNotExist)
}
