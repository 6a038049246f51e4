//go:build unix

package portertest

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the command in a process group of its own, so that a
// signal reaches the children of sh -c too.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE,
	"HUP": syscall.SIGHUP, "ILL": syscall.SIGILL, "INT": syscall.SIGINT,
	"KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE, "QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// signal sends the named signal ("TERM", "KILL"...) to the process group,
// unless the command has already been waited for.
func (p *process) signal(name string) {
	sig, ok := signals[name]
	if !ok {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// exitSignal names the signal that killed the command, if one did.
func exitSignal(ee *exec.ExitError) (string, bool) {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return "", false
	}
	for name, sig := range signals {
		if sig == ws.Signal() {
			return name, true
		}
	}
	return "", false
}
