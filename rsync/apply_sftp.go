// The steps of Apply that go over SFTP: preparing the staging directory,
// writing files, renaming them into place, and setting modes and mtimes.

package rsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/porter-deploy/porter/internal/localfs"
	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/remote"
)

// prepareSFTP is the prepare script done with SFTP requests.
func (a *applier) prepareSFTP(ctx context.Context) error {
	c := a.c
	if err := a.sftp(ctx); err != nil {
		return err
	}
	if err := a.sc.MkdirAll(c.dst); err != nil {
		return fmt.Errorf("mkdir %s: %w", c.dst, err)
	}
	if a.stage != "" {
		p := joinRemote(c.dst, a.stage)
		if err := a.sc.Mkdir(p); err != nil {
			return fmt.Errorf("mkdir %s: %w", p, err)
		}
		if err := a.sc.Chmod(p, 0o700); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
		if len(c.links) > 0 {
			// Before anything is removed: a server that does not make
			// links as given fails the sync with nothing changed.
			if err := a.probeSymlinks(); err != nil {
				return err
			}
		}
	}
	a.removeStaleSFTP(ctx)
	if err := a.removeSFTP(ctx); err != nil {
		return err
	}
	if a.stage == "" {
		return nil
	}
	// New directories, one level at a time.
	levels := map[int][]string{}
	maxDepth := 0
	for _, e := range a.newDirs {
		d := depth(e.path)
		levels[d] = append(levels[d], a.dirAt[e.path])
		maxDepth = max(maxDepth, d)
	}
	for d := 0; d <= maxDepth; d++ {
		l := levels[d]
		if err := group(ctx, len(l), 4*c.opts.concurrency(), func(ctx context.Context, i int) error {
			p := joinRemote(c.dst, l[i])
			if err := a.sc.Mkdir(p); err != nil {
				return fmt.Errorf("mkdir %s: %w", p, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// removeSFTP removes what the plan removes with SFTP requests: the files
// and links at once, then the trees one after another (each removal
// already has many requests in flight).
func (a *applier) removeSFTP(ctx context.Context) error {
	c := a.c
	g := newGuard(a.sc, c.dst)
	var trees []string
	for _, p := range c.remove {
		if c.rmDirs[p] {
			trees = append(trees, p)
		}
	}
	err := group(ctx, len(c.remove), 4*c.opts.concurrency(), func(ctx context.Context, i int) error {
		if c.rmDirs[c.remove[i]] {
			return nil
		}
		if err := g.parents(c.remove[i]); err != nil {
			return err
		}
		p := joinRemote(c.dst, c.remove[i])
		if err := a.sc.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		return nil
	})
	for _, t := range trees {
		if err != nil {
			break
		}
		err = a.removeTree(ctx, t) // its listing checks the directories above t
	}
	return err
}

// sftp opens the host's SFTP client once.
func (a *applier) sftp(ctx context.Context) error {
	if a.sc != nil {
		return nil
	}
	sc, err := a.c.h.SFTP(ctx)
	if err != nil {
		return fmt.Errorf("open sftp: %w", err)
	}
	a.sc = sc
	return nil
}

// cleanup removes the staging directory if it is still there, even when ctx
// is done.
func (a *applier) cleanup(ctx context.Context) {
	if a.stage == "" {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if a.noShell && a.sc != nil {
		if err := a.removeTree(cctx, a.stage); err == nil {
			return
		}
	}
	p := quote(joinRemote(a.c.dst, a.stage))
	// A remote tar being stopped may still create a file for a moment.
	cmd := "for i in 1 2 3; do rm -rf -- " + p + " 2>/dev/null; [ -e " + p + " ] || exit 0; sleep 1; done; rm -rf -- " + p
	if _, err := a.c.h.Run(cctx, cmd); err != nil {
		a.c.log.Warn("could not remove the staging directory: remove it by hand", "path", joinRemote(a.c.dst, a.stage), "host", a.c.hostName(), "err", err)
	}
}

// group runs fn for each of n items, with limit at a time, stopping at the
// first error or when ctx is done.
func group(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := 0; i < n; i++ {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return fn(gctx, i)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

func (a *applier) renameAll(ctx context.Context) error {
	if len(a.renames) == 0 {
		return nil
	}
	c := a.c
	_, posix := a.sc.HasExtension("posix-rename@openssh.com")
	g := newGuard(a.sc, c.dst)
	return group(ctx, len(a.renames), 4*c.opts.concurrency(), func(ctx context.Context, i int) error {
		r := &a.renames[i]
		if err := g.parents(r.to); err != nil {
			return err
		}
		from, to := joinRemote(c.dst, r.from), joinRemote(c.dst, r.to)
		var err error
		if posix {
			err = a.sc.PosixRename(from, to)
		} else {
			// No atomic replace on this server: remove, then rename.
			if rerr := a.sc.Remove(to); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = rerr
			} else {
				err = a.sc.Rename(from, to)
			}
		}
		if err != nil {
			return fmt.Errorf("rename %s over %s: %w", from, to, err)
		}
		n := a.renamed.Add(int64(r.n))
		if h := c.opts.hooks; h != nil && h.onRename != nil {
			h.onRename(int(n))
		}
		return nil
	})
}

// setAttrs sets the mode and/or mtime of files whose content is up to date.
func (a *applier) setAttrs(ctx context.Context) error {
	c := a.c
	g := newGuard(a.sc, c.dst)
	return group(ctx, len(c.attrs), 4*c.opts.concurrency(), func(ctx context.Context, i int) error {
		return a.setAttr(g, &c.attrs[i])
	})
}

// setAttr sets f's mode and/or mtime, once g found its path to be what
// was listed.
func (a *applier) setAttr(g *guard, f *attrFix) error {
	if err := g.entry(f.e.path, f.e.typ); err != nil {
		return err
	}
	p := joinRemote(a.c.dst, f.e.path)
	if f.mode {
		if err := a.sc.Chmod(p, fileMode(f.e.mode)); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	if f.mtime {
		t := time.Unix(f.e.mtime, 0)
		if err := a.sc.Chtimes(p, t, t); err != nil {
			return fmt.Errorf("set mtime of %s: %w", p, err)
		}
	}
	return nil
}

// setDirAttrs sets directories' mtimes, then their modes deepest first (so a
// directory made read-only or unsearchable is done last). With tar, the new
// directories inside a new subtree have theirs already.
func (a *applier) setDirAttrs(ctx context.Context, useTar bool) error {
	c := a.c
	var dirs []attrFix
	for _, f := range c.dirs {
		if useTar && a.dirAt[f.e.path] != "" && !a.subRoot[f.e.path] {
			continue
		}
		if a.inPlace && f.e.path != "" {
			continue // set by the archive (tarDirAttrs)
		}
		dirs = append(dirs, f)
	}
	g := newGuard(a.sc, c.dst)
	err := group(ctx, len(dirs), 4*c.opts.concurrency(), func(ctx context.Context, i int) error {
		f := dirs[i]
		f.mode = false
		return a.setAttr(g, &f)
	})
	if err != nil {
		return err
	}
	levels := map[int][]attrFix{}
	maxDepth := 0
	for _, f := range dirs {
		if f.mode {
			d := depth(f.e.path)
			levels[d] = append(levels[d], attrFix{e: f.e, mode: true})
			maxDepth = max(maxDepth, d)
		}
	}
	for d := maxDepth; d >= 0; d-- {
		l := levels[d]
		if err := group(ctx, len(l), 4*c.opts.concurrency(), func(ctx context.Context, i int) error {
			return a.setAttr(g, &l[i])
		}); err != nil {
			return err
		}
	}
	return nil
}

func depth(p string) int {
	if p == "" {
		return 0
	}
	return strings.Count(p, "/") + 1
}

// sendSFTP writes every staged file with SFTP.
func (a *applier) sendSFTP(ctx context.Context) error {
	c := a.c
	conc := c.opts.concurrency()
	return group(ctx, len(a.staged), conc, func(ctx context.Context, i int) error {
		e := &a.staged[i]
		to := joinRemote(c.dst, a.stagedAt[i])
		if e.typ == typeSymlink {
			if a.noShell {
				if err := a.symlinkSFTP(e.link, to); err != nil {
					return err
				}
			}
			a.wrote(1) // else made by the prepare script
			return nil
		}
		if a.copySFTP && c.basis[e.path] {
			return nil // copyBasisSFTP's
		}
		from := c.localPath(e.path)
		f, fi, err := openListed(from, e)
		if err != nil {
			return fmt.Errorf("send %w", err)
		}
		defer f.Close()
		rf, err := a.sc.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			return fmt.Errorf("send %s: create %s: %w", from, to, err)
		}
		err = rf.Chmod(fileMode(localfs.UnixPerm(fi.Mode())))
		if err == nil {
			_, err = rf.ReadFromWithConcurrency(&countingReader{ctx: ctx, r: f, a: a}, conc)
		}
		if cerr := rf.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			t := time.Unix(fi.ModTime().Unix(), 0)
			err = a.sc.Chtimes(to, t, t)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("send %s to %s: %w", from, to, err)
		}
		a.wrote(1)
		return nil
	})
}

// symlinkSFTP makes, on a host with no remote shell, the symlink to (a
// new name in the staging directory) with the target link, and reads it
// back: a server that did not store the target as given (SFTP servers
// differ in the order of the two paths) fails the sync, its link removed.
func (a *applier) symlinkSFTP(link, to string) error {
	if err := sftpx.Symlink(a.sc, link, to); err != nil {
		return fmt.Errorf("%w (a remote shell makes links as given)", err)
	}
	return nil
}

// probeSymlinks checks, in the staging directory just made and before the
// plan changes anything, that the SFTP server makes symlinks as
// symlinkSFTP asks (pkg/sftp sends the two paths in OpenSSH's order, which
// servers following the draft read the other way round) and stores a
// relative target as given: two links made, read back and removed. Both
// paths of the first are in the staging directory, so a server of either
// order makes it there.
func (a *applier) probeSymlinks() error {
	dir := joinRemote(a.c.dst, a.stage)
	target, link, rel := dir+"/probe-target", dir+"/probe-link", dir+"/probe-relative"
	err := a.sc.Symlink(target, link)
	var got, gotRel string
	if err == nil {
		got, err = a.sc.ReadLink(link)
	}
	if err == nil && got == target {
		if err = a.sc.Symlink("probe-target", rel); err == nil {
			gotRel, err = a.sc.ReadLink(rel)
		}
	}
	for _, p := range []string{target, link, rel} {
		_ = a.sc.Remove(p)
	}
	switch {
	case err != nil && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("make symlinks in %s: the SFTP server takes the two paths of a symlink in the other order (a remote shell makes links as given)", remote.Printable(dir))
	case err != nil:
		return fmt.Errorf("make a symlink in %s: %w", remote.Printable(dir), err)
	case got != target:
		return fmt.Errorf("make symlinks in %s: the SFTP server stored the target %s, not %s (a remote shell makes links as given)", remote.Printable(dir), remote.Printable(got), remote.Printable(target))
	case gotRel != "probe-target":
		return fmt.Errorf("make symlinks in %s: the SFTP server stored the relative target probe-target as %s (a remote shell makes links as given)", remote.Printable(dir), remote.Printable(gotRel))
	}
	return nil
}

// countingReader counts content bytes sent and stops once ctx is done.
type countingReader struct {
	ctx context.Context
	r   interface{ Read([]byte) (int, error) }
	a   *applier
}

func (r *countingReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if n > 0 {
		total := r.a.sent.Add(int64(n))
		if h := r.a.c.opts.hooks; h != nil && h.onBytes != nil {
			h.onBytes(total)
		}
		r.a.prog.tick()
	}
	return n, err
}
