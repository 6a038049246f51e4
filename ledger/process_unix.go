//go:build unix

package ledger

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// processAlive reports whether a process of this machine with that pid
// exists (signal 0: EPERM means it exists, as another user's).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// bootID identifies this boot of the machine (Linux), or "".
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
