// Faults the server injects, for tests of what a deploy does when the
// connection, a command, SFTP or the disk fails.

package portertest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/porter-deploy/porter/remote"
)

// faults is what is armed; the zero value injects nothing.
type faults struct {
	mu         sync.Mutex
	cutAfter   int64         // bytes from clients still to let through; <0 none
	pauseAfter int64         // bytes from clients before the pause; 0 none
	paused     chan struct{} // closed once the pause began
	resume     chan struct{} // closed by Resume
	commands   []commandFault
	stalled    chan struct{} // non-nil while SFTP is stalled: closed to resume
	rate       int64         // bytes a second clients may send; 0 no limit
	next       time.Time     // when the bytes read so far have had their time
}

type commandFault struct {
	substr string
	with   string // the command run instead
}

// CutAfter closes every client connection once n more bytes have come
// from clients (all connections together, counted from now): a network
// that fails in the middle of a transfer. n <= 0 cuts at once.
func (s *Server) CutAfter(n int64) {
	if n <= 0 {
		s.Cut()
		return
	}
	s.faults.mu.Lock()
	s.faults.cutAfter = n
	s.faults.mu.Unlock()
}

// PauseAfter stops reading from clients once n more bytes have come
// (all connections together), as a network that stalls, until Resume: the
// returned channel is closed when the pause begins, so that a test can act
// at that moment (send the deploy program a signal in the middle of a
// transfer).
func (s *Server) PauseAfter(n int64) <-chan struct{} {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.pauseAfter = max(n, 1)
	s.faults.paused, s.faults.resume = make(chan struct{}), make(chan struct{})
	return s.faults.paused
}

// Resume ends a pause of PauseAfter.
func (s *Server) Resume() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.resume != nil {
		close(s.faults.resume)
		s.faults.resume, s.faults.pauseAfter = nil, 0
	}
}

// Throttle makes the server take what clients send at bps bytes a second
// at most, all connections together, as a slow network does: a transfer
// that lasts. bps <= 0 ends it.
func (s *Server) Throttle(bps int64) {
	s.faults.mu.Lock()
	s.faults.rate, s.faults.next = max(bps, 0), time.Time{}
	s.faults.mu.Unlock()
}

// Cut closes every client connection now, as a network failure would: call
// it from a signal handler to cut a deploy at that step.
func (s *Server) Cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// FailCommands makes every command of [remote.Host.Run] that contains
// substr fail instead of running: it prints stderr on its stderr and exits
// with status.
func (s *Server) FailCommands(substr string, status int, stderr string) {
	with := fmt.Sprintf("printf '%%s\\n' %s >&2; exit %d", remote.Quote(stderr), status)
	s.faults.mu.Lock()
	s.faults.commands = append(s.faults.commands, commandFault{substr: substr, with: with})
	s.faults.mu.Unlock()
}

// HangCommands makes every command of [remote.Host.Run] that contains
// substr hang instead of running, until it is killed (its context ends).
func (s *Server) HangCommands(substr string) {
	s.faults.mu.Lock()
	s.faults.commands = append(s.faults.commands, commandFault{substr: substr, with: "exec tail -f /dev/null"})
	s.faults.mu.Unlock()
}

// StallSFTP makes the SFTP servers stop reading requests, as a stuck
// sftp-server does while sshd still answers keepalives, until ResumeSFTP.
func (s *Server) StallSFTP() {
	s.faults.mu.Lock()
	if s.faults.stalled == nil {
		s.faults.stalled = make(chan struct{})
	}
	s.faults.mu.Unlock()
}

// ResumeSFTP ends StallSFTP.
func (s *Server) ResumeSFTP() {
	s.faults.mu.Lock()
	if s.faults.stalled != nil {
		close(s.faults.stalled)
		s.faults.stalled = nil
	}
	s.faults.mu.Unlock()
}

// ClearFaults disarms every fault (SFTP resumes).
func (s *Server) ClearFaults() {
	s.ResumeSFTP()
	s.Resume()
	s.faults.mu.Lock()
	s.faults.cutAfter = 0
	s.faults.commands = nil
	s.faults.rate = 0
	s.faults.mu.Unlock()
}

// faultConn counts what a client sends, for CutAfter.
type faultConn struct {
	net.Conn
	s *Server
}

