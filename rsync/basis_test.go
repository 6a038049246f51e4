package rsync

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// basisTrees makes, under tmp: src; old, a sync of src as it was; live, a
// sync of src after three files changed (b, sub/c: one at the top and one
// in a subdirectory, and new/d in a directory old lacks); then src changes
// once more (e). Syncing src into old with Basis live must copy b and
// sub/c on the host and send only e and new/d (whose directory is new in
// old: a copy lands only where the directory exists).
func basisTrees(t *testing.T, opts Options) (src, old, live string) {
	t.Helper()
	tmp := tempDir(t)
	src, old, live = filepath.Join(tmp, "src"), filepath.Join(tmp, "old"), filepath.Join(tmp, "live")
	build(t, src, f("a", "aaaa", 0o644), f("b", "bbbb", 0o644), d("sub", 0o755), f("sub/c", "cccc", 0o600), f("e", "eeee", 0o644))
	h := dialTest(t)
	_, err := Sync(context.Background(), h, src, old, opts)
	require.NoError(t, err)
	t1 := base.Add(100 * time.Hour)
	writeFile(t, filepath.Join(src, "b"), "b, second version", t1)
	writeFile(t, filepath.Join(src, "sub/c"), "c, second version", t1)
	require.NoError(t, os.Chmod(filepath.Join(src, "sub/c"), 0o600))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "new"), 0o755))
	writeFile(t, filepath.Join(src, "new/d"), "d", t1)
	require.NoError(t, os.Chtimes(filepath.Join(src, "sub"), base, base))
	require.NoError(t, os.Chtimes(filepath.Join(src, "new"), base, base))
	require.NoError(t, os.Chtimes(src, base, base))
	_, err = Sync(context.Background(), h, src, live, opts)
	require.NoError(t, err)
	writeFile(t, filepath.Join(src, "e"), "e, second version", base.Add(200*time.Hour))
	require.NoError(t, os.Chtimes(src, base, base))
	return src, old, live
}

// notLive runs fn with Options.NotLive off, then on.
func notLive(t *testing.T, fn func(t *testing.T, notLive bool)) {
	t.Run("live", func(t *testing.T) { fn(t, false) })
	t.Run("notlive", func(t *testing.T) { fn(t, true) })
}

func TestSyncBasisCopiesOnTheHostWhatTheBasisHolds(t *testing.T) {
	notLive(t, testSyncBasisCopies)
}

