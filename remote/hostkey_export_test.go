package remote

import "time"

// Test hooks for how ssh_config is read.

// WithSSHBinary makes Dial run path for ssh -G instead of the ssh on $PATH;
// "" = none: porter's own parser reads the file.
func WithSSHBinary(path string) Option {
	return func(c *config) { c.sshBinary, c.sshBinarySet = path, true }
}

// WithSSHGTimeout bounds each run of ssh -G (default 10s).
func WithSSHGTimeout(d time.Duration) Option { return func(c *config) { c.sshGTimeout = d } }

// DefaultGlobalKnownHosts is OpenSSH's default GlobalKnownHostsFile.
var DefaultGlobalKnownHosts = defaultGlobalKnownHosts
