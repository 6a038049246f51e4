package remote

import "syscall"

// setQuickAck turns on TCP_QUICKACK on the socket; it reports whether the
// system took it.
func setQuickAck(raw syscall.RawConn) bool {
	ok := false
	_ = raw.Control(func(fd uintptr) {
		ok = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1) == nil
	})
	return ok
}
