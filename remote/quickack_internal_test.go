package remote

import (
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuickAckRearmsTheFirstReads: a TCP connection to the host is
// wrapped; reads of one byte (the server's version line is read so) re-arm
// TCP_QUICKACK without counting, the first quickAckReads longer reads
// re-arm it (read back from the socket after each), the later ones leave
// it alone, and the bytes pass unchanged; a connection that is not TCP is
// not wrapped.
func TestQuickAckRearmsTheFirstReads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("TCP_QUICKACK is Linux's")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	const version, reads = 40, quickAckReads + 5
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for i := range version + reads {
			msg := []byte{byte(i), byte(i)}
			if i < version {
				msg = msg[:1]
			}
			if _, err := c.Write(msg); err != nil {
				return
			}
			var ack [1]byte
			if _, err := io.ReadFull(c, ack[:]); err != nil {
				return
			}
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	conn := quickAck(raw)
	defer conn.Close()
	qc, ok := conn.(*quickAckConn)
	require.True(t, ok, "a TCP connection is wrapped")
	for i := range version {
		var b [1]byte
		_, err := io.ReadFull(conn, b[:])
		require.NoError(t, err)
		assert.Equal(t, byte(i), b[0])
		assert.Equal(t, quickAckReads, qc.left, "a one-byte read %d is not counted", i)
		_, err = conn.Write([]byte{1})
		require.NoError(t, err)
	}
	for i := range reads {
		var b [2]byte
		_, err := io.ReadFull(conn, b[:])
		require.NoError(t, err)
		assert.Equal(t, byte(version+i), b[0])
		assert.Equal(t, max(quickAckReads-i-1, 0), qc.left, "read %d", i)
		if i < quickAckReads {
			var v int
			require.NoError(t, qc.raw.Control(func(fd uintptr) {
				v, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
			}))
			require.NoError(t, err)
			assert.Equal(t, 1, v, "quick ACKs after read %d", i)
		}
		_, err = conn.Write([]byte{1})
		require.NoError(t, err)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	assert.Same(t, a, quickAck(a), "not TCP: not wrapped")
}