func testSyncBasisCopies(t *testing.T, notLive bool) {
	modes(t, func(t *testing.T, opts Options) {
		opts.NotLive = notLive
		src, old, live := basisTrees(t, opts)
		liveBefore := snapshot(t, live)
		opts.Basis = live
		opts.Delete = true
		c, err := Plan(context.Background(), dialTest(t), src, old, opts)
		require.NoError(t, err)
		ops := map[string]Op{}
		for _, ch := range c.List() {
			ops[ch.Path] = ch.Op
		}
		if opts.SFTPOnly {
			assert.Equal(t, map[string]Op{"b": OpSend, "sub/c": OpSend, "e": OpSend, "new": OpMkdir, "new/d": OpSend, "sub": OpAttrs}, ops)
			assert.Equal(t, 0, c.Stats().Copied)
		} else {
			assert.Equal(t, map[string]Op{"b": OpCopy, "sub/c": OpCopy, "e": OpSend, "new": OpMkdir, "new/d": OpSend, "sub": OpAttrs}, ops)
			assert.Equal(t, 2, c.Stats().Copied)
			assert.Equal(t, int64(len("e, second version")+len("d")), c.Stats().BytesSent)
		}

		st, err := Sync(context.Background(), dialTest(t), src, old, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, old))
		assert.Equal(t, liveBefore, snapshot(t, live), "the basis is only read")
		assert.Empty(t, findTemps(t, filepath.Dir(src)))
		assert.Equal(t, 4, st.Sent)
		if opts.SFTPOnly {
			// No remote program to copy with: everything is sent. (The
			// noshell mode takes the shell: a copy beats a send.)
			assert.Equal(t, 0, st.Copied)
			assert.Equal(t, int64(len("b, second version")+len("c, second version")+len("e, second version")+len("d")), st.BytesSent)
			return
		}
		assert.Equal(t, 2, st.Copied)
		assert.Equal(t, int64(len("e, second version")+len("d")), st.BytesSent)
		fi, err := os.Stat(filepath.Join(old, "sub/c"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a copy keeps the mode")
	})
}

// A basis file changed within the second the basis was last synced (same
// size and mtime, other content) is sent, not copied.
func TestSyncBasisRacyAfter(t *testing.T) {
	opts := Options{hooks: &testHooks{useShell: true}}
	src, old, live := basisTrees(t, opts)
	t1 := base.Add(100 * time.Hour)
	writeFile(t, filepath.Join(live, "b"), "B, SECOND VERSION", t1) // same size and mtime as src's
	opts.Basis, opts.BasisRacyAfter = live, t1
	st, err := Sync(context.Background(), dialTest(t), src, old, opts)
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, src), snapshot(t, old))
	assert.Equal(t, 0, st.Copied, "b and sub/c changed at the second the basis was synced")

	// Without the bound, the basis's b is taken by size and mtime, as a
	// sync takes dst's.
	src, old, live = basisTrees(t, Options{})
	writeFile(t, filepath.Join(live, "b"), "B, SECOND VERSION", t1)
	opts.Basis, opts.BasisRacyAfter = live, time.Time{}
	st, err = Sync(context.Background(), dialTest(t), src, old, opts)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Copied)
	got, err := os.ReadFile(filepath.Join(old, "b"))
	require.NoError(t, err)
	assert.Equal(t, "B, SECOND VERSION", string(got))
}

// A directory of the basis swapped for a symlink between the plan and
// the copy: the copy is refused with ErrChanged, nothing is read through
// the link, and dst keeps what it had.
func TestSyncBasisSwappedDirectory(t *testing.T) {
	notLive(t, testSyncBasisSwappedDirectory)
}

func testSyncBasisSwappedDirectory(t *testing.T, notLive bool) {
	opts := Options{hooks: &testHooks{useShell: true}}
	src, old, live := basisTrees(t, opts)
	opts.NotLive = notLive
	oldBefore := snapshot(t, old)
	delete(oldBefore, ".") // the staging directory came and went: dst's mtime moved
	opts.Basis = live
	h := dialTest(t)
	c, err := plan(context.Background(), h, src, old, opts)
	require.NoError(t, err)
	elsewhere := filepath.Join(filepath.Dir(src), "elsewhere")
	build(t, elsewhere, f("c", "not the release's", 0o600))
	require.NoError(t, os.Rename(filepath.Join(live, "sub"), filepath.Join(live, "sub.moved")))
	require.NoError(t, os.Symlink(elsewhere, filepath.Join(live, "sub")))
	_, err = c.Apply(context.Background())
	require.ErrorIs(t, err, ErrChanged)
	assert.Contains(t, err.Error(), filepath.Join(live, "sub"))
	after := snapshot(t, old)
	delete(after, ".")
	assert.Equal(t, oldBefore, after)
	assert.Empty(t, findTemps(t, filepath.Dir(src)))
}

