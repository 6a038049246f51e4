package rsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

func dialTest(t *testing.T) *remote.Host {
	t.Helper()
	srv := portertest.NewServer(t)
	return srv.Dial(t)
}

// modes runs a test with each way of writing: the tar stream, SFTP writes
// after a shell prepared dst, SFTP requests only (small change sets), and
// with NotLive through the shell (tar) or SFTP requests only.
func modes(t *testing.T, fn func(t *testing.T, opts Options)) {
	t.Run("tar", func(t *testing.T) { fn(t, Options{hooks: &testHooks{useShell: true}}) })
	t.Run("sftp", func(t *testing.T) { fn(t, Options{SFTPOnly: true, hooks: &testHooks{useShell: true}}) })
	t.Run("noshell", func(t *testing.T) { fn(t, Options{hooks: &testHooks{noShell: true}}) })
	t.Run("shared", func(t *testing.T) { fn(t, Options{hooks: &testHooks{shared: true}}) })
	t.Run("notlive", func(t *testing.T) { fn(t, Options{NotLive: true, hooks: &testHooks{useShell: true}}) })
	t.Run("notlive-noshell", func(t *testing.T) { fn(t, Options{NotLive: true, hooks: &testHooks{noShell: true}}) })
}

// with returns a copy of the mode's hooks with fn applied.
func with(opts Options, fn func(h *testHooks)) *testHooks {
	h := &testHooks{}
	if opts.hooks != nil {
		*h = *opts.hooks
	}
	fn(h)
	return h
}

// sample is a tree with nested and empty directories, modes, symlinks.
func sample(outside string) []node {
	return []node{
		f("README", "hello\n", 0o644),
		f("bin/run", "#!/bin/sh\necho run\n", 0o755),
		f("secret", "s3cr3t", 0o600),
		f("empty-file", "", 0o644),
		d("empty-dir", 0o755),
		d("private", 0o700),
		f("private/key", "k", 0o400),
		d("a/b/c", 0o755),
		f("a/b/c/deep.txt", strings.Repeat("deep ", 1000), 0o644),
		f("a/big.bin", strings.Repeat("0123456789abcdef", 64<<10), 0o644), // 1 MiB
		l("link-rel", "a/b/c/deep.txt"),
		l("link-dangling", "does/not/exist"),
		l("link-outside", outside),
		d("ro", 0o555),
		f("ro/file", "read only dir", 0o444),
	}
}

// bytesOf is the total size of the files of a test tree.
func bytesOf(nodes []node) int64 {
	var n int64
	for _, e := range nodes {
		if e.kind == 'f' {
			n += int64(len(e.data))
		}
	}
	return n
}

func TestSyncReproducesTreeThenSendsNothing(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		h := dialTest(t)
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "deep", "dst")
		outside := filepath.Join(tmp, "outside")
		build(t, outside, f("not-to-be-sent", "x", 0o644))
		build(t, src, sample(outside)...)

		st, err := Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
		size := bytesOf(sample(outside))
		assert.Equal(t, int64(1_053_621), size)
		assert.Equal(t, Stats{Files: 8, Dirs: 7, Symlinks: 3, BytesTotal: size, Sent: 11, BytesSent: size, DirsCreated: 8}, counts(st))
		assert.Empty(t, findTemps(t, tmp))
		target, err := os.Readlink(filepath.Join(dst, "link-outside"))
		require.NoError(t, err)
		assert.Equal(t, outside, target, "a symlink is recreated, not followed")

		st, err = Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, 0, st.Sent)
		assert.Equal(t, 11, st.Unchanged)
		assert.Equal(t, int64(0), st.BytesSent)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))

		c, err := Plan(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.True(t, c.Empty(), "%v", c.List())
	})
}

func TestSyncOneChangedFile(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		h := dialTest(t)
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
		build(t, src, sample(tmp)...)
		_, err := Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)

		writeFile(t, filepath.Join(src, "a/b/c/deep.txt"), "changed", time.Time{})
		st, err := Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, 1, st.Sent)
		assert.Equal(t, int64(len("changed")), st.BytesSent)
		assert.Equal(t, 10, st.Unchanged)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))

		// A mode change alone is set, not sent.
		require.NoError(t, os.Chmod(filepath.Join(src, "README"), 0o600))
		st, err = Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, 0, st.Sent)
		assert.Equal(t, 1, st.AttrsSet)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
	})
}

