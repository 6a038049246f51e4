// Package sftpx holds the SFTP steps that porter's packages share: atomic
// writes and small reads.
package sftpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/pkg/sftp"
)

// TempName returns a hidden temporary name next to dst, unique per call.
func TempName(dst string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return path.Join(path.Dir(dst), "."+path.Base(dst)+".porter-tmp-"+hex.EncodeToString(b))
}

// WriteAtomic writes r to dst on the host atomically: under a temporary name
// in dst's directory, with mode set before any byte is written and mtime
// set after (zero = leave it), then renamed over dst with posix-rename. The
// temporary file is removed on any error, cancellation included.
//
// SFTP creates a file with the server's default mode (0666 less the umask)
// before porter can chmod it, and whoever opens it in that moment keeps
// reading what is written later. So a file that others may not read (a
// secret: any mode without read for group and others) is made inside a
// private temporary directory (made, then chmod 0700, and checked, before
// the file is created in it): once the directory is 0700, nobody else can
// open a name in it, even one holding the directory open.
func WriteAtomic(ctx context.Context, c *sftp.Client, dst string, r io.Reader, mode fs.FileMode, mtime time.Time) (err error) {
	tmp := TempName(dst)
	private := ""
	if mode.Perm()&0o044 != 0o044 {
		private = tmp
		if err := c.Mkdir(private); err != nil {
			return fmt.Errorf("mkdir %s: %w", private, err)
		}
		defer func() {
			if err != nil {
				c.RemoveDirectory(private)
			}
		}()
		if err := c.Chmod(private, 0o700); err != nil {
			return fmt.Errorf("chmod %s: %w", private, err)
		}
		if fi, err := c.Lstat(private); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			return fmt.Errorf("mkdir %s: not the private directory just made", private)
		}
		tmp = path.Join(private, "f")
	}
	out, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			out.Close()
			c.Remove(tmp)
		}
	}()
	if err = out.Chmod(mode.Perm()); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err = io.Copy(out, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err = out.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if !mtime.IsZero() {
		if err = c.Chtimes(tmp, mtime, mtime); err != nil {
			return fmt.Errorf("set times of %s: %w", tmp, err)
		}
	}
	if err = c.PosixRename(tmp, dst); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, dst, err)
	}
	if private != "" {
		if err := c.RemoveDirectory(private); err != nil {
			return fmt.Errorf("remove %s: %w", private, err) // dst is written: only the empty directory is left
		}
	}
	return nil
}

// ReadFile reads a whole (small) file from the host.
func ReadFile(c *sftp.Client, name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// ContextReader returns r that stops reading, with ctx's error, once ctx
// ends.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// Symlink makes the symlink at (a new name) pointing to target and reads
// it back. pkg/sftp sends the two paths in OpenSSH's order, which servers
// following the draft read the other way round, and some servers store a
// relative target made absolute: a link that is not what was asked is
// removed and the error says what the server stored. The caller makes sure
// a server of the other order cannot make its link outside where at is
// (see rsync's probe), or asks only a server known to take OpenSSH's.
func Symlink(c *sftp.Client, target, at string) error {
	if err := c.Symlink(target, at); err != nil {
		return fmt.Errorf("make symlink %s: %w", at, err)
	}
	got, err := c.ReadLink(at)
	if err == nil && got == target {
		return nil
	}
	_ = c.Remove(at)
	if err != nil {
		return fmt.Errorf("read back symlink %s: %w", at, err)
	}
	return fmt.Errorf("make symlink %s: the SFTP server stored the target %q, not %q", at, got, target)
}
