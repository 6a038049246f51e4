package remote

import (
	"net"
	"syscall"
)

// quickAckReads is how many reads (of more than a byte) of a new
// connection acknowledge at once (see quickAck): enough for the
// handshake, the authentication and the first sessions.
const quickAckReads = 64

// quickAck wraps a TCP connection to the host so that its first reads
// acknowledge what they received at once, not after the kernel's delayed
// ACK (40 ms on Linux). Until its first session starts a program, sshd
// leaves Nagle's algorithm on: a small message it writes after another
// one not yet acknowledged waits for that ACK. Opening the first session
// (the SFTP one) waited about 40 ms that way on every deploy.
func quickAck(conn net.Conn) net.Conn {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return conn
	}
	raw, err := tc.SyscallConn()
	if err != nil || !setQuickAck(raw) {
		return conn
	}
	return &quickAckConn{TCPConn: tc, raw: raw, left: quickAckReads}
}

// quickAckConn is a TCP connection whose first reads re-arm quick ACKs
// (the kernel leaves quick-ACK mode by itself).
type quickAckConn struct {
	*net.TCPConn
	raw  syscall.RawConn
	left int // reads still to re-arm; Read is called by one goroutine
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if c.left > 0 && n > 0 {
		if n > 1 {
			c.left-- // the server's version line is read a byte at a time: not counted
		}
		setQuickAck(c.raw)
	}
	return n, err
}
