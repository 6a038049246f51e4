// Copies made by the host's SFTP server itself (OpenSSH's copy-data
// extension, which pkg/sftp does not send): no byte crosses the network
// and no remote shell is needed.

package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"

	"github.com/porter-deploy/porter/internal/localfs"
)

// ErrNoServerCopy is returned by [Host.CopyFiles] when the host's SFTP
// server does not copy files itself.
var ErrNoServerCopy = errors.New("the SFTP server does not copy files itself (no copy-data extension: OpenSSH has it from 9.0)")

// ErrCopyRefused is wrapped by the error of [Host.CopyFiles] when what a
// copy goes through is not what the caller said: a file to copy that is
// not the regular file of the size, mtime and mode given (before or after
// it was opened), or a directory on the way that is a symlink or not a
// directory. Nothing is copied through it.
var ErrCopyRefused = errors.New("refused: not what was looked up")

// FileCopy is one copy for [Host.CopyFiles] to make on the host.
type FileCopy struct {
	// From and To are relative to the call's fromDir and toDir:
	// slash-separated, without ".." or a leading "/".
	From, To string

	// What From must be: a regular file (not a symlink) of this size,
	// modification time (whole seconds) and permission bits. To gets the
	// same mode and mtime.
	Size  int64
	Mtime time.Time
	Mode  fs.FileMode

	// Replace removes what To names first (a file, or a symlink: never
	// what it points to; not a directory), in the same round of requests
	// as the create, which an SFTP server processes in order. A server
	// that did not would fail the create (To exists), never write through
	// what To was.
	Replace bool
}

// CanCopyFiles reports whether the host's SFTP server copies files itself,
// so that [Host.CopyFiles] works. It asks the shared SFTP client (see
// [Host.SFTP]) what its server announced.
func (h *Host) CanCopyFiles(ctx context.Context) (bool, error) {
	c, err := h.SFTP(ctx)
	if err != nil {
		return false, err
	}
	_, ok := c.HasExtension("copy-data")
	return ok, nil
}

// copyConcurrency is how many files CopyFiles copies at once.
const copyConcurrency = 64

