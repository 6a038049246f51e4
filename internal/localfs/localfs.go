// Package localfs walks local trees the way porter ships them: symlinks
// are followed (a config file may be a link to a shared one), loops are an
// error, and the walk is in lexical order so that hashes are stable.
//
// [OpenListed] opens a file that a walk listed without following a symlink
// swapped in since, for the sync of package rsync, which never follows
// one.
package localfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// MaxDepth bounds how deep Walk goes, which also stops symlink loops.
const MaxDepth = 64

// WalkFunc is called for every entry: rel is the slash path relative to
// the root ("." for the root itself), info is what the entry resolves to.
type WalkFunc func(path, rel string, info fs.FileInfo) error

// Walk calls fn for root and everything below it, following symlinks.
// Entries that are neither regular files nor directories (sockets, devices,
// dangling links) are an error naming the path.
func Walk(root string, fn WalkFunc) error {
	return walk(root, ".", fn, 0, map[string]bool{})
}

// walk visits path; above holds the real paths of the directories it is in.
func walk(path, rel string, fn WalkFunc, depth int, above map[string]bool) error {
	if depth > MaxDepth {
		return fmt.Errorf("%s: more than %d directories deep: a symlink loop?", path, MaxDepth)
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.IsDir() && !info.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file or directory", path)
	}
	if err := fn(path, rel, info); err != nil {
		return err
	}
	if !info.IsDir() {
		return nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if above[real] {
		return fmt.Errorf("%s: a symlink loop: it leads back to %s", path, real)
	}
	above[real] = true
	defer delete(above, real)
	entries, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	for _, name := range names {
		child := name
		if rel != "." {
			child = rel + "/" + name
		}
		if err := walk(filepath.Join(path, name), child, fn, depth+1, above); err != nil {
			return err
		}
	}
	return nil
}

// UnixPerm converts a FileMode's permission bits to Unix mode bits (07777:
// with setuid, setgid and sticky), as stat and SFTP give them.
func UnixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
