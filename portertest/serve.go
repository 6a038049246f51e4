package portertest

import (
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// serve accepts connections until the listener closes.
func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handleConn(&faultConn{Conn: c, s: s}, c)
	}
}

// handleConn serves the connection c (raw is c without the fault
// injection, as s.conns knows it).
func (s *Server) handleConn(c, raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()
	sconn, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer sconn.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for r := range reqs {
			// keepalive@openssh.com and anything else: answer, so that
			// clients see the server alive; refuse what we do not do.
			r.Reply(r.Type == "keepalive@openssh.com", nil)
		}
	}()
	var chWG sync.WaitGroup
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			chWG.Add(1)
			go func() { defer chWG.Done(); s.handleSession(nc) }()
		case "direct-tcpip":
			chWG.Add(1)
			go func() { defer chWG.Done(); s.handleDirectTCPIP(nc) }()
		default:
			nc.Reject(ssh.UnknownChannelType, "unsupported channel type "+nc.ChannelType())
		}
	}
	chWG.Wait()
}

// handleSession serves one session channel: env, exec, subsystem sftp,
// signal; pty and shell are refused.
func (s *Server) handleSession(nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	var env []string
	var started, shared bool
	var proc *process
	var sftpDone chan struct{}
	for r := range reqs {
		switch r.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(r.Payload, &kv) == nil {
				env = append(env, kv.Name+"="+kv.Value)
				r.Reply(true, nil)
			} else {
				r.Reply(false, nil)
			}
		case "exec":
			var p struct{ Command string }
			if started || ssh.Unmarshal(r.Payload, &p) != nil {
				r.Reply(false, nil)
				continue
			}
			proc, err = s.startProcess(ch, p.Command, env)
			if err != nil {
				r.Reply(false, nil)
				return
			}
			started = true
			s.mu.Lock()
			s.execs = append(s.execs, p.Command)
			if !shared {
				s.commands = append(s.commands, p.Command)
			}
			s.mu.Unlock()
			// Reply before the exit status can be sent: a quick command
			// would otherwise close the channel before the client hears
			// that it started.
			r.Reply(true, nil)
			s.wg.Add(1)
			go proc.wait(s, ch)
		case "subsystem":
			var p struct{ Name string }
			if started || ssh.Unmarshal(r.Payload, &p) != nil || p.Name != "sftp" {
				r.Reply(false, nil)
				continue
			}
			serve, err := s.sftpServer(ch)
			if err != nil {
				r.Reply(false, nil)
				return
			}
			started = true
			r.Reply(true, nil)
			sftpDone = make(chan struct{})
			go func() {
				defer close(sftpDone)
				serve()
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
				ch.Close()
			}()
		case sharedShellRequest:
			// remote's shared shell: its exec is not a command of the
			// deploy; the commands it runs are announced one by one.
			shared = true
			if r.WantReply {
				r.Reply(true, nil)
			}
		case sharedCommandRequest:
			var p struct{ Command string }
			if ssh.Unmarshal(r.Payload, &p) == nil {
				s.mu.Lock()
				s.commands = append(s.commands, p.Command)
				s.mu.Unlock()
			}
			if r.WantReply {
				r.Reply(true, nil)
			}
		case "signal":
			var p struct{ Signal string }
			if proc != nil && ssh.Unmarshal(r.Payload, &p) == nil {
				proc.signal(p.Signal)
			}
			if r.WantReply {
				r.Reply(proc != nil, nil)
			}
		default: // pty-req, shell, x11-req, ...
			r.Reply(false, nil)
		}
	}
	// The client closed the channel (or the connection went): stop what
	// runs. Like sshd, the command first sees the end of its stdin (remote's
	// shell then removes its temp directory and ends what it runs): it gets
	// a moment for that before it is killed.
	if proc != nil {
		t := time.NewTimer(2 * time.Second)
		select {
		case <-proc.done:
		case <-t.C:
		}
		t.Stop()
		proc.signal("KILL")
		<-proc.done
	}
	if sftpDone != nil {
		ch.Close()
		<-sftpDone
	}
}

