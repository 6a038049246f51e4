//go:build unix

package scm

import (
	"io/fs"
	"syscall"
)

// inode is the inode number of info's file, 0 when it is not known.
func inode(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