func (c *faultConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		f := &c.s.faults
		f.mu.Lock()
		cut := false
		if f.cutAfter > 0 {
			f.cutAfter -= int64(n)
			if f.cutAfter <= 0 {
				f.cutAfter, cut = 0, true
			}
		}
		var wait chan struct{}
		if f.pauseAfter > 0 {
			if f.pauseAfter -= int64(n); f.pauseAfter <= 0 {
				f.pauseAfter = 0
				close(f.paused)
				wait = f.resume
			}
		} else if f.resume != nil && isClosed(f.paused) {
			wait = f.resume // paused: every connection waits
		}
		slow := f.throttle(n, time.Now())
		f.mu.Unlock()
		if cut {
			go c.s.Cut()
		}
		if wait != nil {
			<-wait
		}
		// The network of Throttle: these bytes arrive when their time
		// has come.
		time.Sleep(slow)
	}
	return n, err
}

// throttle is how long n bytes read at now wait for their time under
// Throttle: after those read before them, and none earlier than now (a
// network that was idle sends no faster).
func (f *faults) throttle(n int, now time.Time) time.Duration {
	if f.rate <= 0 {
		return 0
	}
	if f.next.Before(now) {
		f.next = now
	}
	f.next = f.next.Add(time.Duration(int64(n) * int64(time.Second) / f.rate))
	return f.next.Sub(now)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// stallReader blocks reads while SFTP is stalled.
type stallReader struct {
	io.Reader
	s *Server
}

func (r stallReader) Read(p []byte) (int, error) {
	r.s.faults.mu.Lock()
	stalled := r.s.faults.stalled
	r.s.faults.mu.Unlock()
	if stalled != nil {
		<-stalled
	}
	return r.Reader.Read(p)
}

// sftpChannel is an SFTP channel whose reads StallSFTP can stop.
type sftpChannel struct {
	stallReader
	io.WriteCloser
}

// commandFilter copies a shell's stdin (the frames remote sends it:
// "<length>\n<program>go\n") to the process, putting the command armed
// faults name in place of each matching command of Host.Run. A program
// that reads raw input after it (an archive, a command's stdin) ends the
// filtering for that shell, but for an archive of known length, which is
// passed through as it is.
func (s *Server) commandFilter(dst io.Writer, src io.Reader) {
	br := bufio.NewReaderSize(src, 64<<10)
	first := true
	for {
		line, err := br.ReadString('\n')
		n, cerr := strconv.Atoi(strings.TrimSuffix(line, "\n"))
		if err != nil || cerr != nil || n < 0 || n > 64<<20 {
			io.WriteString(dst, line)
			io.Copy(dst, br)
			return
		}
		prog := make([]byte, n)
		if _, err := io.ReadFull(br, prog); err != nil {
			io.WriteString(dst, line)
			dst.Write(prog)
			return
		}
		tail := ""
		if !first {
			if tail, err = br.ReadString('\n'); err != nil {
				io.WriteString(dst, line)
				dst.Write(prog)
				io.WriteString(dst, tail)
				return
			}
		}
		first = false
		p := s.rewrite(string(prog))
		if _, err := io.WriteString(dst, strconv.Itoa(len(p))+"\n"+p+tail); err != nil {
			return
		}
		if raw, ok := rawAfter(p); ok {
			if raw < 0 {
				io.Copy(dst, br)
				return
			}
			if _, err := io.CopyN(dst, br, raw); err != nil {
				return
			}
		}
	}
}

// runPrefix starts the program of remote.Host.Run: c=<the quoted command>.
var runPrefix = regexp.MustCompile(`^c=('(?:[^']|'\\'')*'|[A-Za-z0-9\-_./=:@,+%]+)\n`)

// rewrite puts a faulty command in place of a matching command of Run.
func (s *Server) rewrite(prog string) string {
	m := runPrefix.FindStringSubmatch(prog)
	if m == nil {
		return prog
	}
	cmd := m[1]
	if strings.HasPrefix(cmd, "'") {
		cmd = strings.ReplaceAll(cmd[1:len(cmd)-1], `'\''`, "'")
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	for _, f := range s.faults.commands {
		if strings.Contains(cmd, f.substr) {
			return "c=" + remote.Quote(f.with) + "\n" + prog[len(m[0]):]
		}
	}
	return prog
}

var headN = regexp.MustCompile(`head -c ([0-9]+) \|`)

// rawAfter says whether raw input follows the program on the shell's
// stdin: n bytes (an archive sent with its length), or -1 for the rest of
// the stream (a tar reading to the end, a command's stdin).
func rawAfter(prog string) (int64, bool) {
	if strings.HasPrefix(prog, "c=") {
		return 0, false
	}
	if m := headN.FindStringSubmatch(prog); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n, true
	}
	if strings.Contains(prog, "-f -") || strings.Contains(prog, "/bin/sh -c") && strings.Contains(prog, "3<&-; s=$?") {
		return -1, true
	}
	return 0, false
}
