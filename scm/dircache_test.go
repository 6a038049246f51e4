package scm

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// agedTree is sample with every file's mtime an hour back.
func agedTree(t *testing.T) (root string, mtime time.Time) {
	t.Helper()
	root = tree(t, sample)
	mtime = time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, name := range []string{"index.html", "static/app.js", "static/a/b/c.css", "empty"} {
		require.NoError(t, os.Chtimes(filepath.Join(root, name), mtime, mtime))
	}
	return root, mtime
}

func cachedHash(t *testing.T, root, cacheDir string, now time.Time) (string, hashStats) {
	t.Helper()
	sum, _, st, err := hashDirCached(context.Background(), root, cacheDir, now)
	require.NoError(t, err)
	assert.Equal(t, hashOf(t, root), sum, "the cached hash is HashDir's")
	return sum, st
}

// TestHashDirCachedReadsOnlyChangedFiles: with a clock an hour ahead (so
// that no file is racy), a second hash reads no file, and a change reads
// only the changed file.
func TestHashDirCachedReadsOnlyChangedFiles(t *testing.T) {
	t.Parallel()
	root, _ := agedTree(t)
	cache := t.TempDir()
	later := time.Now().Add(time.Hour)
	sum1, st := cachedHash(t, root, cache, later)
	assert.Equal(t, hashStats{Read: 4}, st)
	sum2, st := cachedHash(t, root, cache, later)
	assert.Equal(t, hashStats{Cached: 4}, st)
	assert.Equal(t, sum1, sum2)

	require.NoError(t, os.WriteFile(filepath.Join(root, "static/app.js"), []byte("console.log(2)"), 0o644))
	sum3, st := cachedHash(t, root, cache, later)
	assert.Equal(t, hashStats{Read: 1, Cached: 3}, st)
	assert.NotEqual(t, sum1, sum3)

	require.NoError(t, os.Remove(filepath.Join(root, "index.html")))
	_, st = cachedHash(t, root, cache, later)
	assert.Equal(t, hashStats{Cached: 3}, st)
}

// TestHashDirCachedRacySecond: a file written in the second of the hash is
// not remembered, so that rewriting it with the same size and the same
// mtime, maybe within the same clock tick (same ctime), is still seen.
func TestHashDirCachedRacySecond(t *testing.T) {
	t.Parallel()
	root, cache := t.TempDir(), t.TempDir()
	f := filepath.Join(root, "app.js")
	require.NoError(t, os.WriteFile(f, []byte("aaaa"), 0o644))
	fi, err := os.Stat(f)
	require.NoError(t, err)
	sum1, _ := cachedHash(t, root, cache, time.Now())
	assert.NotContains(t, cached(cache, root), "app.js", "racy: not remembered")

	require.NoError(t, os.WriteFile(f, []byte("bbbb"), 0o644))
	require.NoError(t, os.Chtimes(f, fi.ModTime(), fi.ModTime()))
	sum2, st := cachedHash(t, root, cache, time.Now())
	assert.Equal(t, hashStats{Read: 1}, st)
	assert.NotEqual(t, sum1, sum2)
}

// TestHashDirCachedCtime: a file rewritten in place with the same size and
// its mtime put back (same size, mtime and inode) is seen by its ctime.
func TestHashDirCachedCtime(t *testing.T) {
	t.Parallel()
	root, mtime := agedTree(t)
	cache := t.TempDir()
	later := time.Now().Add(time.Hour)
	f := filepath.Join(root, "static/app.js")
	before := stat(t, f)
	sum1, _ := cachedHash(t, root, cache, later)
	require.Contains(t, cached(cache, root), "static/app.js")

	// Wait for the file system's clock to pass the file's ctime: writes
	// within one tick of it would leave the ctime as it is (the racy case
	// of the other test).
	probe := filepath.Join(t.TempDir(), "probe")
	for deadline := time.Now().Add(10 * time.Second); ; {
		require.NoError(t, os.WriteFile(probe, nil, 0o644))
		if stat(t, probe).Ctim.Nano() > before.Ctim.Nano() {
			break
		}
		require.True(t, time.Now().Before(deadline), "the file system's clock did not move")
	}
	require.NoError(t, os.WriteFile(f, []byte("console.log(2)"), 0o644)) // same size, in place
	require.NoError(t, os.Chtimes(f, mtime, mtime))
	after := stat(t, f)
	require.Equal(t, before.Ino, after.Ino)
	require.Equal(t, before.Size, after.Size)
	require.Equal(t, before.Mtim, after.Mtim)
	require.NotEqual(t, before.Ctim, after.Ctim)

	sum2, st := cachedHash(t, root, cache, later)
	assert.Equal(t, hashStats{Read: 1, Cached: 3}, st)
	assert.NotEqual(t, sum1, sum2)
}