// CopyFiles has the host's SFTP server copy each From (below fromDir) to
// its To (below toDir), on an SFTP session of its own that is closed
// before it returns (on the shared one, see [Host.SFTP], when the server
// refuses one more session: MaxSessions). fromDir and toDir are paths on the host (relative ones
// to the login directory); they may be symlinks, but nothing below them
// is followed.
//
// Everything is checked before anything is written: each directory on the
// way to a From or a To, once per call, with an lstat (a directory, not a
// symlink), and each From (a regular file of the given size, mtime and
// mode, not a symlink). A refusal then leaves toDir as it was. Each copy
// then opens From and checks it again, on the open file, before a byte is
// copied (a symlink swapped in since fails it, unless it points to a file
// of the same size, mtime and mode); To is created exclusively (with
// Replace, after what it named is unlinked), so a copy never writes
// through a link, and gets From's mode and mtime. A To made for a copy
// that fails is removed while the session serves. What is renamed or
// swapped between a check and the request that follows it is not seen:
// that window is the same as a shell's between its test and its cp. A
// call that fails (ctx ending, the connection lost) may leave a To cut
// short: copy into a directory the caller removes on failure.
//
// A server without the copy-data extension is [ErrNoServerCopy] (see
// [Host.CanCopyFiles]); what is not as described, or gone, wraps
// [ErrCopyRefused]. When ctx ends, the session is closed at once and the
// error wraps ctx.Err().
func (h *Host) CopyFiles(ctx context.Context, fromDir, toDir string, files []FileCopy) error {
	if len(files) == 0 {
		return nil
	}
	for _, f := range files {
		for _, p := range []string{f.From, f.To} {
			if !fs.ValidPath(p) || p == "." {
				return fmt.Errorf("copy on %s: %q is not a path relative to the directory copied from or to (no \"..\", no leading \"/\")", h.name, p)
			}
		}
	}
	c, err := h.copySession(ctx)
	if err != nil {
		return fmt.Errorf("copy on %s: %w", h.name, err)
	}
	if c.s != nil {
		defer c.close()
	}
	if _, ok := c.exts["copy-data"]; !ok {
		return fmt.Errorf("copy on %s: %w", h.name, ErrNoServerCopy)
	}
	dirs := &dirChecks{c: c, seen: map[string]*dirCheck{}}
	// Everything is checked before anything is written: a refusal leaves
	// toDir as it was.
	err = eachFile(ctx, len(files), 4*copyConcurrency, func(ctx context.Context, i int) error {
		f := &files[i]
		if err := c.checkFile(ctx, dirs, fromDir, toDir, f); err != nil {
			return fmt.Errorf("copy %s to %s on %s: %w", joinDir(fromDir, f.From), joinDir(toDir, f.To), h.name, err)
		}
		return nil
	})
	if err == nil {
		if hook, ok := ctx.Value(copyHookKey{}).(func()); ok {
			hook() // tests: between the checks and the copies
		}
		err = eachFile(ctx, len(files), copyConcurrency, func(ctx context.Context, i int) error {
			f := files[i]
			f.From, f.To = joinDir(fromDir, f.From), joinDir(toDir, f.To)
			if err := c.copyFile(ctx, &f); err != nil {
				return fmt.Errorf("copy %s to %s on %s: %w", f.From, f.To, h.name, err)
			}
			return nil
		})
	}
	if cerr := ctx.Err(); cerr != nil && (err == nil || !errors.Is(err, cerr)) {
		if err == nil {
			return cerr
		}
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

// copySession opens CopyFiles' own SFTP session, so that its copies run
// beside the shared session's requests (a second server process). A
// server that refuses one more session (MaxSessions) gets the copies on
// the shared session instead: they then wait their turn there, and when
// ctx ends the call returns while the server finishes the copy it is on.
func (h *Host) copySession(ctx context.Context) (*rawSFTP, error) {
	c, err := h.openRawSFTP(ctx)
	var refused *ssh.OpenChannelError
	if err == nil || !errors.As(err, &refused) {
		return c, err
	}
	sc, serr := h.SFTP(ctx)
	if serr != nil {
		return nil, err
	}
	raw := h.sharedRaw(sc)
	if raw == nil {
		return nil, err
	}
	h.log.Debug("ssh: copies on the shared SFTP session (the server refused one more)", "host", h.name, "err", err)
	return raw, nil
}

// copyHookKey is the context key of a test's hook run between
// CopyFiles's checks and its copies (see export_test.go).
type copyHookKey struct{}

// eachFile runs fn for each of n files, limit at a time, until the first
// error.
func eachFile(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

// joinDir is rel below dir, both paths on the host.
func joinDir(dir, rel string) string {
	if dir == "" {
		return rel
	}
	return strings.TrimSuffix(dir, "/") + "/" + rel
}

// dirChecks lstats each directory once per CopyFiles call.
type dirChecks struct {
	c    *rawSFTP
	mu   sync.Mutex
	seen map[string]*dirCheck
}

type dirCheck struct {
	done chan struct{}
	err  error
}

// below checks each directory from root/rel up to root (exclusive): all
// at once, each once.
func (d *dirChecks) below(ctx context.Context, root, rel string) error {
	var waits []*dirCheck
	for ; rel != "." && rel != ""; rel = path.Dir(rel) {
		p := joinDir(root, rel)
		d.mu.Lock()
		dc := d.seen[p]
		if dc == nil {
			dc = &dirCheck{done: make(chan struct{})}
			d.seen[p] = dc
			ch := d.c.send(sftpLstat, func(b []byte) []byte { return appendString(b, p) })
			go func() {
				a, err := d.c.attrsReply(ctx, ch)
				if err == nil {
					err = checkDir(a, p)
				}
				dc.err = err
				close(dc.done)
			}()
		}
		d.mu.Unlock()
		waits = append(waits, dc)
	}
	var errs []error
	for _, dc := range waits {
		select {
		case <-dc.done:
			errs = append(errs, dc.err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// checkDir fails unless a are a directory's attributes.
func checkDir(a attrs, p string) error {
	switch {
	case a.flags&attrPerms == 0:
		return fmt.Errorf("%s: the server did not say its type: %w", p, ErrCopyRefused)
	case a.perms&typeMask == typeLink:
		return fmt.Errorf("%s is a symlink, not a directory: %w", p, ErrCopyRefused)
	case a.perms&typeMask != typeDir:
		return fmt.Errorf("%s is not a directory: %w", p, ErrCopyRefused)
	}
	return nil
}

// The file types of an SFTP permissions field (as stat's st_mode).
const typeMask, typeReg, typeDir, typeLink = 0o170000, 0o100000, 0o040000, 0o120000

// checkFile checks, before anything is written, the directories on the
// way to f's From and To and From itself (an lstat).
func (c *rawSFTP) checkFile(ctx context.Context, dirs *dirChecks, fromDir, toDir string, f *FileCopy) error {
	err := errors.Join(dirs.below(ctx, fromDir, path.Dir(f.From)), dirs.below(ctx, toDir, path.Dir(f.To)))
	if err != nil {
		return err
	}
	a, err := c.attrsReply(ctx, c.send(sftpLstat, func(b []byte) []byte { return appendString(b, joinDir(fromDir, f.From)) }))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is gone: %w: %w", joinDir(fromDir, f.From), ErrCopyRefused, err)
	}
	if err != nil {
		return err
	}
	return checkCopySource(a, joinDir(fromDir, f.From), f, "")
}

// copyFile copies one file, whose paths are the host's, in three rounds of
// requests: both opens (and To's removal, with Replace); the fstat of From,
// checked before anything is copied; then the copy, To's mode and mtime
// and both closes (a server processes the requests on a handle in order).
// A To made here is removed when the copy fails.
func (c *rawSFTP) copyFile(ctx context.Context, f *FileCopy) error {
	var rm <-chan rawReply
	if f.Replace {
		rm = c.send(sftpRemove, func(b []byte) []byte { return appendString(b, f.To) })
	}
	src := c.send(sftpOpen, func(b []byte) []byte {
		return appendAttrs(appendU32(appendString(b, f.From), sftpRead), attrs{})
	})
	dst := c.send(sftpOpen, func(b []byte) []byte {
		b = appendU32(appendString(b, f.To), sftpWrite|sftpCreate|sftpExcl)
		return appendAttrs(b, attrs{flags: attrPerms, perms: 0o600})
	})
	var err error
	if rm != nil {
		if rerr := c.statusReply(ctx, rm); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("remove %s: %w", f.To, rerr)
		}
	}
	sh, serr := c.handleReply(ctx, src)
	if errors.Is(serr, fs.ErrNotExist) {
		serr = fmt.Errorf("%s is gone: %w: %w", f.From, ErrCopyRefused, serr)
	}
	dh, derr := c.handleReply(ctx, dst)
	if err = errors.Join(err, serr, derr); err == nil {
		var a attrs
		if a, err = c.attrsReply(ctx, c.send(sftpFstat, func(b []byte) []byte { return appendString(b, sh) })); err == nil {
			err = checkCopySource(a, f.From, f, " once open")
		}
	}
	if err != nil {
		c.closeHandles(ctx, sh, dh)
		c.removeMade(ctx, dh, f.To)
		return err
	}
	cp := c.send(sftpExtended, func(b []byte) []byte {
		b = appendString(appendString(b, "copy-data"), sh)
		b = appendU64(appendU64(b, 0), 0) // from offset 0, to EOF
		return appendU64(appendString(b, dh), 0)
	})
	mt := uint32(f.Mtime.Unix())
	set := c.send(sftpFsetstat, func(b []byte) []byte {
		return appendAttrs(appendString(b, dh), attrs{flags: attrPerms | attrTimes, perms: localfs.UnixPerm(f.Mode), atime: mt, mtime: mt})
	})
	cls := c.send(sftpClose, func(b []byte) []byte { return appendString(b, sh) })
	cld := c.send(sftpClose, func(b []byte) []byte { return appendString(b, dh) })
	cerr := c.statusReply(ctx, cp)
	if cerr != nil {
		cerr = fmt.Errorf("copy-data: %w", cerr)
	}
	if err = errors.Join(cerr, c.statusReply(ctx, set), c.statusReply(ctx, cls), c.statusReply(ctx, cld)); err != nil {
		c.removeMade(ctx, dh, f.To)
	}
	return err
}

// removeMade removes To when copyFile made it (dh is its handle), while
// the session still serves: it was created exclusively, nothing else's.
func (c *rawSFTP) removeMade(ctx context.Context, dh, to string) {
	if dh != "" && ctx.Err() == nil {
		_ = c.statusReply(ctx, c.send(sftpRemove, func(b []byte) []byte { return appendString(b, to) }))
	}
}

// closeHandles closes the handles that were opened ("" = not).
func (c *rawSFTP) closeHandles(ctx context.Context, hs ...string) {
	var waits []<-chan rawReply
	for _, h := range hs {
		if h != "" {
			waits = append(waits, c.send(sftpClose, func(b []byte) []byte { return appendString(b, h) }))
		}
	}
	for _, w := range waits {
		_ = c.statusReply(ctx, w)
	}
}

// checkCopySource fails unless a are the attributes f says its From (the
// host's path from) has.
func checkCopySource(a attrs, from string, f *FileCopy, when string) error {
	want := fmt.Sprintf("a regular file of %d bytes, mode %04o, mtime %s", f.Size, localfs.UnixPerm(f.Mode), f.Mtime.UTC().Format(time.RFC3339))
	switch {
	case a.flags&attrPerms == 0 || a.flags&attrSize == 0 || a.flags&attrTimes == 0:
		return fmt.Errorf("%s: %w: the server did not say its type, size and mtime", from, ErrCopyRefused)
	case a.perms&typeMask == typeLink:
		return fmt.Errorf("%s%s is a symlink, not %s: %w", from, when, want, ErrCopyRefused)
	case a.perms&typeMask != typeReg:
		return fmt.Errorf("%s%s is not a regular file (mode %06o), not %s: %w", from, when, a.perms, want, ErrCopyRefused)
	case int64(a.size) != f.Size || a.mtime != uint32(f.Mtime.Unix()) || a.perms&0o7777 != localfs.UnixPerm(f.Mode):
		got := fmt.Sprintf("%d bytes, mode %04o, mtime %s", a.size, a.perms&0o7777, time.Unix(int64(a.mtime), 0).UTC().Format(time.RFC3339))
		return fmt.Errorf("%s%s has %s, not %s: %w", from, when, got, want, ErrCopyRefused)
	}
	return nil
}
