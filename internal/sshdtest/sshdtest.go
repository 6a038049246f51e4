// Package sshdtest starts a real OpenSSH sshd on loopback, for interop tests
// and benchmarks of porter against the server it meets in production.
//
// [Start] skips the test when sshd is not installed. Each server has its own
// host key, client key, authorized_keys, known_hosts and sshd_config in a
// directory of its own, listens on 127.0.0.1 on a free port, and lets the
// current OS user log in with the client key only. SFTP is sshd's
// internal-sftp.
//
// Options change that: [AllowUser] lets another user log in instead (sshd
// must then run as root: the test runs as root), [WithoutSFTP] leaves the
// Subsystem line out, [WithConfig] adds sshd_config lines (SetEnv...), and
// [Server.AuthorizeKey] accepts one more client key.
package sshdtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// SSHDPath is where the sshd binary is looked for first (then $PATH).
var SSHDPath = "/usr/sbin/sshd"

// startTimeout bounds how long sshd may take to listen.
const startTimeout = 15 * time.Second

// maxBindTries is how many free ports are tried when another process takes
// the chosen one between our probe and sshd's bind.
const maxBindTries = 5

// Option configures a server.
type Option func(*options)

type options struct {
	user   string // the login user; "" is the current OS user
	noSFTP bool
	extra  []string
}

// AllowUser makes name the one user that may log in, instead of the current
// OS user. Only sshd running as root can log in another user: [Start]
// skips the test when the test does not run as root. The user's
// authorized_keys is the server's file (AuthorizedKeysFile, StrictModes
// no), which sshd reads as that user: the server's directory is then made
// traversable by all (0711; its keys stay 0600), so [StartProcess]'s dir
// must have traversable parents (Start makes such a directory itself).
func AllowUser(name string) Option { return func(o *options) { o.user = name } }

// WithoutSFTP leaves the Subsystem line out of sshd_config: the server
// refuses the sftp subsystem, as a server whose admin removed it.
func WithoutSFTP() Option { return func(o *options) { o.noSFTP = true } }

// WithConfig adds lines to sshd_config, before the defaults: sshd keeps the
// first value of an option, so a line given here replaces the default
// (LogLevel DEBUG1, SetEnv PATH=...). No Match block: it would take the
// defaults in.
func WithConfig(lines ...string) Option {
	return func(o *options) { o.extra = append(o.extra, lines...) }
}

// Server is a running sshd.
type Server struct {
	dir        string
	addr       string
	user       string
	keyFile    string
	knownHosts string
	hostKey    ssh.PublicKey
	opts       options

	cmd     *exec.Cmd
	exited  chan struct{} // closed when the sshd process has been waited for
	waitErr error
	logR    *os.File
	logDone chan struct{}
	ready   chan struct{} // closed when sshd says it listens
	logMu   sync.Mutex
	log     bytes.Buffer

	closeOnce sync.Once
}

// Available reports whether an sshd binary is installed.
func Available() bool {
	_, err := sshdBinary()
	return err == nil
}

