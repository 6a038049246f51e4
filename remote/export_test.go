package remote

// Test hooks for the shared shell.

// SetShellScript makes the Hosts dialled from now on start their shared
// shell with script; the returned func restores the default.
func SetShellScript(script string) (restore func()) {
	old := shellScript
	shellScript = script
	return func() { shellScript = old }
}

// DefaultShellScript is the shared shell's exec command.
func DefaultShellScript() string { return shellScript }

// SetMaxShells sets how many shared shells h may start (before its first Run).
func SetMaxShells(h *Host, n int) { h.shells.max = n }

// ShellDirs returns the temp dirs of h's shared shells that are running.
func ShellDirs(h *Host) []string {
	h.shells.mu.Lock()
	defer h.shells.mu.Unlock()
	var dirs []string
	for sh := range h.shells.all {
		dirs = append(dirs, sh.dir)
	}
	return dirs
}

// SharedShellOff reports whether h gave the shared shell up.
func SharedShellOff(h *Host) bool {
	h.shells.mu.Lock()
	defer h.shells.mu.Unlock()
	return h.shells.off
}
