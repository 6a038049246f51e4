package scm

import (
	"io/fs"
	"syscall"
)

// statKey is fi's size, mtime, inode and ctime; false when fi has no
// stat_t.
func statKey(fi fs.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{
		Size:    fi.Size(),
		MtimeNs: st.Mtim.Nano(), MtimeS: int64(st.Mtim.Sec),
		CtimeNs: st.Ctim.Nano(), CtimeS: int64(st.Ctim.Sec),
		Ino: uint64(st.Ino),
	}, true
}