func TestSyncChecksumCatchesSameSizeAndMtime(t *testing.T) {
	h := dialTest(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	build(t, src, f("a", "aaaa", 0o644), f("b", "bbbb", 0o644), f("c", "cccc", 0o644))
	_, err := Sync(context.Background(), h, src, dst, Options{})
	require.NoError(t, err)

	// Same size, same mtime, other content.
	p := filepath.Join(src, "b")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	writeFile(t, p, "BBBB", fi.ModTime())
	// Same content, other mtime (checksum mode only sets the mtime).
	writeFile(t, filepath.Join(src, "c"), "cccc", base.Add(-time.Hour))

	st, err := Sync(context.Background(), h, src, dst, Options{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, 1, st.Sent, "size+mtime sees only c")

	st, err = Sync(context.Background(), h, src, dst, Options{Checksum: true})
	require.NoError(t, err)
	assert.Equal(t, 1, st.Sent, "b")
	assert.Equal(t, 1, st.AttrsSet, "c")
	assert.Equal(t, 1, st.Unchanged, "a")
	assert.Equal(t, snapshot(t, src), snapshot(t, dst))

	st, err = Sync(context.Background(), h, src, dst, Options{Checksum: true})
	require.NoError(t, err)
	assert.Equal(t, 0, st.Sent)
	assert.Equal(t, 3, st.Unchanged)
}

func TestSyncDelete(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		h := dialTest(t)
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
		build(t, src, f("keep", "k", 0o644), d("sub", 0o755), f("sub/keep", "k", 0o644))
		build(t, dst,
			f("extra", "x", 0o644),
			d("olddir/deeper", 0o755), f("olddir/deeper/x", "x", 0o644),
			f("sub/extra", "x", 0o644),
			f(".porter/state.json", "{}", 0o644),
			f(".gitignore", "x", 0o644),
			d(".git/objects", 0o755),
			f("logs/app.log", "log", 0o644),
			f("logs/old.txt", "old", 0o644),
		)
		opts.Exclude = []string{".git*", "*.log"}

		st, err := Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, 0, st.Deleted)
		for _, p := range []string{"extra", "olddir/deeper/x", "sub/extra", ".porter/state.json", ".gitignore", ".git/objects", "logs/app.log"} {
			_, err := os.Lstat(filepath.Join(dst, p))
			assert.NoError(t, err)
		}

		opts.Delete = true
		c, err := Plan(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		var dels []string
		for _, ch := range c.List() {
			if ch.Op == OpDelete {
				dels = append(dels, ch.Path)
			}
		}
		assert.Equal(t, []string{"extra", "logs/old.txt", "olddir", "sub/extra"}, dels)
		st, err = c.Apply(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 6, st.Deleted) // extra, logs/old.txt, olddir, olddir/deeper, olddir/deeper/x, sub/extra
		for _, p := range []string{"extra", "olddir", "sub/extra", "logs/old.txt"} {
			assert.NoFileExists(t, filepath.Join(dst, p))
			assert.NoDirExists(t, filepath.Join(dst, p))
		}
		for _, p := range []string{".porter/state.json", ".gitignore", "logs/app.log"} {
			assert.FileExists(t, filepath.Join(dst, p))
		}
		assert.DirExists(t, filepath.Join(dst, ".git/objects"))
		assert.Equal(t, snapshot(t, src), snapshot(t, dst, ".porter", ".git", ".gitignore", "logs"))

		_, err = c.Apply(context.Background())
		assert.ErrorIs(t, err, ErrApplied)
	})
}