// A file of the basis swapped for a directory between the plan and the
// copy: refused (a tar would copy the directory whole), and dst keeps
// what it had.
func TestSyncBasisFileSwappedForADirectory(t *testing.T) {
	notLive(t, func(t *testing.T, notLive bool) {
		opts := Options{hooks: &testHooks{useShell: true}}
		src, old, live := basisTrees(t, opts)
		oldBefore := snapshot(t, old)
		delete(oldBefore, ".")
		opts.Basis, opts.NotLive = live, notLive
		c, err := plan(context.Background(), dialTest(t), src, old, opts)
		require.NoError(t, err)
		require.Equal(t, 2, c.Stats().Copied)
		require.NoError(t, os.Remove(filepath.Join(live, "b")))
		build(t, filepath.Join(live, "b"), f("inner", "not a file of the release", 0o644))
		_, err = c.Apply(context.Background())
		require.ErrorIs(t, err, ErrChanged)
		assert.Contains(t, err.Error(), filepath.Join(live, "b"))
		after := snapshot(t, old)
		delete(after, ".")
		assert.Equal(t, oldBefore, after)
		assert.Empty(t, findTemps(t, filepath.Dir(src)))
	})
}

// With NotLive everything goes straight into place, copies and sent files
// alike: nothing is renamed, and a file of dst hard-linked from elsewhere
// is replaced, not written through.
func TestSyncBasisNotLiveCopiesIntoPlace(t *testing.T) {
	var renamed int
	var mu sync.Mutex
	opts := Options{hooks: &testHooks{useShell: true, onRename: func(int) { mu.Lock(); renamed++; mu.Unlock() }}}
	src, old, live := basisTrees(t, Options{})
	outside := filepath.Join(filepath.Dir(src), "outside")
	require.NoError(t, os.Link(filepath.Join(old, "b"), outside))
	before, err := os.ReadFile(outside)
	require.NoError(t, err)
	opts.Basis, opts.NotLive, opts.Delete = live, true, true
	st, err := Sync(context.Background(), dialTest(t), src, old, opts)
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, src), snapshot(t, old))
	assert.Equal(t, 2, st.Copied)
	assert.Equal(t, 4, st.Sent)
	assert.Equal(t, 0, renamed, "everything written in place")
	after, err := os.ReadFile(outside)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the hard link's other name keeps the old content")
	assert.Empty(t, findTemps(t, filepath.Dir(src)))
}

// applyWithSubSwapped swaps dst/sub for a symlink to a directory outside
// dst that holds a file name, then applies c: refused (ErrChanged), and
// nothing is written through the link.
func applyWithSubSwapped(t *testing.T, c *Changes, dst, name string) {
	t.Helper()
	elsewhere := filepath.Join(filepath.Dir(dst), "elsewhere")
	build(t, elsewhere, f(name, "not dst's", 0o600))
	elsewhereBefore := snapshot(t, elsewhere)
	require.NoError(t, os.Rename(filepath.Join(dst, "sub"), filepath.Join(dst, "sub.moved")))
	require.NoError(t, os.Symlink(elsewhere, filepath.Join(dst, "sub")))
	_, err := c.Apply(context.Background())
	require.ErrorIs(t, err, ErrChanged)
	assert.Contains(t, err.Error(), filepath.Join(dst, "sub"))
	assert.Equal(t, elsewhereBefore, snapshot(t, elsewhere), "nothing written through the link")
}

// With NotLive, a file of Basis removed after it was checked and before
// it is copied: the tar that reads Basis fails, and so does the sync (its
// status is not lost in the pipe into the extracting tar).
func TestSyncBasisNotLiveFileGoneBeforeTheCopy(t *testing.T) {
	opts := Options{hooks: &testHooks{useShell: true}}
	src, old, live := basisTrees(t, opts)
	opts.Basis, opts.NotLive = live, true
	opts.hooks.basisLost = true
	_, err := Sync(context.Background(), dialTest(t), src, old, opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "status 2")
	assert.Contains(t, err.Error(), "b: Cannot stat: No such file or directory")
	assert.Empty(t, findTemps(t, filepath.Dir(src)))
}

// With NotLive, a directory of dst swapped for a symlink between the plan
// and the copy: refused, nothing is written through the link.
func TestSyncBasisNotLiveSwappedDstDirectory(t *testing.T) {
	opts := Options{hooks: &testHooks{useShell: true}}
	src, old, live := basisTrees(t, opts)
	opts.Basis, opts.NotLive = live, true
	h := dialTest(t)
	c, err := plan(context.Background(), h, src, old, opts)
	require.NoError(t, err)
	applyWithSubSwapped(t, c, old, "c")
	assert.Empty(t, findTemps(t, filepath.Dir(src)))
}

