package localfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrChanged is wrapped by [OpenListed]'s error when the file is not the
// one a walk listed: it became a symlink, a directory or another file (a
// different device and inode), or it is gone.
var ErrChanged = errors.New("changed since it was listed: run the sync again")

// ID identifies a file on the local host: its device and inode numbers.
// The zero ID is unknown (a platform without inode numbers).
type ID struct{ Dev, Ino uint64 }

// IDOf returns the ID of what fi describes (from os.Lstat, os.Stat,
// File.Stat or a DirEntry's Info), or the zero ID.
func IDOf(fi fs.FileInfo) ID { return idOf(fi) }

// Listed is what a walk saw of a regular file (from its lstat).
type Listed struct {
	ID    ID    // zero where unknown
	Size  int64 // bytes
	MTime int64 // Unix seconds
}

// ListedOf returns what fi (from an lstat) says of a regular file.
func ListedOf(fi fs.FileInfo) Listed {
	return Listed{ID: IDOf(fi), Size: fi.Size(), MTime: fi.ModTime().Unix()}
}

// OpenListed opens the regular file path for reading, as a walk listed it
// (want): the last element of path is never
// followed if it is a symlink (O_NOFOLLOW), a FIFO or a device never blocks
// the open (O_NONBLOCK), and what is opened must be a regular file with
// want's device and inode, so that a directory above it that was swapped
// for a symlink is caught too. Where inode numbers are unknown, the size
// and modification time must be want's instead.
//
// Any mismatch is an error that wraps ErrChanged and names path; nothing
// of the file that was opened instead is read.
func OpenListed(path string, want Listed) (*os.File, fs.FileInfo, error) {
	f, err := openNoFollow(path)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, nil, fmt.Errorf("%s: now a symlink: %w", path, ErrChanged)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s: gone: %w", path, ErrChanged)
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if why := differs(fi, want); why != "" {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %s: %w", path, why, ErrChanged)
	}
	return f, fi, nil
}

// differs says how the file opened (got) is not the one listed (want).
func differs(got fs.FileInfo, want Listed) string {
	if !got.Mode().IsRegular() {
		return "no longer a regular file"
	}
	if want.ID != (ID{}) {
		if IDOf(got) != want.ID {
			return "another file (another inode) is at its name now"
		}
		return ""
	}
	if got.Size() != want.Size || got.ModTime().Unix() != want.MTime {
		return "its size or modification time changed"
	}
	return ""
}
