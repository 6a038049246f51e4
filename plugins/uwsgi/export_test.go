package uwsgi

// ParsePid is parsePid, for the tests of what a pid file may hold.
func ParsePid(b []byte) (int, error) { return parsePid(b) }

// PidFile is pidFile, for the tests of where the plugin looks.
func (p *Plugin) PidFile(launcher string) string { return p.pidFile(launcher) }