// Start starts sshd for the test and stops it when the test ends. It skips
// the test when sshd is not installed, and fails it when sshd does not start.
//
// With [AllowUser] naming another user than the current one, it skips the
// test when it does not run as root, and when that user does not exist.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	if _, err := sshdBinary(); err != nil {
		tb.Skip("sshd not installed: apt-get install openssh-server")
	}
	o := collect(opts)
	dir := tb.TempDir()
	if o.user != "" && o.user != currentUser() {
		if os.Geteuid() != 0 {
			tb.Skipf("sshd must run as root to log in user %s (a non-root sshd logs in only its own user): run the test as root", o.user)
		}
		if _, err := user.Lookup(o.user); err != nil {
			tb.Skipf("no user %s (%v): create it as root, e.g. useradd --create-home --password '*' %s", o.user, err, o.user)
		}
		// sshd reads authorized_keys as the user: its directory and that
		// directory's parents must let the user through. TempDir's parent
		// is 0700: use a directory of our own, under os.TempDir.
		d, err := os.MkdirTemp("", "sshdtest-")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	s, err := StartProcess(dir, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// StartProcess starts sshd with its files in dir (which must exist), for
// programs that are not tests (benchmarks). Call Close when done.
func StartProcess(dir string, opts ...Option) (*Server, error) {
	bin, err := sshdBinary()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	o := collect(opts)
	s := &Server{dir: dir, user: currentUser(), opts: o}
	if o.user != "" && o.user != s.user {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("sshdtest: sshd must run as root to log in user %s", o.user)
		}
		if _, err := user.Lookup(o.user); err != nil {
			return nil, fmt.Errorf("sshdtest: user %s: %w", o.user, err)
		}
		s.user = o.user
		if err := os.Chmod(dir, 0o711); err != nil {
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
	}
	if err := s.writeKeys(); err != nil {
		return nil, fmt.Errorf("sshdtest: %w", err)
	}
	if os.Geteuid() == 0 {
		// Privilege separation needs it; the package's postinst usually makes it.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
	}
	var lastErr error
	for range maxBindTries {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("sshdtest: %w", err)
		}
		run := &Server{dir: s.dir, user: s.user, keyFile: s.keyFile, hostKey: s.hostKey, opts: s.opts}
		err = run.start(bin, port)
		if err == nil {
			return run, nil
		}
		lastErr = err
		if !errors.Is(err, errBind) {
			break
		}
	}
	return nil, fmt.Errorf("sshdtest: %w", lastErr)
}

var errBind = errors.New("sshd could not bind its port")

// start runs sshd on port and waits until it accepts connections.
func (s *Server) start(bin string, port int) error {
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.knownHosts = filepath.Join(s.dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, s.hostKey) + "\n"
	if err := os.WriteFile(s.knownHosts, []byte(line), 0o600); err != nil {
		return err
	}
	cfg := filepath.Join(s.dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(s.config(port)), 0o600); err != nil {
		return err
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		return err
	}
	s.logR = logR
	s.cmd = exec.Command(bin, "-D", "-e", "-f", cfg)
	s.cmd.Stdout = logW
	s.cmd.Stderr = logW
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logW.Close()
		logR.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	logW.Close()
	s.exited = make(chan struct{})
	s.ready = make(chan struct{})
	s.logDone = make(chan struct{})
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	go s.readLog()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	select {
	case <-s.ready:
	case <-s.exited:
		<-s.logDone
		log := s.Log()
		s.Close()
		if strings.Contains(log, "Address already in use") || strings.Contains(log, "Cannot bind any address") {
			return fmt.Errorf("%w %d: %s", errBind, port, lastLines(log, 3))
		}
		return fmt.Errorf("sshd exited (%v): %s", s.waitErr, lastLines(log, 5))
	case <-ctx.Done():
		s.Close()
		return fmt.Errorf("sshd did not listen on %s within %s: %s", s.addr, startTimeout, lastLines(s.Log(), 5))
	}
	// It says it listens: check that it is this sshd that answers.
	if err := s.waitAccept(ctx); err != nil {
		s.Close()
		return err
	}
	return nil
}

// waitAccept dials the port until it accepts a connection that greets with
// an SSH banner, or sshd exits, or ctx ends. Polling a dial is the only way
// to learn it from outside; each try waits on the dial itself.
func (s *Server) waitAccept(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", s.addr)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(startTimeout))
			banner, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(banner, "SSH-2.0-OpenSSH") {
				return nil
			}
			err = fmt.Errorf("no OpenSSH banner (%q, %v)", banner, rerr)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("sshd exited: %s", lastLines(s.Log(), 5))
		case <-ctx.Done():
			return fmt.Errorf("sshd on %s does not accept connections: %v", s.addr, err)
		case <-tick.C:
		}
	}
}

// readLog copies sshd's output into the log and marks the server ready on
// "Server listening on".
func (s *Server) readLog() {
	defer close(s.logDone)
	sc := bufio.NewScanner(s.logR)
	once := sync.Once{}
	for sc.Scan() {
		line := sc.Text()
		s.logMu.Lock()
		s.log.WriteString(line + "\n")
		s.logMu.Unlock()
		if strings.Contains(line, "Server listening on") {
			once.Do(func() { close(s.ready) })
		}
	}
}

func (s *Server) config(port int) string {
	sftp := "Subsystem sftp internal-sftp\n"
	if s.opts.noSFTP {
		sftp = "# no Subsystem line: no SFTP (sshdtest.WithoutSFTP)\n"
	}
	extra := ""
	for _, l := range s.opts.extra {
		extra += l + "\n"
	}
	return fmt.Sprintf(`# written by porter's internal/sshdtest
%sPort %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers %s
StrictModes no
UsePAM no
PidFile %s
%sMaxSessions 64
MaxStartups 64:30:128
LogLevel INFO
`, extra, port, filepath.Join(s.dir, "host_key"), strings.ReplaceAll(filepath.Join(s.dir, "authorized_keys"), "%", "%%"), s.user, filepath.Join(s.dir, "sshd.pid"), sftp)
}

// writeKeys makes the host key, the client key and authorized_keys.
func (s *Server) writeKeys() error {
	hostPub, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	if s.hostKey, err = ssh.NewPublicKey(hostPub); err != nil {
		return err
	}
	if err := writePrivateKey(filepath.Join(s.dir, "host_key"), hostPriv); err != nil {
		return err
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	s.keyFile = filepath.Join(s.dir, "client_key")
	if err := writePrivateKey(s.keyFile, clientPriv); err != nil {
		return err
	}
	cpub, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		return err
	}
	return s.writeAuthorizedKeys(ssh.MarshalAuthorizedKey(cpub))
}