func TestSyncExcludes(t *testing.T) {
	h := dialTest(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	build(t, src,
		f("app.py", "x", 0o644), f("app.pyc", "x", 0o644),
		f(".git/HEAD", "ref", 0o644), f(".gitignore", "*.pyc", 0o644),
		f("node_modules/x/index.js", "x", 0o644),
		f("build/out", "x", 0o644), f("lib/build/keep", "x", 0o644),
		f(".porter/state", "never uploaded", 0o644),
	)
	st, err := Sync(context.Background(), h, src, dst, Options{Exclude: []string{".git*", "*.pyc", "node_modules/", "/build"}})
	require.NoError(t, err)
	assert.Equal(t, 2, st.Files)
	got := snapshot(t, dst)
	assert.Contains(t, got, "app.py")
	assert.Contains(t, got, "lib/build/keep")
	for _, p := range []string{"app.pyc", ".git", ".gitignore", "node_modules", "build", ".porter"} {
		assert.NotContains(t, got, p)
	}
}

func TestSyncReplacesFileAndDir(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		h := dialTest(t)
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
		elsewhere := filepath.Join(tmp, "elsewhere")
		build(t, elsewhere, f("precious", "p", 0o644))
		build(t, src, f("was-dir", "now a file", 0o644), f("was-file/inner", "now a dir", 0o644),
			l("was-file2", "now a link"), f("was-link", "now a file", 0o644), f("via-link/x", "x", 0o644))
		build(t, dst, f("was-dir/a/b", "old", 0o644), f("was-file", "old", 0o644), f("was-file2", "old", 0o644),
			l("was-link", "old"), l("via-link", elsewhere))

		_, err := Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
		assert.Len(t, snapshot(t, elsewhere), 2, "only . and precious")
		assert.NoFileExists(t, filepath.Join(elsewhere, "x"), "never write through a remote symlink")

		// And back.
		require.NoError(t, os.RemoveAll(src))
		build(t, src, f("was-dir/a/b", "old", 0o644), f("was-file", "old", 0o644))
		_, err = Sync(context.Background(), h, src, dst, Options{Delete: true, SFTPOnly: opts.SFTPOnly, hooks: opts.hooks})
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
	})
}

func TestSyncHostileNames(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		h := dialTest(t)
		tmp := tempDir(t)
		// Names hold no "/": the command spells it in octal.
		pwned := filepath.Join(os.TempDir(), "porter-pwned-"+filepath.Base(tmp))
		oct := strings.ReplaceAll(pwned, "/", `\057`)
		t.Cleanup(func() { os.Remove(pwned) })
		hostile := []string{"a b", "it's", "$(touch $(printf '" + oct + "'))", "`touch $(printf '" + oct + "')`", "new\nline", "-rf", "--", "-", "back\\slash", "star*", "semi;colon", "ünï", " lead", "trail "}
		var nodes []node
		for i, n := range hostile {
			nodes = append(nodes, f(n, n, 0o644), f("dir "+n+"/"+n, n, 0o640))
			if i%2 == 0 {
				nodes = append(nodes, l("link "+n, n))
			}
		}
		src := filepath.Join(tmp, "src")
		dst := filepath.Join(tmp, "dst $(touch "+pwned+") `touch "+pwned+"` it's\n-x")
		build(t, src, nodes...)

		_, err := Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
		assert.NoFileExists(t, pwned)

		// Delete and checksum paths, with hostile names on the host side.
		for _, n := range hostile {
			writeFile(t, filepath.Join(dst, "extra "+n), "x", time.Time{})
			writeFile(t, filepath.Join(src, n), strings.ToUpper(n)+"!", time.Time{})
		}
		_, err = Sync(context.Background(), h, src, dst, Options{Delete: true, Checksum: true, SFTPOnly: opts.SFTPOnly, hooks: opts.hooks})
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
		assert.NoFileExists(t, pwned)
		assert.Empty(t, findTemps(t, tmp))
	})
}

