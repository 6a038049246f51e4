//go:build !linux

package remote

import "syscall"

// setQuickAck reports false: TCP_QUICKACK is Linux's.
func setQuickAck(syscall.RawConn) bool { return false }
