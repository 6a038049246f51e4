package remote_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/remote"
)

// silentServer is a TCP listener on 127.0.0.1 that accepts connections and
// never says a word. It returns its address, and connected, which reports
// whether anything connected to it since the last call: connected connects
// too, and since connections are accepted in order, any accepted before its
// own came earlier.
func silentServer(t *testing.T) (addr string, connected func() bool) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	conns := make(chan net.Conn, 16)
	go func() {
		defer close(conns)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range conns {
			c.Close()
		}
	})
	connected = func() bool {
		me, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		defer me.Close()
		others := false
		for c := range conns {
			c.Close()
			if c.RemoteAddr().String() == me.LocalAddr().String() {
				return others
			}
			others = true
		}
		t.Fatal("listener closed")
		return false
	}
	return l.Addr().String(), connected
}

func TestDialTimeoutSilentServer(t *testing.T) {
	addr, _ := silentServer(t)
	opts := []remote.Option{remote.WithSSHConfig(""), remote.WithoutAgent(), remote.WithSigners(testSigner(t)),
		remote.WithTimeout(50 * time.Millisecond)}
	errc := make(chan error, 1)
	go func() {
		h, err := remote.Dial(bg, "u@"+addr, opts...)
		if h != nil {
			h.Close()
		}
		errc <- err
	}()
	var err error
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second): // a hang guard (200 times the timeout), not a speed test
		t.Fatal("Dial ignored WithTimeout: still waiting for the silent server")
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualError(t, err, "dial u@"+addr+": ssh handshake with "+addr+": context deadline exceeded")
}