// sftpServer starts the SFTP server of a channel and returns the call
// that serves until the client is done: in this process, or, when the
// small disk is in a namespace, in a process there (startSFTPHelper).
func (s *Server) sftpServer(ch ssh.Channel) (serve func(), _ error) {
	in := stallReader{ch, s}
	if s.disk != nil && s.disk.nsenter != nil {
		wait, err := s.startSFTPHelper(in, ch, ch.Stderr())
		if err != nil {
			return nil, err
		}
		return func() { _ = wait() }, nil
	}
	srv, err := sftp.NewServer(sftpChannel{in, ch}, sftp.WithServerWorkingDirectory(s.home))
	if err != nil {
		return nil, err
	}
	return func() {
		srv.Serve()
		srv.Close()
	}, nil
}

// The channel requests of remote's shared shell (see remote.Host.Run): the
// first comes before the exec of the shell, the second before each command
// the shell runs, with that command.
const (
	sharedShellRequest   = "porter-shell@porter-deploy.github.io"
	sharedCommandRequest = "porter-command@porter-deploy.github.io"
)

// process is one exec request's command.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProcess starts /bin/sh -c command with the channel as stdin, stdout
// and stderr; the caller then runs p.wait.
func (s *Server) startProcess(ch ssh.Channel, command string, env []string) (*process, error) {
	argv := s.disk.command(s.home, s.shell, "-c", command)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.home
	// SHELL is the login shell, as sshd sets it.
	cmd.Env = append(os.Environ(), "HOME="+s.home, "USER="+s.user, "LOGNAME="+s.user, "SHELL="+s.shell)
	cmd.Env = append(append(cmd.Env, s.env...), env...)
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	setProcessGroup(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		// stdin: copy until the client's EOF, then close the pipe. Not waited
		// for by Wait: a command that does not read its input still ends.
		defer s.wg.Done()
		s.commandFilter(stdin, ch) // FailCommands, HangCommands
		stdin.Close()
	}()
	return p, nil
}

// wait waits for the command, sends its exit status (or the signal that
// killed it) and closes the channel.
func (p *process) wait(s *Server, ch ssh.Channel) {
	defer s.wg.Done()
	defer close(p.done)
	err := p.cmd.Wait()
	status := 0
	if err != nil {
		status = 255
		if ee, ok := err.(*exec.ExitError); ok {
			if sig, ok := exitSignal(ee); ok {
				ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
					Signal     string
					CoreDumped bool
					Msg, Lang  string
				}{Signal: sig}))
				ch.Close()
				return
			}
			if status = ee.ExitCode(); status < 0 {
				status = 255
			}
		}
	}
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
	ch.Close()
}

// handleDirectTCPIP forwards a direct-tcpip channel (ProxyJump, ssh -W) to
// the address it names.
func (s *Server) handleDirectTCPIP(nc ssh.NewChannel) {
	var p struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
		nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip request")
		return
	}
	addr := net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port)))
	dial := addr
	if to, ok := s.redirects[addr]; ok {
		dial = to
	}
	conn, err := net.Dial("tcp", dial)
	if err != nil {
		nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		conn.Close()
		return
	}
	s.mu.Lock()
	s.tunnels = append(s.tunnels, addr)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); ssh.DiscardRequests(reqs) }()
	// Either direction ending ends the tunnel: close both sides, which
	// unblocks the other copy.
	var once sync.Once
	closeBoth := func() { once.Do(func() { ch.Close(); conn.Close() }) }
	done := make(chan struct{}, 2)
	go func() { io.Copy(conn, ch); closeBoth(); done <- struct{}{} }()
	go func() { io.Copy(ch, conn); closeBoth(); done <- struct{}{} }()
	<-done
	<-done
}
