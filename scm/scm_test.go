package scm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSchemes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"dir", "git", "none"}, Schemes())
}

func TestUnknownScheme(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"svn://host/repo", "hg://x", "myrepo.git", "", "://x"} {
		_, err := New(url, "/mod")
		require.Error(t, err, url)
		assert.True(t, errors.Is(err, ErrUnknownScheme), "%q: %v", url, err)
		assert.Contains(t, err.Error(), "dir, git, none", url)
		assert.Contains(t, err.Error(), "/mod", url)
	}
	_, err := New("svn://host/repo", "/mod")
	assert.Contains(t, err.Error(), `"svn"`)

	for _, url := range []string{"git://x@y:z.git", "none://", "dir:///tmp", "NONE://"} {
		_, err := New(url, "/mod")
		assert.NoError(t, err, url)
	}
}

func TestNone(t *testing.T) {
	t.Parallel()
	src, err := New("none://", t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, "none", src.Scheme())

	co, err := src.Checkout(context.Background(), Release{Name: "stable", Version: " 1.2.3 ", Branch: "ignored"})
	require.NoError(t, err)
	assert.Equal(t, Checkout{Dir: "", Version: "1.2.3", Ref: "version 1.2.3"}, co)

	_, err = src.Checkout(context.Background(), Release{Name: "stable", Branch: "main"})
	require.EqualError(t, err, `release "stable" of none://: set version in [release:stable]`)
}

// tree writes files (name -> content; a content starting with "->" makes a
// symlink to the rest) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		if target, ok := strings.CutPrefix(content, "->"); ok {
			require.NoError(t, os.Symlink(target, p))
			continue
		}
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return root
}

func hashOf(t *testing.T, root string) string {
	t.Helper()
	h, err := HashDir(context.Background(), root)
	require.NoError(t, err)
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, h)
	return h
}

var sample = map[string]string{
	"index.html":       "<h1>hi</h1>",
	"static/app.js":    "console.log(1)",
	"static/a/b/c.css": "body{}",
	"latest":           "->static/app.js",
	"empty":            "",
}

func TestHashDirDeterministic(t *testing.T) {
	t.Parallel()
	a, b := tree(t, sample), tree(t, sample)
	assert.Equal(t, hashOf(t, a), hashOf(t, a))
	assert.Equal(t, hashOf(t, a), hashOf(t, b), "same tree in another place, created in another order")

	// Many files, to exercise the worker pool.
	many := map[string]string{}
	for i := range 500 {
		many[filepath.Join("d"+string(rune('a'+i%7)), strings.Repeat("x", i%13+1)+string(rune('a'+i%26))+".txt")] = strings.Repeat("y", i)
	}
	assert.Equal(t, hashOf(t, tree(t, many)), hashOf(t, tree(t, many)))
}

// TestHashDirKnownValue pins the hash of sample: it is the version a deploy
// records on the host, so a change of the format makes every dir:// module
// look changed. The value was computed apart from HashDir, from its
// documented format: one record per entry, sorted by slash path ("." the
// root), each the fields path, type (f, d, l), octal permissions (0 for a
// link) and data (hex sha256 of a file, target of a link), each written
// LEN:FIELD, then "\n"; the hex sha256 of the records, after "sha256:".
// In Python:
//
//	def rec(*fields): return b"".join(b"%d:%s" % (len(f), f) for f in fields) + b"\n"
//	hashlib.sha256(rec(b".", b"d", b"755", b"") + rec(b"empty", b"f", b"644", sha(b"")) + ...)
func TestHashDirKnownValue(t *testing.T) {
	t.Parallel()
	root := tree(t, sample)
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		require.NoError(t, err)
		switch {
		case d.Type()&os.ModeSymlink != 0:
			return nil
		case d.IsDir():
			return os.Chmod(p, 0o755) // whatever the umask
		default:
			return os.Chmod(p, 0o644)
		}
	}))
	assert.Equal(t, "sha256:010aeb3d88addb2b0a52458f1ad0b94c1ff357893ea1e6e93962a105103635f9", hashOf(t, root))
}

