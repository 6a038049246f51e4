//go:build unix

package localfs

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func listed(t *testing.T, p string) Listed {
	t.Helper()
	fi, err := os.Lstat(p)
	require.NoError(t, err)
	return ListedOf(fi)
}

func TestOpenListed(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f")
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte("mine"), 0o644))
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("secret"), 0o600))
	want := listed(t, p)

	f, _, err := OpenListed(p, want)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, "mine", string(b))
	f.Close()

	// The file swapped for a symlink.
	require.NoError(t, os.Rename(p, p+".old"))
	require.NoError(t, os.Symlink(secret, p))
	_, _, err = OpenListed(p, want)
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "now a symlink")

	// The directory above it swapped for a symlink to a directory holding
	// a file of the same name.
	require.NoError(t, os.Remove(p))
	require.NoError(t, os.Rename(p+".old", p))
	other := filepath.Join(dir, "other")
	require.NoError(t, os.MkdirAll(other, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(other, "f"), []byte("theirs"), 0o644))
	require.NoError(t, os.Rename(filepath.Dir(p), filepath.Dir(p)+".old"))
	require.NoError(t, os.Symlink(other, filepath.Dir(p)))
	_, _, err = OpenListed(p, want)
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "another file")

	// Gone.
	_, _, err = OpenListed(filepath.Join(dir, "nope"), want)
	require.ErrorIs(t, err, ErrChanged)

	// A FIFO in its place: no blocking open, an error.
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	_, _, err = OpenListed(fifo, want)
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "no longer a regular file")
}
