//go:build !linux

package scm

import "io/fs"

// statKey is false off Linux: there the cache is not used.
func statKey(fs.FileInfo) (fileKey, bool) { return fileKey{}, false }
