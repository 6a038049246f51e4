package remote

import "context"

// Test hooks for the remote shell.

// SetMaxShells sets how many pooled shells h may start (before its first Run).
func SetMaxShells(h *Host, n int) { h.shells.max = n }

// ShellDirs returns the temp dirs of h's pooled shells that are running.
func ShellDirs(h *Host) []string {
	h.shells.mu.Lock()
	defer h.shells.mu.Unlock()
	var dirs []string
	for sh := range h.shells.all {
		dirs = append(dirs, sh.dir)
	}
	return dirs
}

// ShellLoop is the first frame every shell is sent.
const ShellLoop = shellLoop

// WithCopyHook returns ctx with fn, which CopyFiles runs between its
// checks and its copies.
func WithCopyHook(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, copyHookKey{}, fn)
}

// ReaddirsSent is how many READDIR requests ListDir sent on h's shared
// SFTP session.
func ReaddirsSent(h *Host) int64 {
	h.sftpMu.Lock()
	c := h.sftp
	h.sftpMu.Unlock()
	if raw := h.sharedRaw(c); raw != nil {
		return raw.readdirs.Load()
	}
	return 0
}