// cached is the files of root's cache in dir.
func cached(dir, root string) map[string]cachedFile {
	c, _ := readDirCache(cacheFile(dir, root), root)
	return c.Files
}

func stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Sys().(*syscall.Stat_t)
}

// TestHashDirCachedBadCache: a corrupt cache file, or one of another tree,
// is read as an empty cache, and one that cannot be written costs nothing
// but the time.
func TestHashDirCachedBadCache(t *testing.T) {
	t.Parallel()
	root, _ := agedTree(t)
	cache := t.TempDir()
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.WriteFile(cacheFile(cache, root), []byte("not gob"), 0o600))
	_, st := cachedHash(t, root, cache, later)
	assert.Equal(t, hashStats{Read: 4}, st)

	other, _ := agedTree(t)
	require.NoError(t, os.Rename(cacheFile(cache, root), cacheFile(cache, other)))
	_, st = cachedHash(t, other, cache, later)
	assert.Equal(t, hashStats{Read: 4}, st, "the cache of another root")

	blocked := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocked, nil, 0o600))
	_, st = cachedHash(t, root, filepath.Join(blocked, "dirhash"), later)
	assert.Equal(t, hashStats{Read: 4}, st)
}

// TestDirCheckoutCachesUnderUserCacheDir: a dir:// checkout keeps its
// cache in $XDG_CACHE_HOME/porter/dirhash, one file per tree, 0600.
func TestDirCheckoutCachesUnderUserCacheDir(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	root, _ := agedTree(t)
	src, err := New("dir://"+root, t.TempDir())
	require.NoError(t, err)
	co, err := src.Checkout(context.Background(), Release{Name: "stable"})
	require.NoError(t, err)
	assert.Equal(t, hashOf(t, root), co.Version)
	resolved, err := filepath.EvalSymlinks(root)
	require.NoError(t, err)
	fi, err := os.Stat(cacheFile(filepath.Join(xdg, "porter", "dirhash"), resolved))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// TestCheckoutStampIsStatDir: the stamp a dir:// checkout takes from its
// hash's walk is what StatDir says of the tree (a .git directory left out
// by both), and it changes when a file is written, added or removed.
func TestCheckoutStampIsStatDir(t *testing.T) {
	root, _ := agedTree(t)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sub", ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "sub", ".git", "HEAD"), []byte("x"), 0o644))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	src, err := New("dir://"+root, "")
	require.NoError(t, err)
	stamps := map[string]bool{}
	for i, change := range []func(){
		func() {},
		func() { require.NoError(t, os.WriteFile(filepath.Join(root, "index.html"), []byte("written"), 0o644)) },
		func() { require.NoError(t, os.WriteFile(filepath.Join(root, "added"), nil, 0o644)) },
		func() { require.NoError(t, os.Remove(filepath.Join(root, "added"))) },
		func() {
			require.NoError(t, os.WriteFile(filepath.Join(root, "sub", ".git", "HEAD"), []byte("yy"), 0o644))
		}, // left out
	} {
		change()
		co, err := src.Checkout(context.Background(), Release{})
		require.NoError(t, err)
		want, err := StatDir(context.Background(), root)
		require.NoError(t, err)
		assert.Equal(t, want, co.Stamp, "step %d", i)
		stamps[co.Stamp] = true
	}
	assert.Len(t, stamps, 4, "write, add and remove each change the stamp; a write under .git does not")
}