// A relative dst and Basis are both relative to the login directory: the
// copy is made from there, not from the staging directory the copying
// program runs in.
func TestSyncBasisRelativeToTheLoginDirectory(t *testing.T) {
	for _, opts := range []Options{{hooks: &testHooks{useShell: true}}, {hooks: &testHooks{noShell: true}}, {NotLive: true, hooks: &testHooks{useShell: true}}} {
		src, old, live := basisTrees(t, opts)
		h := portertest.NewServer(t, portertest.WithHome(filepath.Dir(old))).Dial(t)
		opts.Basis = filepath.Base(live)
		st, err := Sync(context.Background(), h, src, filepath.Base(old), opts)
		require.NoError(t, err)
		assert.Equal(t, 2, st.Copied)
		assert.Equal(t, snapshot(t, src), snapshot(t, old))
	}
}

// A shell that comes up after the SFTP walk has listed dst lists nothing
// (its find would only be waited for): it probes the host's tools, and the
// copies from Basis are made with the walk's listing.
func TestSyncBasisShellAfterTheWalkDoesNotList(t *testing.T) {
	for _, notLive := range []bool{false, true} {
		src, old, live := basisTrees(t, Options{NotLive: notLive})
		opts := Options{NotLive: notLive, Basis: live, hooks: &testHooks{walkFirst: true}}
		var logs strings.Builder
		opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		st, err := Sync(context.Background(), dialTest(t), src, old, opts)
		require.NoError(t, err)
		assert.Equal(t, 2, st.Copied)
		assert.Equal(t, snapshot(t, src), snapshot(t, old))
		assert.Contains(t, logs.String(), "the SFTP walk had won when the shell came up: no find")
		assert.Contains(t, logs.String(), "the SFTP walk won")
		assert.NotContains(t, logs.String(), "the find won")
	}
}

// TestSyncListingStartsTheShellAtOnceWhenItIsNeededOrUp: a near host's
// small tree is listed with an SFTP walk, and its login shell is not
// started for the listing; the find in the remote shell starts with the
// walk when the sync copies from Basis (the copies need the shell), or
// when a pooled shell is already up (it costs no login).
func TestSyncListingStartsTheShellAtOnceWhenItIsNeededOrUp(t *testing.T) {
	const started = "a find in the remote shell races the SFTP walk"
	plan := func(t *testing.T, h *remote.Host, opts Options) string {
		t.Helper()
		src := filepath.Join(tempDir(t), "src")
		build(t, src, f("a", "aaaa", 0o644))
		var logs strings.Builder
		opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		_, err := Plan(context.Background(), h, src, filepath.Join(tempDir(t), "dst"), opts)
		require.NoError(t, err)
		return logs.String()
	}
	t.Run("cold", func(t *testing.T) {
		assert.NotContains(t, plan(t, dialTest(t), Options{}), started)
	})
	t.Run("basis", func(t *testing.T) {
		logs := plan(t, dialTest(t), Options{Basis: tempDir(t)})
		assert.Contains(t, logs, started)
		assert.Contains(t, logs, "why=\"copies from Basis need the shell\"")
	})
	t.Run("basis, SFTP only", func(t *testing.T) {
		assert.NotContains(t, plan(t, dialTest(t), Options{Basis: tempDir(t), SFTPOnly: true}), started)
	})
	t.Run("warm", func(t *testing.T) {
		h := dialTest(t)
		require.False(t, h.ShellWarm())
		sh, err := h.Shell(context.Background())
		require.NoError(t, err)
		sh.Release()
		require.True(t, h.ShellWarm())
		logs := plan(t, h, Options{})
		assert.Contains(t, logs, started)
		assert.Contains(t, logs, "why=\"a shell is up\"")
	})
}
