package rsync

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/remote"
)

// swapHosts runs fn with each way of writing, against portertest and
// against a real OpenSSH sshd (skipped where it is not installed).
func swapHosts(t *testing.T, fn func(t *testing.T, h func(t *testing.T) *remote.Host, opts Options)) {
	t.Run("portertest", func(t *testing.T) {
		modes(t, func(t *testing.T, opts Options) { fn(t, dialTest, opts) })
	})
	t.Run("openssh", func(t *testing.T) {
		srv := sshdtest.Start(t)
		modes(t, func(t *testing.T, opts Options) {
			fn(t, func(t *testing.T) *remote.Host { return srv.Dial(t) }, opts)
		})
	})
}

// swapFixture is a synced tree and, beside it, a directory outside dst
// that an entry swapped for a symlink points into.
type swapFixture struct {
	src, dst, out string
	before        map[string]string // snapshot of out
}

func newSwapFixture(t *testing.T, h *remote.Host, opts Options, nodes ...node) *swapFixture {
	tmp := tempDir(t)
	fx := &swapFixture{src: filepath.Join(tmp, "src"), dst: filepath.Join(tmp, "dst"), out: filepath.Join(tmp, "out")}
	build(t, fx.src, nodes...)
	build(t, fx.out, f("victim", "victim's", 0o600), f("f", "outside f", 0o600), f("gone", "outside gone", 0o600),
		f("x", "outside x", 0o600))
	_, err := Sync(context.Background(), h, fx.src, fx.dst, opts)
	require.NoError(t, err)
	fx.before = snapshot(t, fx.out)
	return fx
}

// swap replaces p (under dst or src) by a symlink to target.
func swap(t *testing.T, p, target string) {
	t.Helper()
	require.NoError(t, os.Rename(p, p+".moved"))
	require.NoError(t, os.Symlink(target, p))
}

// applyRefused applies c and checks that it failed with ErrChanged naming
// path, that nothing outside dst changed and that no staging directory is
// left.
func (fx *swapFixture) applyRefused(t *testing.T, c *Changes, path string) {
	t.Helper()
	_, err := c.Apply(context.Background())
	require.ErrorIs(t, err, ErrChanged)
	assert.Contains(t, err.Error(), path)
	assert.Equal(t, fx.before, snapshot(t, fx.out), "nothing outside dst changes")
	assert.Empty(t, findTemps(t, fx.dst))
}

// TestSwapDirectoryBeforeRename: a directory that holds a changed file is
// swapped for a symlink to a directory outside dst between Plan and Apply.
// The new file must not be renamed into the outside directory.
func TestSwapDirectoryBeforeRename(t *testing.T) {
	swapHosts(t, func(t *testing.T, dial func(t *testing.T) *remote.Host, opts Options) {
		h := dial(t)
		fx := newSwapFixture(t, h, opts, f("a/f", "v1", 0o644), f("top", "t", 0o644))
		writeFile(t, filepath.Join(fx.src, "a/f"), "v2 longer", time.Time{})
		c, err := Plan(context.Background(), h, fx.src, fx.dst, opts)
		require.NoError(t, err)
		swap(t, filepath.Join(fx.dst, "a"), fx.out)
		fx.applyRefused(t, c, filepath.Join(fx.dst, "a"))
	})
}

// TestSwapFileBeforeChmod: a file whose mode and mtime are to be set is
// swapped for a symlink to a private file outside dst. Its mode and mtime
// stay (checksum mode: an mtime change alone does not resend the file).
func TestSwapFileBeforeChmod(t *testing.T) {
	swapHosts(t, func(t *testing.T, dial func(t *testing.T) *remote.Host, opts Options) {
		h := dial(t)
		opts.Checksum = true
		fx := newSwapFixture(t, h, opts, f("m/x", "same", 0o644))
		p := filepath.Join(fx.src, "m/x")
		require.NoError(t, os.Chmod(p, 0o755))
		tm := base.Add(-time.Hour)
		require.NoError(t, os.Chtimes(p, tm, tm))
		c, err := Plan(context.Background(), h, fx.src, fx.dst, opts)
		require.NoError(t, err)
		require.Equal(t, 0, c.Stats().Sent, "only the mode and mtime are to be set")
		swap(t, filepath.Join(fx.dst, "m/x"), filepath.Join(fx.out, "victim"))
		fx.applyRefused(t, c, filepath.Join(fx.dst, "m/x"))
	})
}