func TestSyncCancelLeavesNoTemporaryFiles(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		h := dialTest(t)
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
		var nodes []node
		for i := range 20 {
			nodes = append(nodes, f(strings.Repeat("x", i+1), strings.Repeat(string(rune('a'+i)), 256<<10), 0o644))
		}
		build(t, src, nodes...)
		build(t, dst, f("xxx", "old content", 0o644)) // an old version stays whole

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		mode := opts
		opts.hooks = with(mode, func(h *testHooks) {
			h.onBytes = func(sent int64) {
				if sent >= 2<<20 {
					cancel()
				}
			}
		})
		_, err := Sync(ctx, h, src, dst, opts)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, findTemps(t, tmp))
		if opts.NotLive {
			// Written in place: a file may be cut short, and the caller
			// discards such a dst (see Options.NotLive). Nothing is left
			// outside it.
			return
		}
		want := snapshot(t, src)
		for p, got := range snapshot(t, dst) {
			if p == "." {
				continue
			}
			if p == "xxx" && strings.Contains(got, " 11 ") {
				continue // the old file, untouched
			}
			assert.Equal(t, want[p], got, "%s: whole or absent", p)
		}

		// Cancelled while renaming: what is renamed is whole, the rest is gone.
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		opts.hooks = with(mode, func(h *testHooks) {
			h.onRename = func(n int) {
				if n == 3 {
					cancel()
				}
			}
		})
		_, err = Sync(ctx, h, src, dst, opts)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, findTemps(t, tmp))
		for p, got := range snapshot(t, dst) {
			if p != "." && !(p == "xxx" && strings.Contains(got, " 11 ")) {
				assert.Equal(t, want[p], got, "%s: whole or absent", p)
			}
		}

		// And a new sync finishes the job.
		opts.hooks = mode.hooks
		_, err = Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
	})
}

