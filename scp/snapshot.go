package scp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/remote"
)

// MaxSnapshotSize is the largest file Save keeps: a snapshot is held in
// memory, and the file comes from a host that is not trusted.
const MaxSnapshotSize = 4 << 20

// ErrTooLarge is wrapped by Save's error for a file larger than
// MaxSnapshotSize.
var ErrTooLarge = errors.New("file too large to keep")

// WriteAtomic writes r to remotePath on h over SFTP atomically: under a
// temporary name in remotePath's directory, with mode set before any byte
// is written (a file others may not read is made in a private directory,
// so nobody opens it in between) and mtime after (zero: the time of the
// write), then renamed over remotePath. A reader on the host sees the old
// file or the new one, never half of one; the temporary file is removed on
// any error, cancellation of ctx included. remotePath's directory must
// exist.
func WriteAtomic(ctx context.Context, h *remote.Host, remotePath string, r io.Reader, mode fs.FileMode, mtime time.Time) error {
	c, err := h.SFTP(ctx)
	if err != nil {
		return fmt.Errorf("write %s:%s: %w", h.Name(), remotePath, err)
	}
	if err := sftpx.WriteAtomic(ctx, c, remotePath, r, mode, mtime); err != nil {
		return fmt.Errorf("write %s:%s: %w", h.Name(), remotePath, err)
	}
	return nil
}

// Snapshot is a file on a host as it was before a change, kept to put it
// back when the change must be undone (see Save and Snapshot.Restore).
type Snapshot struct {
	Path    string      // the file on the host
	Existed bool        // false: there was no file; Restore removes the one made since
	Data    []byte      // its bytes
	Mode    fs.FileMode // its permission bits
	ModTime time.Time   // its modification time (zero: Restore sets the time of the write)
}

// Save reads remotePath on h over SFTP into a Snapshot: its bytes, mode
// and modification time, or that it does not exist (not an error). A file
// larger than MaxSnapshotSize, or one that is not a regular file (a
// directory, a device), is an error; ErrTooLarge for the first.
func Save(ctx context.Context, h *remote.Host, remotePath string) (*Snapshot, error) {
	c, err := h.SFTP(ctx)
	if err != nil {
		return nil, fmt.Errorf("keep %s:%s: %w", h.Name(), remotePath, err)
	}
	s := &Snapshot{Path: remotePath}
	st, err := c.Stat(remotePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("keep %s:%s: stat: %w", h.Name(), remotePath, err)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("keep %s:%s: not a regular file (%s)", h.Name(), remotePath, st.Mode().Type())
	}
	f, err := c.Open(remotePath)
	if err != nil {
		return nil, fmt.Errorf("keep %s:%s: %w", h.Name(), remotePath, err)
	}
	defer f.Close()
	data, err := readBounded(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("keep %s:%s: %w", h.Name(), remotePath, err)
	}
	s.Existed, s.Data, s.Mode, s.ModTime = true, data, st.Mode().Perm(), st.ModTime()
	return s, nil
}

func readBounded(ctx context.Context, r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(sftpx.ContextReader(ctx, r), MaxSnapshotSize+1))
	if err != nil {
		return nil, err
	}
	if n > MaxSnapshotSize {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxSnapshotSize)
	}
	return buf.Bytes(), nil
}

// Restore puts the file back as s kept it on h, atomically (see
// WriteAtomic), with its mode and modification time; where there was no
// file, it removes the one made since (a file already gone is not an
// error).
func (s *Snapshot) Restore(ctx context.Context, h *remote.Host) error {
	if s.Existed {
		return WriteAtomic(ctx, h, s.Path, bytes.NewReader(s.Data), s.Mode, s.ModTime)
	}
	c, err := h.SFTP(ctx)
	if err != nil {
		return fmt.Errorf("remove %s:%s: %w", h.Name(), s.Path, err)
	}
	if err := c.Remove(s.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s:%s: %w", h.Name(), s.Path, err)
	}
	return nil
}
