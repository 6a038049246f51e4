// Package tree makes deterministic source trees for the sync benchmarks and
// compares trees byte for byte.
//
// The default shape is the one of /work/shared/tools/mktree.py: small files
// of 1-16 KiB in pkgNN/subNN directories, 4 MiB files in assets/, and a
// .git/HEAD; the same seed always gives the same bytes.
package tree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Spec describes a tree.
type Spec struct {
	Files            int   // small files
	MinSize, MaxSize int   // their size range in bytes (default 1024-16384)
	Big              int   // big files in assets/
	BigSize          int64 // their size (default 4 MiB)
	Dirs             int   // top directories pkgNN (default 50); each has up to 20 subNN
	Links            bool  // add a links/ directory with two symlinks and an empty directory
}

// Standard trees of the benchmark.
var (
	// Tree5k is the tree of the issue: 5,000 files of 1-16 KiB, four of 4 MiB
	// and .git/HEAD (72 MB).
	Tree5k = Spec{Files: 5000, Big: 4}
	// Tree100k is 100,000 files of 1 KiB.
	Tree100k = Spec{Files: 100000, MinSize: 1024, MaxSize: 1024, Dirs: 100}
	// Tree1G is one file of 1 GiB.
	Tree1G = Spec{Big: 1, BigSize: 1 << 30}
)

func (s Spec) withDefaults() Spec {
	if s.MinSize == 0 && s.MaxSize == 0 {
		s.MinSize, s.MaxSize = 1024, 16384
	}
	if s.BigSize == 0 {
		s.BigSize = 4 << 20
	}
	if s.Dirs == 0 {
		s.Dirs = 50
	}
	return s
}

// Make writes the tree under root (created if needed).
func Make(root string, s Spec) error {
	s = s.withDefaults()
	rnd := rand.New(rand.NewPCG(42, 0))
	buf := make([]byte, 1<<20)
	for i := 0; i < s.Files; i++ {
		d := filepath.Join(root, fmt.Sprintf("pkg%02d", i%s.Dirs), fmt.Sprintf("sub%02d", (i/s.Dirs)%20))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		n := s.MinSize + rnd.IntN(s.MaxSize-s.MinSize+1)
		fill(rnd, buf[:n])
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%06d.txt", i)), buf[:n], 0o644); err != nil {
			return err
		}
	}
	for i := 0; i < s.Big; i++ {
		if err := os.MkdirAll(filepath.Join(root, "assets"), 0o755); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(root, "assets", fmt.Sprintf("blob%02d.bin", i)))
		if err != nil {
			return err
		}
		for left := s.BigSize; left > 0; {
			n := min(left, int64(len(buf)))
			fill(rnd, buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return err
			}
			left -= n
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if s.Links {
		for _, d := range []string{"links", "empty"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return err
			}
		}
		if err := os.Symlink("../pkg00", filepath.Join(root, "links", "to-dir")); err != nil {
			return err
		}
		if err := os.Symlink("missing/target", filepath.Join(root, "links", "dangling")); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(root, ".git"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, ".git", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
}

func fill(rnd *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rnd.Uint64()
		b[i], b[i+1], b[i+2], b[i+3], b[i+4], b[i+5], b[i+6], b[i+7] =
			byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(rnd.Uint32())
	}
}

// Files lists the regular files under root, sorted, outside .git.
func Files(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Touch appends a line to percent% of the files (at least one), picked
// with seed, like mktree.py --touch. It returns how many it changed.
func Touch(root string, percent int, seed uint64) (int, error) {
	files, err := Files(root)
	if err != nil {
		return 0, err
	}
	n := max(1, len(files)*percent/100)
	rnd := rand.New(rand.NewPCG(seed, 7))
	for _, i := range rnd.Perm(len(files))[:n] {
		f, err := os.OpenFile(files[i], os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return 0, err
		}
		_, err = f.WriteString("changed\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Compare checks that dst holds exactly what src holds: the same entries,
// types, permission bits, symlink targets and bytes; with mtimes, the same
// file mtimes (to the second) too. skip names top-level entries to leave
// out on both sides (".git", ".porter"). It returns nil or an error listing
// the first differences.
func Compare(src, dst string, mtimes bool, skip ...string) error {
	a, err := scan(src, skip)
	if err != nil {
		return err
	}
	b, err := scan(dst, skip)
	if err != nil {
		return err
	}
	var diffs []string
	add := func(format string, args ...any) {
		if len(diffs) < 10 {
			diffs = append(diffs, fmt.Sprintf(format, args...))
		}
	}
	for p, x := range a {
		y, ok := b[p]
		switch {
		case !ok:
			add("%s: missing", p)
		case x.mode.Type() != y.mode.Type():
			add("%s: %v, want %v", p, y.mode.Type(), x.mode.Type())
		case x.mode&fs.ModeSymlink != 0:
			if x.link != y.link {
				add("%s: link to %q, want %q", p, y.link, x.link)
			}
		case x.mode.Perm() != y.mode.Perm() && p != ".":
			add("%s: mode %v, want %v", p, y.mode, x.mode)
		case x.mode.IsRegular() && x.size != y.size:
			add("%s: %d bytes, want %d", p, y.size, x.size)
		case x.mode.IsRegular() && mtimes && x.mtime != y.mtime:
			add("%s: mtime %d, want %d", p, y.mtime, x.mtime)
		case x.mode.IsRegular():
			same, err := sameContent(filepath.Join(src, p), filepath.Join(dst, p))
			if err != nil {
				return err
			}
			if !same {
				add("%s: other content", p)
			}
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			add("%s: extra", p)
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}

type info struct {
	mode  fs.FileMode
	size  int64
	mtime int64
	link  string
}

func scan(root string, skip []string) (map[string]info, error) {
	out := map[string]info{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		in := info{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime().Unix()}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if in.link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		out[filepath.ToSlash(rel)] = in
		return nil
	})
	return out, err
}

func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 256<<10), make([]byte, 256<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == io.EOF || eb == io.ErrUnexpectedEOF, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}