func TestSyncDryRunChangesNothing(t *testing.T) {
	h := dialTest(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	build(t, src, f("new", "n", 0o644), f("changed", "new!", 0o644), d("newdir", 0o755))
	build(t, dst, f("changed", "old", 0o644), f("extra", "x", 0o644))
	before := snapshot(t, tmp)

	st, err := Sync(context.Background(), h, src, dst, Options{DryRun: true, Delete: true})
	require.NoError(t, err)
	assert.Equal(t, 2, st.Sent)
	assert.Equal(t, 1, st.Deleted)
	assert.Equal(t, 1, st.DirsCreated)
	assert.Equal(t, before, snapshot(t, tmp))

	c, err := Plan(context.Background(), h, src, filepath.Join(tmp, "missing"), Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{"mkdir . (new)", "send changed (new)", "send new (new)", "mkdir newdir (new)"}, changeStrings(c.List()))
	assert.NoDirExists(t, filepath.Join(tmp, "missing"))
}

func changeStrings(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

// TestSyncListings lists with the find of the remote shell, then with the
// SFTP walk (they race in a real sync).
func TestSyncListings(t *testing.T) {
	for name, hooks := range map[string]*testHooks{"find": {listFind: true}, "race": {slowWalk: true}, "sftp": {listSFTP: true}} {
		t.Run(name, func(t *testing.T) {
			h := dialTest(t)
			tmp := tempDir(t)
			src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
			build(t, src, sample(tmp)...)
			build(t, dst, f("extra/x", "x", 0o644), f(".porter/keep", "k", 0o644), f("bin/run", "old", 0o755),
				l("link-rel", "old"), d(".porter-tmp-0123", 0o700), f(".porter-tmp-0123/5", "stale", 0o644))
			opts := Options{Delete: true, hooks: hooks}
			c, err := Plan(context.Background(), h, src, dst, opts)
			require.NoError(t, err)
			assert.Contains(t, changeStrings(c.List()), "send bin/run (size)")
			assert.Contains(t, changeStrings(c.List()), "link link-rel (target)")
			assert.Contains(t, changeStrings(c.List()), "delete extra (extraneous)")
			_, err = c.Apply(context.Background())
			require.NoError(t, err)
			assert.Equal(t, snapshot(t, src), snapshot(t, dst, ".porter"))
			assert.FileExists(t, filepath.Join(dst, ".porter/keep"))
			assert.Empty(t, findTemps(t, tmp), "the stale staging directory is removed")
			st, err := Sync(context.Background(), h, src, dst, opts)
			require.NoError(t, err)
			assert.Equal(t, 0, st.Sent)
		})
	}
}

// A stale staging directory that cannot be removed (the killed sync's tar
// may still be writing in it) does not fail the sync: it is left for the
// next one, and never part of the tree.
func TestSyncLeavesAStaleStagingDirectoryItCannotRemove(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root removes whatever the modes say: the plain-user run of .ci/run covers it")
	}
	h := dialTest(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	build(t, src, f("a", "new", 0o644))
	build(t, dst, f("a", "older", 0o644), f(".porter-tmp-0123/locked/x", "stale", 0o644))
	locked := filepath.Join(dst, ".porter-tmp-0123", "locked")
	require.NoError(t, os.Chmod(locked, 0o555))
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	st, err := Sync(context.Background(), h, src, dst, Options{Delete: true})
	require.NoError(t, err)
	assert.Equal(t, 1, st.Sent)
	assert.Equal(t, snapshot(t, src), snapshot(t, dst, ".porter-tmp-0123"))
	assert.FileExists(t, filepath.Join(locked, "x"), "left for the next sync")
	require.NoError(t, os.Chmod(locked, 0o755))
	_, err = Sync(context.Background(), h, src, dst, Options{Delete: true})
	require.NoError(t, err)
	assert.NoDirExists(t, filepath.Join(dst, ".porter-tmp-0123"), "the next sync removes it")
}

// With LinkedDst a file whose mode alone changed is sent, replacing its
// inode: the tree dst's file is hard-linked with keeps its mode. Without,
// it is chmodded in place, through the link.
func TestSyncLinkedDstReplacesAFileWhoseModeChanged(t *testing.T) {
	for _, linked := range []bool{true, false} {
		h := dialTest(t)
		tmp := tempDir(t)
		src, dst, other := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst"), filepath.Join(tmp, "other")
		build(t, src, f("a", "same", 0o600))
		build(t, other, f("a", "same", 0o644))
		require.NoError(t, os.MkdirAll(dst, 0o755))
		require.NoError(t, os.Link(filepath.Join(other, "a"), filepath.Join(dst, "a")))
		st, err := Sync(context.Background(), h, src, dst, Options{LinkedDst: linked})
		require.NoError(t, err)
		fi, err := os.Stat(filepath.Join(dst, "a"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		fo, err := os.Stat(filepath.Join(other, "a"))
		require.NoError(t, err)
		if linked {
			assert.Equal(t, 1, st.Sent)
			assert.Equal(t, os.FileMode(0o644), fo.Mode().Perm(), "the other tree keeps its mode")
		} else {
			assert.Equal(t, 1, st.AttrsSet)
			assert.Equal(t, os.FileMode(0o600), fo.Mode().Perm(), "chmodded through the link")
		}
	}
}

func TestSyncErrors(t *testing.T) {
	h := dialTest(t)
	tmp := tempDir(t)
	src := filepath.Join(tmp, "src")
	build(t, src, f("a", "a", 0o644))
	writeFile(t, filepath.Join(tmp, "afile"), "x", time.Time{})

	_, err := Sync(context.Background(), h, src, filepath.Join(tmp, "afile"), Options{})
	assert.ErrorContains(t, err, "not a directory")
	_, err = Sync(context.Background(), h, filepath.Join(tmp, "nope"), filepath.Join(tmp, "dst"), Options{})
	assert.ErrorContains(t, err, "nope")
	_, err = Sync(context.Background(), h, src, filepath.Join(tmp, "dst"), Options{Exclude: []string{"!x"}})
	assert.ErrorContains(t, err, "negation")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Sync(ctx, h, src, filepath.Join(tmp, "dst"), Options{})
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.NoDirExists(t, filepath.Join(tmp, "dst"))
}

// TestSyncWithoutShell: a small change set is written with SFTP requests
// only, new directories included, when the remote shell is not up yet.
func TestSyncWithoutShell(t *testing.T) {
	h := dialTest(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	build(t, src, f("a/b/c", "x", 0o644), d("ro", 0o555), f("ro/f", "y", 0o600), f("top", "z", 0o755))
	build(t, dst, f("gone", "old", 0o644), f("top", "old", 0o644))
	var logs strings.Builder
	opts := Options{Delete: true, hooks: &testHooks{noShell: true},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	st, err := Sync(context.Background(), h, src, dst, opts)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "no remote shell")
	assert.Equal(t, 3, st.Sent)
	assert.Equal(t, 1, st.Deleted)
	assert.Equal(t, snapshot(t, src), snapshot(t, dst))
	assert.Empty(t, findTemps(t, tmp))
}

// TestSyncRacyAfterCatchesAChangeWithinTheSecondOfTheNoShellAfter sets every
// mtime with os.Chtimes, so that nothing depends on when the test runs: the
// previous sync began at second T plus 0.7 s; files edited without a change
// of size, their mtime put back, are content-checked (and sent) when their
// mtime falls in second T or later, and trusted by size and mtime before it.
//
// The files are hashed on the host with sha256sum in its shell, or, when
// no shell is up yet (late), read over SFTP: the outcome is the same.
func TestSyncRacyAfterCatchesAChangeWithinTheSecondOfTheNoShellAfter(t *testing.T) {
	t.Run("shell", func(t *testing.T) { testSyncRacyAfter(t, &testHooks{useShell: true}) })
	t.Run("late", func(t *testing.T) { testSyncRacyAfter(t, &testHooks{late: true}) })
}

func testSyncRacyAfter(t *testing.T, hooks *testHooks) {
	const overSFTP = "sync checksums: read over SFTP"
	h := dialTest(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	T := time.Date(2024, 6, 7, 8, 9, 10, 0, time.UTC)
	start := T.Add(700 * time.Millisecond) // the previous sync's start
	mtimes := map[string]time.Time{
		"old":           T.Add(-time.Hour),
		"second-before": T.Add(-time.Millisecond),      // second T-1: trusted
		"same-second-a": T.Add(200 * time.Millisecond), // second T, before the start instant
		"same-second-b": T.Add(900 * time.Millisecond), // second T, after it
		"later":         T.Add(3 * time.Second),
	}
	require.NoError(t, os.Mkdir(src, 0o755))
	for name, mt := range mtimes {
		writeFile(t, filepath.Join(src, name), "aaaa", mt)
	}
	_, err := Sync(context.Background(), h, src, dst, Options{})
	require.NoError(t, err)
	for name, mt := range mtimes {
		fi, err := os.Stat(filepath.Join(dst, name))
		require.NoError(t, err)
		require.Equal(t, mt.Unix(), fi.ModTime().Unix(), "%s: the host keeps the mtime to the second", name)
	}

	// Every file changes without a change of size or mtime, but one whose
	// mtime moves on: that one is sent by mtime, not hashed first.
	for name, mt := range mtimes {
		writeFile(t, filepath.Join(src, name), "BBBB", mt)
	}
	writeFile(t, filepath.Join(src, "same-second-b"), "BBBB", T.Add(5*time.Second))
	var logs strings.Builder
	opts := Options{RacyAfter: start, hooks: hooks, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	c, err := Plan(context.Background(), h, src, dst, opts)
	require.NoError(t, err)
	assert.Equal(t, []string{"send same-second-b (mtime)", "send later (checksum)", "send same-second-a (checksum)"}, changeStrings(c.List()))
	if hooks.late {
		assert.Contains(t, logs.String(), overSFTP+" (no remote shell up yet)\" files=2 bytes=8")
	} else {
		assert.NotContains(t, logs.String(), overSFTP)
	}

	st, err := Sync(context.Background(), h, src, dst, opts)
	require.NoError(t, err)
	assert.Equal(t, 3, st.Sent, "the files of second T and later are compared by content and sent")
	assert.Equal(t, 2, st.Unchanged, "the older ones are trusted by size and mtime, as rsync does")
	want := map[string]string{"old": "aaaa", "second-before": "aaaa", "same-second-a": "BBBB", "same-second-b": "BBBB", "later": "BBBB"}
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dst, name))
		require.NoError(t, err)
		assert.Equal(t, content, string(b), name)
	}

	st, err = Sync(context.Background(), h, src, dst, opts)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Sent, "once equal, a racy file costs a hash, not a send")
	assert.Equal(t, 5, st.Unchanged)
}

// TestSyncCompressed: with Compress, the tar stream is gzipped and the
// host's tar is told so; the tree lands byte for byte, the first time and
// when one file changes.
func TestSyncCompressed(t *testing.T) {
	h := dialTest(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")

	// Without gzip on the host, Compress sends a plain stream and this test
	// would prove nothing.
	ag, _, err := startAgent(context.Background(), h, dst, nil)
	require.NoError(t, err)
	caps, _, _, _, err := ag.readListing("caps", 0)
	ag.release()
	require.NoError(t, err)
	if !caps.tar || !caps.gzip {
		t.Skipf("the test host has no GNU tar or gzip: %+v", caps)
	}

	build(t, src, sample(tmp)...)
	var logs strings.Builder
	opts := Options{Compress: true, hooks: &testHooks{useShell: true},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	st, err := Sync(context.Background(), h, src, dst, opts)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "tar stream into the remote shell")
	assert.Equal(t, 11, st.Sent)
	assert.Equal(t, bytesOf(sample(tmp)), st.BytesSent)
	assert.Equal(t, snapshot(t, src), snapshot(t, dst))
	b, err := os.ReadFile(filepath.Join(dst, "a/big.bin"))
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("0123456789abcdef", 64<<10), string(b))

	writeFile(t, filepath.Join(src, "a/b/c/deep.txt"), "changed", time.Time{})
	st, err = Sync(context.Background(), h, src, dst, opts)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Sent)
	b, err = os.ReadFile(filepath.Join(dst, "a/b/c/deep.txt"))
	require.NoError(t, err)
	assert.Equal(t, "changed", string(b))
	assert.Equal(t, snapshot(t, src), snapshot(t, dst))
	assert.Empty(t, findTemps(t, tmp))
}

// TestSyncThroughPooledShell: syncs to the same host after the first go
// as one archive through an idle shell of the host's pool, which goes back
// to the pool afterwards, even after a prepare that failed.
func TestSyncThroughPooledShell(t *testing.T) {
	h := dialTest(t)
	tmp := tempDir(t)
	var logs strings.Builder
	// Listed by SFTP alone: a listing agent of the plan's own (started on a
	// loaded machine, where a request takes more than farRTT) would take
	// the place of the pooled shell.
	opts := Options{Delete: true, hooks: &testHooks{shared: true, listSFTP: true},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for i := range 3 {
		src, dst := filepath.Join(tmp, fmt.Sprint("src", i)), filepath.Join(tmp, fmt.Sprint("dst", i))
		build(t, src, f("a/b/c", "x", 0o644), d("ro", 0o555), f("ro/f", "y", 0o600), f("top", "z", 0o755),
			l("link", "../a\nb"), f("new\nline", fmt.Sprint(i), 0o644))
		build(t, dst, f("gone/x", "old", 0o644), f("top", "old", 0o644))
		_, err := Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))
		assert.Empty(t, findTemps(t, tmp))
	}
	assert.Equal(t, 3, strings.Count(logs.String(), "host's shared shell"), logs.String())
	sh := h.IdleShell()
	require.NotNil(t, sh, "back in the host's pool")
	out, err := h.Run(context.Background(), "echo still in its loop")
	require.NoError(t, err)
	assert.Equal(t, "still in its loop\n", string(out.Stdout))
	sh.Release()

	// A prepare that fails (a dst that cannot be made, even by root) is an
	// error that says why; the shell is in its loop again and serves the
	// next sync.
	src := filepath.Join(tmp, "src0")
	_, err = Sync(context.Background(), h, src, "/proc/porter-no-such-dir/dst", opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/proc/porter-no-such-dir")
	_, err = Sync(context.Background(), h, src, filepath.Join(tmp, "dst9"), opts)
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, src), snapshot(t, filepath.Join(tmp, "dst9")))
	assert.Equal(t, 5, strings.Count(logs.String(), "host's shared shell"), logs.String())

	require.NoError(t, h.Close())
	assert.Nil(t, h.IdleShell(), "the pool ends with its host")
}

// TestNoShellAfterStartsNoShell: a small change set goes with SFTP requests
// alone; the sync then starts a pooled shell in the background for the
// host's next syncs and commands, unless Options.NoShellAfter says none
// follows.
func TestNoShellAfterStartsNoShell(t *testing.T) {
	for _, last := range []bool{false, true} {
		t.Run(fmt.Sprint("NoShellAfter=", last), func(t *testing.T) {
			h := dialTest(t)
			tmp := tempDir(t)
			src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
			build(t, src, f("a/b", "x", 0o644), f("top", "z", 0o755))
			opts := Options{NoShellAfter: last, hooks: &testHooks{listSFTP: true}}
			st, err := Sync(context.Background(), h, src, dst, opts)
			require.NoError(t, err)
			assert.Equal(t, 2, st.Sent)
			assert.Equal(t, snapshot(t, src), snapshot(t, dst))
			assert.Equal(t, !last, h.ShellWarm(), "a pooled shell idle or starting")
		})
	}
}
