// Package portertest runs a real SSH and SFTP server in-process, for tests of
// deploy code, as net/http/httptest does for HTTP.
//
// The server listens on 127.0.0.1 on a free port, with a host key and a
// client key of its own. [Server.DialOptions] is a client configuration that
// trusts exactly this server through a known_hosts file and logs in with that
// client key, so a test goes through the same host key check, login and
// channels as a deploy to a real host:
//
//	srv := portertest.NewServer(t)
//	h := srv.Dial(t)                 // a *remote.Host, closed when the test ends
//	out, err := h.Run(ctx, "uname")
//	srv.Commands()                   // the commands run, in order (see Commands)
//	srv.Connections()                // SSH logins so far: 1
//
// Commands run as real local processes (/bin/sh -c CMD, as the user running
// the tests; /bin/sh is also the login shell, SHELL), and SFTP serves the real file system, so tests deploy into
// t.TempDir() and read the result with package os.
package portertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/porter-deploy/porter/remote"
)

// ServerOption configures a Server.
type ServerOption func(*options)

type options struct {
	home       string
	user       string
	loginShell string
	env        []string
	hostKeys   []ssh.Signer
	clientKey  ed25519.PrivateKey // set by StartFleet: one key for every server
	redirects  map[string]string  // WithTunnelRedirect: host:port asked -> host:port dialled
	diskSize   int64              // WithSmallDisk
}

// WithHostKeys sets the server's host keys (default: a new ed25519 key). The
// known_hosts file of [Server.DialOptions] lists them all.
func WithHostKeys(keys ...ssh.Signer) ServerOption {
	return func(o *options) { o.hostKeys = append(o.hostKeys, keys...) }
}

// WithHome sets the login directory: commands start in it (with HOME set to
// it) and relative SFTP paths are relative to it. It is created if missing.
// The default is a new directory removed by Close; a directory given here is
// left in place.
func WithHome(dir string) ServerOption { return func(o *options) { o.home = dir } }

// WithLoginShell sets the login shell that runs each exec request's
// command as `SHELL -c COMMAND`, as sshd does with the user's shell from
// the password database (default /bin/sh). Tests use it to check that
// what porter sends means the same under bash, dash, zsh, fish, tcsh or
// BusyBox ash.
func WithLoginShell(path string) ServerOption { return func(o *options) { o.loginShell = path } }

// WithEnv adds NAME=value pairs to the environment of the commands the
// server runs (after this process's own, HOME, USER, LOGNAME and SHELL),
// as a host's sshd or profile would: WithEnv("TMPDIR=" + dir) gives each
// server a temporary directory of its own without changing this process's
// environment, so tests that use it may run in parallel.
func WithEnv(kv ...string) ServerOption {
	return func(o *options) { o.env = append(o.env, kv...) }
}

// WithUser sets the only user name the server accepts (default: the
// current OS user, see [Server.User]).
func WithUser(name string) ServerOption { return func(o *options) { o.user = name } }

// WithTunnelRedirect makes a direct-tcpip channel (a porter health check,
// ssh -W) to addr, "HOST:PORT" as the host sees it, connect to the local
// address to instead. The server then plays a host with a loopback of its
// own: the project says health = http://127.0.0.1:8000/healthz as it
// would for a real host, while the process that answers listens on a free
// port of this machine. [Server.Tunnels] lists addr, as it was asked.
func WithTunnelRedirect(addr, to string) ServerOption {
	return func(o *options) {
		if o.redirects == nil {
			o.redirects = map[string]string{}
		}
		o.redirects[addr] = to
	}
}

