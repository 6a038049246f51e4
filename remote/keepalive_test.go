package remote_test

import (
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// keepAliveServer is an SSH server that lets anyone in, refuses every
// channel and refuses every global request, as OpenSSH does keepalives.
// Each keepalive@openssh.com request that wants a reply is also sent on
// keepalives (dropped when nobody reads).
func keepAliveServer(t *testing.T) (addr string, hostKey ssh.PublicKey, keepalives <-chan struct{}) {
	t.Helper()
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	key := testSigner(t)
	cfg.AddHostKey(key)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	seen := make(chan struct{}, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				_, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				wg.Go(func() {
					for nc := range chans {
						nc.Reject(ssh.Prohibited, "keepalives only")
					}
				})
				for r := range reqs {
					if r.Type == "keepalive@openssh.com" && r.WantReply {
						select {
						case seen <- struct{}{}:
						default:
						}
					}
					r.Reply(false, nil)
				}
			})
		}
	})
	return l.Addr().String(), key.PublicKey(), seen
}

func TestKeepAlive(t *testing.T) {
	addr, key, keepalives := keepAliveServer(t)
	h, err := remote.Dial(bg, "u@"+addr, remote.WithSSHConfig(""), remote.WithoutAgent(),
		remote.WithSigners(testSigner(t)), remote.WithHostKeyCallback(ssh.FixedHostKey(key)),
		remote.WithKeepAlive(50*time.Millisecond))
	require.NoError(t, err)
	defer h.Close()
	for i := range 3 {
		select {
		case <-keepalives:
		case <-time.After(10 * time.Second): // a hang guard, not a speed test
			t.Fatalf("the server got %d keepalives, want 3", i)
		}
	}
	// Global requests are answered in order: a reply to this one means the
	// keepalives were answered too, and the refusals kept the connection.
	ok, _, err := h.Client().SendRequest("porter-test@porter-deploy.github.io", true, nil)
	require.NoError(t, err)
	assert.False(t, ok)
}

// scriptedKeepAlives makes the keepalives of the Hosts dialled next follow
// script, one byte per keepalive: '.' answered, 'x' unanswered. After the
// script every keepalive is answered and done is closed; pings counts them.
func scriptedKeepAlives(t *testing.T, script string) (done <-chan struct{}, pings *atomic.Int32) {
	end := make(chan struct{})
	var n atomic.Int32
	var once sync.Once
	t.Cleanup(remote.SetKeepAlivePing(func() error {
		i := int(n.Add(1)) - 1
		if i >= len(script) {
			once.Do(func() { close(end) })
			return nil
		}
		if script[i] == 'x' {
			return errors.New("no reply")
		}
		return nil
	}))
	return end, &n
}

// closed is closed when h's connection is.
func closed(h *remote.Host) <-chan struct{} {
	c := make(chan struct{})
	go func() { h.Client().Wait(); close(c) }()
	return c
}

func TestKeepAliveScatteredMissesKeepConnection(t *testing.T) {
	// Two misses then a reply, five times over: never three in a row.
	done, _ := scriptedKeepAlives(t, strings.Repeat("xx.", 5))
	h := portertest.NewServer(t).Dial(t, remote.WithKeepAlive(time.Millisecond))
	select {
	case <-done:
	case <-closed(h):
		t.Fatal("misses that were not in a row closed the connection")
	case <-time.After(10 * time.Second): // a hang guard
		t.Fatal("the keepalives stopped")
	}
	_, err := h.Run(bg, "true")
	require.NoError(t, err)
}

func TestKeepAliveConsecutiveMissesClose(t *testing.T) {
	done, pings := scriptedKeepAlives(t, "x.xx.xxx")
	h := portertest.NewServer(t).Dial(t, remote.WithKeepAlive(time.Millisecond))
	select {
	case <-closed(h):
	case <-done:
		t.Fatal("three misses in a row left the connection open")
	case <-time.After(10 * time.Second): // a hang guard
		t.Fatal("the keepalives stopped")
	}
	assert.Equal(t, int32(8), pings.Load(), "closed at the third miss in a row, not before")
	_, err := h.Run(bg, "true")
	require.Error(t, err)
}
