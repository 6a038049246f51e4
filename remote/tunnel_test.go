package remote_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoOnce listens on loopback (the host's side: the SSH servers run on
// this machine) and answers its first connection with what it read, upper
// case.
func echoOnce(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(io.LimitReader(c, 5))
		c.Write([]byte(strings.ToUpper(string(b))))
	}()
	return ln.Addr().String()
}

func TestTunnelDialContextReachesTheHostsPort(t *testing.T) {
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		addr := echoOnce(t)
		c, err := h.DialContext(context.Background(), "tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		require.NoError(t, err)
		b, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, "HELLO", string(b))
		if s.pt != nil {
			assert.Equal(t, []string{addr}, s.pt.Tunnels(), "a direct-tcpip channel, to the address as given")
		}
	})
}

func TestTunnelDialContextRefused(t *testing.T) {
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		_, err = h.DialContext(context.Background(), "tcp", addr)
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "connect to "+addr+" from "+h.Name()+": ssh: rejected: connect failed"), err.Error())
	})
}

func TestTunnelDialContextCancelled(t *testing.T) {
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := h.DialContext(ctx, "tcp", echoOnce(t))
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
		_, err = h.DialContext(context.Background(), "udp", "127.0.0.1:53")
		assert.EqualError(t, err, "connect to 127.0.0.1:53 from "+h.Name()+`: network "udp": want tcp`)
	})
}