// Server is a running SSH+SFTP server on loopback.
type Server struct {
	faults faults // what FailCommands, CutAfter, StallSFTP... armed

	ln        net.Listener
	dir       string // the server's own temp dir: keys, known_hosts, default home
	home      string
	user      string
	shell     string   // the login shell (WithLoginShell)
	env       []string // WithEnv
	redirects map[string]string
	disk      *smallDisk // WithSmallDisk
	hostKeys  []ssh.Signer
	clientKey ssh.PublicKey
	keyFile   string
	knownFile string
	config    *ssh.ServerConfig

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
	logins   int // SSH connections that logged in
	commands []string
	execs    []string
	tunnels  []string

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start starts a server. Call Close when done. Most tests want [NewServer].
func Start(opts ...ServerOption) (*Server, error) {
	o := options{user: currentUser()}
	for _, opt := range opts {
		opt(&o)
	}
	dir, err := os.MkdirTemp("", "portertest-")
	if err != nil {
		return nil, fmt.Errorf("portertest: %w", err)
	}
	s, err := start(dir, o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("portertest: %w", err)
	}
	if o.diskSize > 0 {
		if s.disk, err = newSmallDisk(o.diskSize); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func start(dir string, o options) (*Server, error) {
	s := &Server{dir: dir, home: o.home, user: o.user, shell: o.loginShell, env: o.env, redirects: o.redirects, conns: map[net.Conn]struct{}{}}
	if s.shell == "" {
		s.shell = "/bin/sh"
	}
	if s.home == "" {
		s.home = filepath.Join(dir, "home")
		if err := os.Mkdir(s.home, 0o700); err != nil {
			return nil, err
		}
	} else {
		abs, err := filepath.Abs(s.home)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
		s.home = abs
	}

	s.hostKeys = o.hostKeys
	if len(s.hostKeys) == 0 {
		_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		hk, err := ssh.NewSignerFromKey(hostPriv)
		if err != nil {
			return nil, err
		}
		s.hostKeys = []ssh.Signer{hk}
	}
	clientPriv := o.clientKey
	if clientPriv == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		clientPriv = priv
	}
	clientPub := clientPriv.Public().(ed25519.PublicKey)
	var err error
	if s.clientKey, err = ssh.NewPublicKey(clientPub); err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "portertest client")
	if err != nil {
		return nil, err
	}
	s.keyFile = filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(s.keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}

	s.config = &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() != s.user {
				return nil, fmt.Errorf("portertest: unknown user %q", c.User())
			}
			if !keysEqual(key, s.clientKey) {
				return nil, errors.New("portertest: unknown key")
			}
			return nil, nil
		},
		// Called once with a nil error per connection that logs in, before
		// the server tells the client: a Dial that returned is counted.
		AuthLogCallback: func(_ ssh.ConnMetadata, _ string, err error) {
			if err == nil {
				s.mu.Lock()
				s.logins++
				s.mu.Unlock()
			}
		},
	}
	for _, k := range s.hostKeys {
		s.config.AddHostKey(k)
	}

	if s.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.knownFile = filepath.Join(dir, "known_hosts")
	var lines []byte
	for _, k := range s.hostKeys {
		lines = append(lines, knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, k.PublicKey())+"\n"...)
	}
	if err := os.WriteFile(s.knownFile, lines, 0o600); err != nil {
		s.ln.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// NewServer starts a server and closes it when the test ends. It calls
// tb.Fatal if the server cannot start, so call it from the test's goroutine.
func NewServer(tb testing.TB, opts ...ServerOption) *Server {
	tb.Helper()
	s, err := Start(opts...)
	if errors.Is(err, ErrNoSmallDisk) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// User returns the user name the server accepts (by default the current OS
// user, which is also remote.Dial's default).
func (s *Server) User() string { return s.user }

// Address returns "user@127.0.0.1:PORT", the address to give remote.Dial.
func (s *Server) Address() string { return s.user + "@" + s.Addr() }

// Home returns the login directory (see [WithHome]).
func (s *Server) Home() string { return s.home }

// HostKey returns the server's (first) public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKeys[0].PublicKey() }

// HostKeys returns all the server's public host keys.
func (s *Server) HostKeys() []ssh.PublicKey {
	var out []ssh.PublicKey
	for _, k := range s.hostKeys {
		out = append(out, k.PublicKey())
	}
	return out
}

// KnownHostsFile returns the path of a known_hosts file that lists exactly
// this server.
func (s *Server) KnownHostsFile() string { return s.knownFile }

// IdentityFile returns the path of the (unencrypted) private key the server
// accepts.
func (s *Server) IdentityFile() string { return s.keyFile }

// ClientKey returns the public half of the key the server accepts.
func (s *Server) ClientKey() ssh.PublicKey { return s.clientKey }

// DialOptions returns the remote options that trust exactly this server and
// log in with its client key, and nothing of the environment: no agent, no
// ~/.ssh/config, no ~/.ssh/known_hosts. They also ask remote to announce
// each command ([remote.WithCommandAnnouncements]), which [Server.Commands]
// lists.
func (s *Server) DialOptions() []remote.Option {
	return append(TrustOnly(s.knownFile, s.keyFile), remote.WithCommandAnnouncements())
}

// TrustOnly returns remote options that trust only the hosts of the
// known_hosts file knownHosts and log in with the private key identityFile,
// taking nothing from the environment: no agent, no ~/.ssh/config, no
// ~/.ssh/known_hosts. It is what DialOptions returns, for servers of your
// own (a test sshd, a container).
func TrustOnly(knownHosts, identityFile string) []remote.Option {
	return []remote.Option{
		remote.WithKnownHosts(knownHosts),
		remote.WithIdentityFiles(identityFile),
		remote.WithoutAgent(),
		remote.WithSSHConfig(""),
	}
}

// Dial connects to the server with [Server.DialOptions] plus opts, and
// closes the connection when the test ends. It calls tb.Fatal on error, so
// call it from the test's goroutine.
func (s *Server) Dial(tb testing.TB, opts ...remote.Option) *remote.Host {
	tb.Helper()
	h, err := remote.Dial(context.Background(), s.Address(), append(s.DialOptions(), opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// Commands returns the commands the server was asked to run, in the order
// their requests reached it (a copy). A command is either
//
//   - the command of an exec request, unless its session first sent a
//     "porter-shell@porter-deploy.github.io" request, as the shells of
//     package remote do when asked to announce (the option that
//     [Server.DialOptions] includes); or
//   - the command named in a "porter-command@porter-deploy.github.io"
//     request, which such a shell sends before each command of
//     [remote.Host.Run] (and [remote.Host.RunInput] where that runs in a
//     shell too).
//
// Nothing else is listed. A session that runs a program of its own, one
// that then reads more code on its stdin (the sync agent of package rsync),
// is listed once, as its exec command; the code it then runs (hashing,
// staging, tar -x) is not. Code that remote sends a shell other than a
// command of Run or RunInput (its own clean-ups) is not announced, so not
// listed. What goes through SFTP (porter's locks and records, the files a
// sync writes with SFTP, directory walks) is no command. Commands that start
// at the same time, such as a sync agent that a deploy starts in the
// background, are listed in the order their requests arrived, which can
// change from run to run. [Server.Execs] lists the exec requests alone.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Execs returns the command of every exec request, in order (a copy): one
// per session that ran a command, the start of remote's shared shell
// included, the commands run through it excluded.
func (s *Server) Execs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.execs)
}

// Connections returns how many SSH connections the server has accepted so
// far: those that completed the handshake and logged in, whether still open
// or closed since. A connection refused (unknown key or user, failed
// handshake) does not count, nor does a tunnel (direct-tcpip) through one.
// A deploy to one host should count 1.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Tunnels returns the "host:port" of every direct-tcpip channel opened
// through the server (ProxyJump, ssh -W), in order (a copy).
func (s *Server) Tunnels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tunnels)
}

// Close stops the server: it closes the listener and every connection, kills
// running commands, waits for them, and removes the server's own temporary
// directory. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.ClearFaults() // nothing stays paused or stalled
		s.mu.Lock()
		s.closed = true
		s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		os.RemoveAll(s.dir)
		if s.disk != nil {
			if err := s.disk.close(); err != nil {
				fmt.Fprintf(os.Stderr, "portertest: remove the disk at %s: %v\n", s.disk.dir, err)
			}
		}
	})
}

func keysEqual(a, b ssh.PublicKey) bool {
	return a.Type() == b.Type() && string(a.Marshal()) == string(b.Marshal())
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}
