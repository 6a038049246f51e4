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

	"github.com/porter-deploy/porter/remote"
)

// removeTree removes the directory rel (relative to dst) and everything
// in it with SFTP requests, as rm -rf from its parent would, without
// following a symlink: a symlink in it is removed, never what it points
// to. The tree is listed first, level by level, each directory checked to
// be a directory, not a symlink, before it is read, and given its owner's
// rwx bits when it lacks them (a read-only directory of a tree being
// removed); the entries read count against one bound for the whole Apply
// (Options.MaxEntries). Then, as a guard does for any step (see guard),
// each directory on the way is checked again before the files in it are
// removed, and the directories are removed deepest first, each level
// checked afresh. A directory swapped for a symlink since it was listed is
// refused (ErrChanged) and nothing is removed through it; one that gained
// entries since is not empty and its removal fails; what is gone since
// (rel itself, a directory in it) is already removed.
func (a *applier) removeTree(ctx context.Context, rel string) error {
	sc, dst, conc := a.sc, a.c.dst, 4*a.c.opts.concurrency()
	if rel == "" {
		return errors.New("remove a tree: refusing to remove the destination itself")
	}
	list := newGuard(sc, dst)
	top, err := sc.Lstat(joinRemote(dst, rel))
	if err != nil {
		return goneIsRemoved(fmt.Errorf("lstat %s: %w", remote.Printable(joinRemote(dst, rel)), err))
	}
	var (
		mu    sync.Mutex
		files []string                                  // files and symlinks, relative to dst
		dirs  []string                                  // directories listed, relative to dst
		perm  = map[string]fs.FileMode{rel: top.Mode()} // as listed
		level = []string{rel}
	)
	for len(level) > 0 {
		var next []string
		err := group(ctx, len(level), conc, func(ctx context.Context, i int) error {
			d := level[i]
			if err := list.dir(d); err != nil {
				return goneIsRemoved(err)
			}
			full := joinRemote(dst, d)
			mu.Lock()
			mode := perm[d]
			mu.Unlock()
			var err error
			if mode.Perm()&0o700 != 0o700 {
				err = sc.Chmod(full, mode.Perm()|0o700)
			}
			var infos []fs.FileInfo
			if err == nil {
				infos, err = a.c.h.ListDir(ctx, full, a.c.opts.maxEntries())
			}
			if err != nil {
				return goneIsRemoved(fmt.Errorf("list %s: %w", remote.Printable(full), err))
			}
			if n := a.treeEntries.Add(int64(len(infos))); n > int64(a.c.opts.maxEntries()) {
				return fmt.Errorf("remove %s: more than %d entries in the trees removed (rsync.Options.MaxEntries)", remote.Printable(joinRemote(dst, rel)), a.c.opts.maxEntries())
			}
			mu.Lock()
			defer mu.Unlock()
			dirs = append(dirs, d)
			for _, fi := range infos {
				if err := checkListedName(fi.Name()); err != nil {
					return fmt.Errorf("list %s: %w", remote.Printable(full), err)
				}
				p := path.Join(d, fi.Name())
				if fi.IsDir() {
					next = append(next, p)
					perm[p] = fi.Mode()
				} else {
					files = append(files, p)
				}
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
	if err := a.removeEach(ctx, newGuard(sc, dst), files, "remove", sc.Remove); err != nil {
		return err
	}
	// Deepest first: a directory is empty once those below it are gone.
	slices.SortStableFunc(dirs, func(a, b string) int { return depth(b) - depth(a) })
	for start := 0; start < len(dirs); {
		end := start + 1
		for end < len(dirs) && depth(dirs[end]) == depth(dirs[start]) {
			end++
		}
		// A level's removals follow the last: checked afresh.
		if err := a.removeEach(ctx, newGuard(sc, dst), dirs[start:end], "remove directory", sc.RemoveDirectory); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// removeEach removes each of paths (relative to dst) with rm, many at a
// time, once g found the directories above it to be the listed ones; what
// is gone already is removed.
func (a *applier) removeEach(ctx context.Context, g *guard, paths []string, what string, rm func(string) error) error {
	return group(ctx, len(paths), 4*a.c.opts.concurrency(), func(ctx context.Context, i int) error {
		if err := g.parents(paths[i]); err != nil {
			return goneIsRemoved(err)
		}
		p := joinRemote(a.c.dst, paths[i])
		if err := rm(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s %s: %w", what, remote.Printable(p), err)
		}
		return nil
	})
}

// goneIsRemoved is nil for an error that says a directory is gone (a tree
// being removed that lost a part since it was listed): nothing can be
// reached through it, so it is as good as removed.
func goneIsRemoved(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// removeStaleSFTP removes, as staleSteps does in a shell, the staging
// directories (or anything else of their names) an earlier sync left at
// the top of dst, as well as it can: a removal that fails is tried once
// more, then left to the next sync (a staging directory is never part of
// the tree).
func (a *applier) removeStaleSFTP(ctx context.Context) {
	c := a.c
	for _, s := range c.stale {
		err := a.removeStale(ctx, s)
		if err != nil && ctx.Err() == nil {
			err = a.removeStale(ctx, s)
		}
		if err != nil && ctx.Err() == nil {
			c.log.Warn("sync: could not remove a staging directory an earlier sync left: the next sync tries again", "path", joinRemote(c.dst, s), "host", c.hostName(), "err", err)
		}
	}
}

// removeStale removes one stale name: a tree, or what else is there (a
// removal does not follow a symlink at the last name).
func (a *applier) removeStale(ctx context.Context, name string) error {
	p := joinRemote(a.c.dst, name)
	fi, err := a.sc.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("lstat %s: %w", remote.Printable(p), err)
	case fi.IsDir():
		return a.removeTree(ctx, name)
	}
	if err := a.sc.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", remote.Printable(p), err)
	}
	return nil
}
