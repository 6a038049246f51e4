package rsync

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// noShellHosts runs fn against hosts on which no remote shell starts: a
// real OpenSSH that runs every session as its SFTP server (ForceCommand
// internal-sftp, as an SFTP-only account has it), and portertest's server
// with a login shell that fails.
func noShellHosts(t *testing.T, fn func(t *testing.T, h *remote.Host)) {
	t.Run("openssh-sftp-only", func(t *testing.T) {
		fn(t, sshdtest.Start(t, sshdtest.WithConfig("ForceCommand internal-sftp")).Dial(t))
	})
	t.Run("login-shell-fails", func(t *testing.T) {
		fn(t, portertest.NewServer(t, portertest.WithLoginShell("/bin/false")).Dial(t))
	})
}

// On a host with no remote shell, a sync removes directory trees (Delete,
// and a directory the source has as a file) and the staging directory a
// killed sync left, with SFTP requests: a symlink in a removed tree is
// removed, never followed, and what it points to is left as it was.
func TestSyncWithoutShellRemovesTrees(t *testing.T) {
	noShellHosts(t, func(t *testing.T, h *remote.Host) {
		root := tempDir(t)
		src, dst, outside := filepath.Join(root, "src"), filepath.Join(root, "dst"), filepath.Join(root, "outside")
		build(t, src, f("a/keep.txt", "newer", 0o644), f("x", "now a file", 0o644))
		build(t, outside, f("precious.txt", "keep me", 0o644), d("dir", 0o755), f("dir/also.txt", "and me", 0o644))
		build(t, dst,
			f("a/keep.txt", "old", 0o644),
			d("gone", 0o755), f("gone/g.txt", "g", 0o644), d("gone/sub/deep", 0o755), f("gone/sub/deep/f.txt", "f", 0o600),
			l("gone/to-file", filepath.Join(outside, "precious.txt")), l("gone/to-dir", filepath.Join(outside, "dir")),
			d("x", 0o755), f("x/y.txt", "y", 0o644),
			// A killed sync's staging directory, read-only parts and all.
			d(".porter-tmp-0123456789abcdef/t0/sub", 0o500), f(".porter-tmp-0123456789abcdef/t0/sub/z", "z", 0o400),
			l(".porter-tmp-0123456789abcdef/0", filepath.Join(outside, "dir")),
			f(".porter-tmp-feedfacefeedface", "not a directory", 0o644),
		)
		outsideBefore := snapshot(t, outside)

		st, err := Sync(context.Background(), h, src, dst, Options{Delete: true})
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
		assert.Equal(t, outsideBefore, snapshot(t, outside))
		assert.Empty(t, findTemps(t, root))
		assert.Equal(t, 9, st.Deleted) // all that gone and x held, and they
		assert.Equal(t, 2, st.Sent)
	})
}

// A directory of a tree being removed over SFTP that is swapped for a
// symlink after the tree was listed is refused: nothing is removed
// through it, and the sync fails with ErrChanged.
func TestSyncWithoutShellRemovesNothingThroughASymlinkSwappedIn(t *testing.T) {
	h := portertest.NewServer(t, portertest.WithLoginShell("/bin/false")).Dial(t)
	root := tempDir(t)
	src, dst, outside := filepath.Join(root, "src"), filepath.Join(root, "dst"), filepath.Join(root, "outside")
	build(t, src, f("keep.txt", "k", 0o644))
	build(t, dst, f("keep.txt", "k", 0o644), d("gone/sub", 0o755), f("gone/sub/f.txt", "f", 0o644))
	build(t, outside, f("f.txt", "outside, same name", 0o644))
	outsideBefore := snapshot(t, outside)
	// (The hook runs in one of Apply's goroutines: assert, not require.)
	opts := Options{Delete: true, hooks: &testHooks{treeListed: func(rel string) {
		assert.Equal(t, "gone", rel)
		sub := filepath.Join(dst, "gone", "sub")
		assert.NoError(t, os.Rename(sub, sub+".moved"))
		assert.NoError(t, os.Symlink(outside, sub))
	}}}
	_, err := Sync(context.Background(), h, src, dst, opts)
	require.ErrorIs(t, err, ErrChanged)
	assert.Contains(t, err.Error(), "gone/sub is now a symlink")
	assert.Equal(t, outsideBefore, snapshot(t, outside))
	assert.FileExists(t, filepath.Join(dst, "gone", "sub.moved", "f.txt"))
}

// A directory of a tree being removed over SFTP that is gone by the time
// its files are removed (removed by someone else) is as good as removed:
// the sync succeeds.
func TestSyncWithoutShellRemovesATreeThatLosesAPart(t *testing.T) {
	h := portertest.NewServer(t, portertest.WithLoginShell("/bin/false")).Dial(t)
	root := tempDir(t)
	src, dst := filepath.Join(root, "src"), filepath.Join(root, "dst")
	build(t, src, f("keep.txt", "k", 0o644))
	build(t, dst, f("keep.txt", "k", 0o644), d("gone/sub/deeper", 0o755), f("gone/sub/deeper/f.txt", "f", 0o644), f("gone/g.txt", "g", 0o644))
	listed := 0
	opts := Options{Delete: true, hooks: &testHooks{treeListed: func(string) {
		listed++
		assert.NoError(t, os.RemoveAll(filepath.Join(dst, "gone", "sub")))
	}}}
	_, err := Sync(context.Background(), h, src, dst, opts)
	require.NoError(t, err)
	assert.Equal(t, 1, listed)
	assert.Equal(t, snapshot(t, src), snapshot(t, dst))
}

// On a host with no remote shell, a sync makes symlinks with SFTP requests
// (new ones, one in a file's place, one in a new directory) and reads each
// back. OpenSSH's SFTP server stores a target as given; portertest's
// (pkg/sftp's) makes a relative target absolute, which a probe finds
// before anything is removed: the sync fails with the reason, nothing
// changed in dst.
func TestSyncWithoutShellMakesSymlinks(t *testing.T) {
	noShellHosts(t, func(t *testing.T, h *remote.Host) {
		root := tempDir(t)
		src, dst := filepath.Join(root, "src"), filepath.Join(root, "dst")
		build(t, src, f("a/keep.txt", "keep", 0o644), l("a/ln", "keep.txt"), l("a/was-file", "../x"),
			d("new", 0o755), l("new/up", "../a/keep.txt"), l("abs", "/etc/hostname"))
		build(t, dst, f("a/keep.txt", "keep", 0o644), f("a/was-file", "a file", 0o644),
			d("old/sub", 0o755), f("old/sub/f.txt", "f", 0o644), f("oldfile", "o", 0o644))
		before := snapshot(t, dst)
		st, err := Sync(context.Background(), h, src, dst, Options{Delete: true})
		if t.Name() == "TestSyncWithoutShellMakesSymlinks/login-shell-fails" {
			require.Error(t, err)
			assert.Regexp(t, `the SFTP server stored the relative target probe-target as /\S+ \(a remote shell makes links as given\)`, err.Error())
			assert.Contains(t, err.Error(), "no usable remote shell: ")
			// All as before but dst's own mtime: the staging directory
			// was made and removed in it.
			after := snapshot(t, dst)
			delete(before, ".")
			delete(after, ".")
			assert.Equal(t, before, after)
			assert.Empty(t, findTemps(t, root))
			return
		}
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
		assert.Equal(t, 4, st.Sent)
		assert.Empty(t, findTemps(t, root))
	})
}
