package portertest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// WriteFiles writes files (path -> content, mode 0644, parent directories
// made) under dir and returns dir, for tests that build a project or a
// source tree. Paths are slash-separated and relative to dir; with dir ""
// they are used as they are. It calls tb.Fatal on error.
func WriteFiles(tb testing.TB, dir string, files map[string]string) string {
	tb.Helper()
	for name, content := range files {
		p := filepath.FromSlash(name)
		if dir != "" {
			p = filepath.Join(dir, p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// Snapshot describes every entry under root, byte for byte, by its path
// relative to root: type and mode, modification time in nanoseconds, size,
// and a regular file's content hash or a link's target. Two snapshots are
// equal only when nothing under root changed; a test takes one before and
// one after what must change nothing (a plan). A root that does not exist
// is the snapshot {".": "missing"}. It calls tb.Fatal on error.
func Snapshot(tb testing.TB, root string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if p == root && errors.Is(err, fs.ErrNotExist) {
			out["."] = "missing"
			return nil
		}
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		desc := fmt.Sprintf("%v %d %d", fi.Mode(), fi.ModTime().UnixNano(), fi.Size())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:])
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
