package rsync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// base is the mtime the test trees start with (with a fraction of a second,
// which a sync keeps only to the second).
var base = time.Date(2021, 3, 4, 5, 6, 7, 500_000_000, time.UTC)

// node describes one entry of a test tree.
type node struct {
	path   string
	kind   byte // 'f' file, 'd' dir, 'l' symlink
	data   string
	mode   fs.FileMode
	target string
}

func f(p, data string, mode fs.FileMode) node {
	return node{path: p, kind: 'f', data: data, mode: mode}
}
func d(p string, mode fs.FileMode) node { return node{path: p, kind: 'd', mode: mode} }
func l(p, target string) node           { return node{path: p, kind: 'l', target: target} }

// tempDir is t.TempDir for trees that hold read-only directories (as
// sample does, and what a sync makes of it): it registers, after TempDir's
// own removal and so to run before it, a cleanup that makes every directory
// under the temporary directory writable again. Without it, TempDir cannot
// remove the tree unless the tests run as root.
func tempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { makeWritable(t, dir) })
	return dir
}

// makeWritable gives every directory under root (root included) its
// owner's rwx bits, parents before what they hold, so that the tree can be
// walked and removed. Symlinks are not followed.
func makeWritable(t testing.TB, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !de.IsDir() {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o700 != 0o700 {
			return os.Chmod(p, fi.Mode().Perm()|0o700)
		}
		return nil
	})
	if err != nil {
		t.Errorf("make %s writable for its removal: %v", root, err)
	}
}

// build makes the nodes under root (parents first), gives each file and
// directory a distinct mtime, and the root too.
func build(t *testing.T, root string, nodes ...node) {
	t.Helper()
	require.NoError(t, os.MkdirAll(root, 0o755))
	for _, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.path))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		switch n.kind {
		case 'f':
			require.NoError(t, os.WriteFile(p, []byte(n.data), 0o600))
			require.NoError(t, os.Chmod(p, n.mode))
		case 'd':
			require.NoError(t, os.MkdirAll(p, 0o755))
		case 'l':
			require.NoError(t, os.Symlink(n.target, p))
		}
	}
	// Modes and times last, deepest first, so that writing does not move
	// a directory's mtime.
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		p := filepath.Join(root, filepath.FromSlash(n.path))
		if n.kind == 'l' {
			continue
		}
		if n.kind == 'd' {
			require.NoError(t, os.Chmod(p, n.mode))
		}
		tm := base.Add(time.Duration(i+1) * time.Hour)
		require.NoError(t, os.Chtimes(p, tm, tm))
	}
	require.NoError(t, os.Chtimes(root, base, base))
}

// snapshot describes every entry under root: type, mode, mtime (seconds),
// content hash or link target. skip leaves out top-level names.
func snapshot(t *testing.T, root string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if de.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link -> " + target
		case fi.IsDir():
			out[rel] = fmt.Sprintf("dir %v %d", fi.Mode(), fi.ModTime().Unix())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = fmt.Sprintf("file %v %d %d %s", fi.Mode(), fi.ModTime().Unix(), fi.Size(), hex.EncodeToString(sum[:8]))
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// findTemps lists what is left of staging directories and temporary files
// under root.
func findTemps(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err == nil && strings.Contains(de.Name(), "porter-tmp") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func writeFile(t *testing.T, p, data string, mtime time.Time) {
	t.Helper()
	require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	if !mtime.IsZero() {
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
}

// counts returns st without its durations, to compare counts.
func counts(st Stats) Stats {
	st.PlanTook, st.ApplyTook = 0, 0
	return st
}