func TestHashDirChanges(t *testing.T) {
	t.Parallel()
	base := hashOf(t, tree(t, sample))
	seen := map[string]string{base: "base"}
	change := func(what string, edit func(root string)) {
		t.Helper()
		root := tree(t, sample)
		edit(root)
		h := hashOf(t, root)
		prev, dup := seen[h]
		assert.False(t, dup, "%s hashes like %s", what, prev)
		seen[h] = what
	}
	change("a byte", func(r string) {
		require.NoError(t, os.WriteFile(filepath.Join(r, "static/a/b/c.css"), []byte("body{ }"), 0o644))
	})
	change("a mode", func(r string) { require.NoError(t, os.Chmod(filepath.Join(r, "index.html"), 0o755)) })
	change("a dir mode", func(r string) { require.NoError(t, os.Chmod(filepath.Join(r, "static/a"), 0o700)) })
	change("a symlink target", func(r string) {
		require.NoError(t, os.Remove(filepath.Join(r, "latest")))
		require.NoError(t, os.Symlink("index.html", filepath.Join(r, "latest")))
	})
	change("a symlink made a file", func(r string) {
		require.NoError(t, os.Remove(filepath.Join(r, "latest")))
		require.NoError(t, os.WriteFile(filepath.Join(r, "latest"), []byte("static/app.js"), 0o644))
	})
	change("a rename", func(r string) {
		require.NoError(t, os.Rename(filepath.Join(r, "index.html"), filepath.Join(r, "index.htm")))
	})
	change("an empty dir", func(r string) { require.NoError(t, os.Mkdir(filepath.Join(r, "new"), 0o755)) })
	change("content moved between files", func(r string) {
		require.NoError(t, os.WriteFile(filepath.Join(r, "empty"), []byte("<h1>hi</h1>"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(r, "index.html"), nil, 0o644))
	})
}

func TestHashDirIgnoresGitAndMtime(t *testing.T) {
	t.Parallel()
	root := tree(t, sample)
	base := hashOf(t, root)
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".git", "objects"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, ".git", "HEAD"), []byte("ref: x"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "static", ".git"), 0o755))
	assert.Equal(t, base, hashOf(t, root))
	require.NoError(t, os.Chtimes(filepath.Join(root, "index.html"), fixedTime, fixedTime))
	assert.Equal(t, base, hashOf(t, root))
}

func TestHashDirContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := HashDir(ctx, tree(t, sample))
	assert.ErrorIs(t, err, context.Canceled)
}

func TestDirSource(t *testing.T) {
	t.Parallel()
	modDir := t.TempDir()
	build := filepath.Join(modDir, "build", "out")
	require.NoError(t, os.MkdirAll(build, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(build, "a.txt"), []byte("a"), 0o644))
	require.NoError(t, os.Chmod(build, 0o755)) // whatever the umask
	require.NoError(t, os.Chmod(filepath.Join(build, "a.txt"), 0o644))

	src, err := New("dir://build/out", modDir)
	require.NoError(t, err)
	assert.Equal(t, "dir", src.Scheme())
	co, err := src.Checkout(context.Background(), Release{Name: "stable"})
	require.NoError(t, err)
	assert.Equal(t, build, co.Dir)
	// The sha256 of the records "1:.1:d3:7550:\n" and
	// "5:a.txt1:f3:64464:" + sha256("a") + "\n" (see TestHashDirKnownValue).
	const version = "sha256:8ebf19552f2d805d3eed341a11b0b6e47b93b6535752656f3b7ec767b1fbe49e"
	assert.Equal(t, version, co.Version)
	assert.Equal(t, "dir "+build+" @ sha256:8ebf19552f2d", co.Ref)

	abs, err := New("dir://"+build+"/", "/elsewhere")
	require.NoError(t, err)
	co2, err := abs.Checkout(context.Background(), Release{})
	require.NoError(t, err)
	assert.Equal(t, co, co2)

	// A symlink to the directory ships the directory.
	require.NoError(t, os.Symlink("build/out", filepath.Join(modDir, "current")))
	link, err := New("dir://current", modDir)
	require.NoError(t, err)
	co3, err := link.Checkout(context.Background(), Release{})
	require.NoError(t, err)
	assert.Equal(t, co.Version, co3.Version)
	assert.Equal(t, build, co3.Dir)

	missing, err := New("dir://nope", modDir)
	require.NoError(t, err)
	_, err = missing.Checkout(context.Background(), Release{})
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), filepath.Join(modDir, "nope")+" does not exist")

	file, err := New("dir://build/out/a.txt", modDir)
	require.NoError(t, err)
	_, err = file.Checkout(context.Background(), Release{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a directory")

	_, err = New("dir://", modDir)
	assert.Error(t, err)
}

var fixedTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
