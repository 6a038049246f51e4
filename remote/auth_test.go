package remote_test

import (
	"context"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// serveAgent runs an ssh-agent holding key on a unix socket and points
// SSH_AUTH_SOCK at it.
func serveAgent(t *testing.T, keyFile string) {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	raw, err := ssh.ParseRawPrivateKey(b)
	require.NoError(t, err)
	kr := agent.NewKeyring()
	require.NoError(t, kr.Add(agent.AddedKey{PrivateKey: raw}))
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); agent.ServeAgent(kr, c) })
		}
	})
	t.Setenv("SSH_AUTH_SOCK", sock)
}

func TestAgentAuth(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no default key files
	srv := portertest.NewServer(t)
	serveAgent(t, srv.IdentityFile())
	h, err := remote.Dial(bg, srv.Address(), remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithSSHConfig(""))
	require.NoError(t, err)
	_, err = h.Run(bg, "true")
	require.NoError(t, err)
	require.NoError(t, h.Close())

	// WithoutAgent: the agent's key is not offered, and there is no other.
	_, err = remote.Dial(bg, srv.Address(), remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithSSHConfig(""), remote.WithoutAgent())
	require.ErrorIs(t, err, remote.ErrNoAuthMethod)
}

// TestHomeDefaults: with no options, Dial reads ~/.ssh/config,
// ~/.ssh/known_hosts and ~/.ssh/id_ed25519, as ssh does.
func TestHomeDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("SSH_AUTH_SOCK", "")
	me, err := user.Current()
	require.NoError(t, err)
	// The server lets only the OS user in: the login proves Dial's default.
	srv := portertest.NewServer(t, portertest.WithUser(me.Username))
	dot := filepath.Join(home, ".ssh")
	require.NoError(t, os.Mkdir(dot, 0o700))
	copyFile(t, srv.IdentityFile(), filepath.Join(dot, "id_ed25519"))
	copyFile(t, srv.KnownHostsFile(), filepath.Join(dot, "known_hosts"))
	require.NoError(t, os.WriteFile(filepath.Join(dot, "config"),
		[]byte("Host box\n  HostName 127.0.0.1\n  Port "+port(srv)+"\n"), 0o600))
	h, err := remote.Dial(bg, "box")
	require.NoError(t, err)
	_, err = h.Run(bg, "true")
	require.NoError(t, err)
	require.NoError(t, h.Close())
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o600))
}

// freezer is a TCP proxy in front of srv that can stop passing bytes, as a
// dead network does, without closing anything.
type freezer struct {
	l      net.Listener
	frozen chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{l: l, frozen: make(chan struct{})}
	f.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, s)
			f.mu.Unlock()
			f.wg.Go(func() { f.pipe(s, c) })
			f.wg.Go(func() { f.pipe(c, s) })
		}
	})
	t.Cleanup(func() {
		f.freeze()
		l.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

func (f *freezer) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			return // drop everything from now on
		default:
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func TestKeepAliveClosesDeadConnection(t *testing.T) {
	srv := portertest.NewServer(t)
	fz := newFreezer(t, srv.Addr())
	// known_hosts names the server's address; the proxy's differs.
	opts := append(srv.DialOptions(), remote.WithKeepAlive(10*time.Millisecond),
		remote.WithHostKeyCallback(ssh.FixedHostKey(srv.HostKey())))
	h, err := remote.Dial(bg, srv.User()+"@"+fz.l.Addr().String(), opts...)
	require.NoError(t, err)
	defer h.Close()
	_, err = h.Run(bg, "true")
	require.NoError(t, err)

	fz.freeze() // the network goes silent: no FIN, no RST
	waited := make(chan struct{})
	go func() { h.Client().Wait(); close(waited) }()
	select {
	case <-waited: // keepalives went unanswered; the connection was closed
	case <-time.After(10 * time.Second):
		t.Fatal("the dead connection was not closed by keepalives")
	}
	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	_, err = h.Run(ctx, "true")
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "fails at once, does not hang")
}