// TestSwapDirectoryBeforeRemove: the directory that holds an extraneous
// file is swapped for a symlink to a directory outside dst that holds a
// file of the same name. That file must survive.
func TestSwapDirectoryBeforeRemove(t *testing.T) {
	swapHosts(t, func(t *testing.T, dial func(t *testing.T) *remote.Host, opts Options) {
		h := dial(t)
		fx := newSwapFixture(t, h, opts, f("r/keep", "k", 0o644))
		writeFile(t, filepath.Join(fx.dst, "r/gone"), "extraneous", time.Time{})
		opts.Delete = true
		c, err := Plan(context.Background(), h, fx.src, fx.dst, opts)
		require.NoError(t, err)
		require.Equal(t, 1, c.Stats().Deleted)
		swap(t, filepath.Join(fx.dst, "r"), fx.out)
		fx.applyRefused(t, c, filepath.Join(fx.dst, "r"))
	})
}

// TestSwapRemovedEntry: an extraneous file is itself swapped for a symlink
// to a file outside dst. The link goes, the file it points to stays.
func TestSwapRemovedEntry(t *testing.T) {
	swapHosts(t, func(t *testing.T, dial func(t *testing.T) *remote.Host, opts Options) {
		h := dial(t)
		fx := newSwapFixture(t, h, opts, f("r/keep", "k", 0o644))
		gone := filepath.Join(fx.dst, "r/gone")
		writeFile(t, gone, "extraneous", time.Time{})
		opts.Delete = true
		c, err := Plan(context.Background(), h, fx.src, fx.dst, opts)
		require.NoError(t, err)
		swap(t, gone, filepath.Join(fx.out, "gone"))
		require.NoError(t, os.Remove(gone+".moved"))
		_, err = c.Apply(context.Background())
		require.NoError(t, err)
		assert.NoFileExists(t, gone)
		_, err = os.Lstat(gone)
		assert.ErrorIs(t, err, os.ErrNotExist)
		assert.Equal(t, fx.before, snapshot(t, fx.out))
	})
}

// TestSwapLocalSource: after Plan, a source file to send is swapped for a
// symlink to a secret, then a source directory for a symlink to another
// directory. Nothing of what the links point to is sent.
func TestSwapLocalSource(t *testing.T) {
	swapHosts(t, func(t *testing.T, dial func(t *testing.T) *remote.Host, opts Options) {
		h := dial(t)
		fx := newSwapFixture(t, h, opts, f("a/f", "v1", 0o644), f("b/x", "v1", 0o644))
		for _, tc := range []struct{ rel, swapped, target string }{
			{"a/f", "a/f", filepath.Join(fx.out, "victim")},
			{"b/x", "b", fx.out},
		} {
			writeFile(t, filepath.Join(fx.src, tc.rel), "v2 longer", time.Time{})
			c, err := Plan(context.Background(), h, fx.src, fx.dst, opts)
			require.NoError(t, err)
			swap(t, filepath.Join(fx.src, tc.swapped), tc.target)
			_, err = c.Apply(context.Background())
			require.ErrorIs(t, err, ErrChanged, tc.rel)
			assert.Contains(t, err.Error(), filepath.Join(fx.src, tc.rel))
			b, err := os.ReadFile(filepath.Join(fx.dst, tc.rel))
			require.NoError(t, err)
			assert.Equal(t, "v1", string(b), "the file on the host is the old one")
			assert.Empty(t, findTemps(t, fx.dst))
		}
	})
}
