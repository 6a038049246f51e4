// Removing a directory tree with SFTP requests alone, for a host with no
// remote shell (the shell's steps use rm -rf: see removeSteps).

package rsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sync"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/remote"
)

// removeTree removes the directory rel (relative to dst) and everything
// in it with SFTP requests, as rm -rf from its parent would, without
// following a symlink: a symlink in it is removed, never what it points
// to. The tree is listed first, level by level (at most maxEntries
// entries), each directory checked to be a directory, not a symlink,
// before it is read; then, as a guard does for any step (see guard), each
// directory on the way is checked again before the files in it are
// removed, and the directories are removed deepest first. A directory
// swapped for a symlink since it was listed is refused (ErrChanged) and
// nothing is removed through it; one that gained entries since is not
// empty and its removal fails. A rel that is gone is no error.
func (a *applier) removeTree(ctx context.Context, rel string) error {
	sc, dst, conc, maxEntries := a.sc, a.c.dst, 4*a.c.opts.concurrency(), a.c.opts.maxEntries()
	if rel == "" {
		return errors.New("remove a tree: refusing to remove the destination itself")
	}
	list := newGuard(sc, dst)
	if err := list.dir(rel); err != nil {
		if errors.Is(err, ErrChanged) && isGone(sc, joinRemote(dst, rel)) {
			return nil
		}
		return err
	}
	var (
		mu    sync.Mutex
		files []string // files and symlinks, relative to dst
		dirs  = []string{rel}
		level = []string{rel}
	)
	for len(level) > 0 {
		var next []string
		err := group(ctx, len(level), conc, func(ctx context.Context, i int) error {
			d := level[i]
			if err := list.dir(d); err != nil {
				return err
			}
			full := joinRemote(dst, d)
			infos, err := sc.ReadDirContext(ctx, full)
			if err != nil {
				return fmt.Errorf("list %s: %w", remote.Printable(full), err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, fi := range infos {
				if err := checkListedName(fi.Name()); err != nil {
					return fmt.Errorf("list %s: %w", remote.Printable(full), err)
				}
				p := path.Join(d, fi.Name())
				if fi.IsDir() {
					next = append(next, p)
					dirs = append(dirs, p)
				} else {
					files = append(files, p)
				}
			}
			if len(files)+len(dirs) > maxEntries {
				return fmt.Errorf("remove %s: more than %d entries (rsync.Options.MaxEntries)", remote.Printable(joinRemote(dst, rel)), maxEntries)
			}
			return nil
		})
		if err != nil {
			return err
		}
		level = next
	}
	if h := a.c.opts.testHooks().treeListed; h != nil {
		h(rel)
	}
	rm := newGuard(sc, dst)
	err := group(ctx, len(files), conc, func(ctx context.Context, i int) error {
		if err := rm.parents(files[i]); err != nil {
			return err
		}
		p := joinRemote(dst, files[i])
		if err := sc.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", remote.Printable(p), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Deepest first: a directory is empty once those below it are gone.
	slices.SortStableFunc(dirs, func(a, b string) int { return depth(b) - depth(a) })
	for start := 0; start < len(dirs); {
		end := start + 1
		for end < len(dirs) && depth(dirs[end]) == depth(dirs[start]) {
			end++
		}
		l := dirs[start:end]
		err := group(ctx, len(l), conc, func(ctx context.Context, i int) error {
			if err := rm.parents(l[i]); err != nil {
				return err
			}
			p := joinRemote(dst, l[i])
			if err := sc.RemoveDirectory(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove directory %s: %w", remote.Printable(p), err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		start = end
	}
	return nil
}

// isGone reports whether nothing is at p (an lstat says so).
func isGone(sc *sftp.Client, p string) bool {
	_, err := sc.Lstat(p)
	return errors.Is(err, fs.ErrNotExist)
}
