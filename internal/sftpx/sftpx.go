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
// in dst's directory, with mode set before any byte is written (a secret is
// never readable by others, even while it is copied) and mtime set after
// (zero = leave it), then renamed over dst with posix-rename. The temporary
// file is removed on any error, cancellation included.
func WriteAtomic(ctx context.Context, c *sftp.Client, dst string, r io.Reader, mode fs.FileMode, mtime time.Time) (err error) {
	tmp := TempName(dst)
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