// writeAuthorizedKeys replaces authorized_keys. sshd reads it as the login
// user: for another user than the current one it is readable by all (it
// holds public keys only).
func (s *Server) writeAuthorizedKeys(b []byte) error {
	p := filepath.Join(s.dir, "authorized_keys")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return err
	}
	if s.user != currentUser() {
		return os.Chmod(p, 0o644)
	}
	return nil
}

// AuthorizeKey makes sshd accept key too (for a key of the test's own, in
// an ssh-agent or passphrase-protected): sshd reads authorized_keys at each
// login.
func (s *Server) AuthorizeKey(key ssh.PublicKey) error {
	b, err := os.ReadFile(filepath.Join(s.dir, "authorized_keys"))
	if err != nil {
		return err
	}
	return s.writeAuthorizedKeys(append(b, ssh.MarshalAuthorizedKey(key)...))
}

func writePrivateKey(path string, key ed25519.PrivateKey) error {
	block, err := ssh.MarshalPrivateKey(key, "sshdtest")
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// User returns the user that may log in: the current OS user, or the one of
// [AllowUser].
func (s *Server) User() string { return s.user }

// Address returns "user@127.0.0.1:PORT", the address to give remote.Dial.
func (s *Server) Address() string { return s.user + "@" + s.addr }

// Dir returns the directory holding the server's keys and config.
func (s *Server) Dir() string { return s.dir }

// HostKey returns sshd's public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey }

// KnownHostsFile returns a known_hosts file that lists exactly this server.
func (s *Server) KnownHostsFile() string { return s.knownHosts }

// IdentityFile returns the client private key that sshd accepts.
func (s *Server) IdentityFile() string { return s.keyFile }

// DialOptions returns remote options that trust exactly this server and log
// in with its client key, and nothing of the environment.
func (s *Server) DialOptions() []remote.Option {
	return portertest.TrustOnly(s.knownHosts, s.keyFile)
}

// Dial connects to the server and closes the connection when the test ends.
func (s *Server) Dial(tb testing.TB, opts ...remote.Option) *remote.Host {
	tb.Helper()
	h, err := remote.Dial(context.Background(), s.Address(), append(s.DialOptions(), opts...)...)
	if err != nil {
		tb.Fatalf("%v\nsshd log:\n%s", err, lastLines(s.Log(), 10))
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// Log returns what sshd has printed so far.
func (s *Server) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Close kills sshd (and its process group) and waits for it. Connections
// already open are served by sshd's per-connection processes until the
// client closes them. Idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.cmd == nil || s.cmd.Process == nil {
			return
		}
		select {
		case <-s.exited:
		default:
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		// Per-connection children may still hold the log pipe: stop reading.
		s.logR.Close()
		<-s.logDone
	})
	return nil
}

func sshdBinary() (string, error) {
	if _, err := os.Stat(SSHDPath); err == nil {
		return SSHDPath, nil
	}
	p, err := exec.LookPath("sshd")
	if err != nil {
		return "", errors.New("sshd not installed: apt-get install openssh-server")
	}
	return filepath.Abs(p)
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before sshd binds: StartProcess then tries another.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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

// Kill kills sshd as a crash of the whole service would: the listener and
// every process it forked to serve a connection, with SIGKILL (Close
// leaves the connections' processes running). New connections are then
// refused until Restart. Linux only, as KillSessions.
func (s *Server) Kill() error {
	if err := s.KillSessions(); err != nil {
		return err
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.exited:
	default:
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	return nil
}

// Restart starts sshd again on the same address, with the same keys and
// configuration, after Kill; it returns once sshd accepts connections.
func (s *Server) Restart() error {
	bin, err := sshdBinary()
	if err != nil {
		return err
	}
	_, p, err := net.SplitHostPort(s.addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return err
	}
	select {
	case <-s.exited:
	default:
		return errors.New("sshdtest: Restart: sshd is still running (Kill it first)")
	}
	s.logR.Close()
	<-s.logDone
	if err := s.start(bin, port); err != nil {
		return fmt.Errorf("sshdtest: restart on %s: %w", s.addr, err)
	}
	return nil
}

// KillSessions kills, with SIGKILL, every process sshd forked to serve a
// connection (and what they run), as the OOM killer or a `pkill sshd`
// would: the clients' connections die mid-way, while the listener stays
// up for the next connection. Linux only (it reads /proc); elsewhere it
// does nothing and says so.
func (s *Server) KillSessions() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	parent := map[int]int{}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("sshdtest: KillSessions: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			parent[pid] = ppid
		}
	}
	root := s.cmd.Process.Pid
	var kill []int
	for pid := range parent {
		for p := parent[pid]; p != 0 && p != 1; p = parent[p] {
			if p == root {
				kill = append(kill, pid)
				break
			}
		}
	}
	for _, pid := range kill {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return nil
}
