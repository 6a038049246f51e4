//go:build !unix

package scm

import "io/fs"

// inode is 0: the file system gives none here.
func inode(fs.FileInfo) uint64 { return 0 }
