// Package dropbeartest starts a real Dropbear SSH server on loopback, for
// interop tests of porter against the server of small hosts (routers,
// Alpine and BusyBox images).
//
// Dropbear (2022.83, Debian's dropbear-bin) reads a user's keys only from
// ~/.ssh/authorized_keys in the login directory of the password database,
// and a non-root dropbear logs in only the user it runs as. A test would
// have to write into the HOME of the person running it: [Start] refuses,
// and skips the test, unless it runs as root and logs in a throwaway user
// (created beforehand, as .ci/run does: useradd --create-home --password
// '*' porter-dropbear). It then adds the server's client key to that user's
// ~/.ssh/authorized_keys, marked as its own, and takes it out again when
// the test ends (removing the file, and ~/.ssh, when it made them and they
// are empty).
//
// SFTP is Dropbear's: it runs the sftp-server binary at a path compiled in
// (/usr/lib/sftp-server on Debian, from openssh-sftp-server), found with
// [SFTPServerPath]. [WithoutSFTP] makes that binary missing for the server.
package dropbeartest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
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

// DropbearPath and DropbearkeyPath are where the binaries are looked for
// first (then $PATH).
var (
	DropbearPath    = "/usr/sbin/dropbear"
	DropbearkeyPath = "/usr/bin/dropbearkey"
)

const (
	startTimeout = 15 * time.Second
	maxBindTries = 5
	// keyMark ends the comment of the authorized_keys lines this package
	// writes: lines without it are someone's keys, never touched.
	keyMark = "porter-dropbeartest"
)

// Option configures a server.
type Option func(*options)

type options struct{ noSFTP bool }

// WithoutSFTP runs the server as if its sftp-server binary were not
// installed: a forced command (dropbear -c) execs a missing program where
// Dropbear would exec its compiled-in sftp-server, and runs every other
// command as asked. The client sees what it sees on a host without
// openssh-sftp-server: the subsystem request succeeds, the program it runs
// fails with "not found", the channel closes.
func WithoutSFTP() Option { return func(o *options) { o.noSFTP = true } }

// Server is a running dropbear.
type Server struct {
	dir        string
	addr       string
	user       string
	keyFile    string
	knownHosts string
	hostKey    ssh.PublicKey
	keyLine    string // our line in the user's authorized_keys
	home       string

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logR    *os.File
	logDone chan struct{}
	logMu   sync.Mutex
	log     bytes.Buffer

	closeOnce sync.Once
}

// Start starts dropbear for login as loginUser, and stops it when the test
// ends. It skips the test when dropbear, dropbearkey or its sftp-server is
// not installed, when the test does not run as root, and when loginUser
// does not exist or is root.
func Start(tb testing.TB, loginUser string, opts ...Option) *Server {
	tb.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	bin, err := binary(DropbearPath, "dropbear")
	if err != nil {
		tb.Skip("dropbear not installed: apt-get install dropbear-bin")
	}
	keygen, err := binary(DropbearkeyPath, "dropbearkey")
	if err != nil {
		tb.Skip("dropbearkey not installed: apt-get install dropbear-bin")
	}
	if !o.noSFTP {
		p, err := SFTPServerPath(bin)
		if err != nil {
			tb.Skipf("dropbear's SFTP: %v", err)
		}
		if _, err := os.Stat(p); err != nil {
			tb.Skipf("dropbear runs its SFTP server from %s, which is missing: apt-get install openssh-sftp-server", p)
		}
	}
	if os.Geteuid() != 0 {
		tb.Skip("dropbear reads keys only from the login user's ~/.ssh/authorized_keys and, not as root, logs in only the current user: " +
			"the test would write into your HOME; run it as root, with a throwaway user (useradd --create-home --password '*' " + loginUser + ")")
	}
	if loginUser == "root" {
		tb.Fatal("dropbeartest: log in a throwaway user, not root: its ~/.ssh/authorized_keys is written")
	}
	u, err := user.Lookup(loginUser)
	if err != nil {
		tb.Skipf("no user %s (%v): create it as root: useradd --create-home --password '*' %s (.ci/run does)", loginUser, err, loginUser)
	}
	s := &Server{dir: tb.TempDir(), user: loginUser, home: u.HomeDir}
	if err := s.writeKeys(keygen); err != nil {
		tb.Fatalf("dropbeartest: %v", err)
	}
	if err := s.authorize(u); err != nil {
		tb.Fatalf("dropbeartest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.unauthorize(); err != nil {
			tb.Errorf("dropbeartest: %v", err)
		}
	})
	var lastErr error
	for range maxBindTries {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("dropbeartest: %v", err)
		}
		err = s.start(bin, port, o)
		if err == nil {
			tb.Cleanup(func() { s.Close() })
			return s
		}
		lastErr = err
		if !errors.Is(err, errBind) {
			break
		}
	}
	tb.Fatalf("dropbeartest: %v", lastErr)
	return nil
}

var errBind = errors.New("dropbear could not bind its port")

// start runs dropbear on port and waits until it greets.
func (s *Server) start(bin string, port int, o options) error {
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.knownHosts = filepath.Join(s.dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.addr)}, s.hostKey) + "\n"
	if err := os.WriteFile(s.knownHosts, []byte(line), 0o600); err != nil {
		return err
	}
	args := []string{
		"-F", "-E", // foreground, log to stderr
		"-p", s.addr,
		"-r", filepath.Join(s.dir, "host_key"),
		"-P", filepath.Join(s.dir, "dropbear.pid"),
		"-s", // no password logins
		"-w", // no root login
		"-m", // no motd
	}
	if o.noSFTP {
		// Dropbear runs the subsystem as the command "<compiled-in path>"
		// through the login shell, SSH_ORIGINAL_COMMAND under -c.
		args = append(args, "-c", `case "$SSH_ORIGINAL_COMMAND" in */sftp-server) exec /nonexistent/porter-dropbeartest/sftp-server;; esac; exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"`)
	}
	logR, logW, err := os.Pipe()
	if err != nil {
		return err
	}
	s.logR = logR
	s.log.Reset()
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout = logW
	s.cmd.Stderr = logW
	s.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logW.Close()
		logR.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	logW.Close()
	s.exited = make(chan struct{})
	s.logDone = make(chan struct{})
	s.closeOnce = sync.Once{}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	go s.readLog()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.waitAccept(ctx); err != nil {
		s.Close()
		<-s.logDone
		log := s.Log()
		if strings.Contains(log, "Address already in use") || strings.Contains(log, "No listening ports") {
			return fmt.Errorf("%w %d: %s", errBind, port, lastLines(log, 3))
		}
		return fmt.Errorf("%v: %s", err, lastLines(log, 5))
	}
	return nil
}

// waitAccept dials until dropbear greets with its banner, it exits, or ctx
// ends.
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
			if rerr == nil && strings.HasPrefix(banner, "SSH-2.0-dropbear") {
				return nil
			}
			err = fmt.Errorf("no Dropbear banner (%q, %v)", banner, rerr)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("dropbear exited (%v)", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("dropbear on %s does not accept connections: %v", s.addr, err)
		case <-tick.C:
		}
	}
}

func (s *Server) readLog() {
	defer close(s.logDone)
	sc := bufio.NewScanner(s.logR)
	for sc.Scan() {
		s.logMu.Lock()
		s.log.WriteString(sc.Text() + "\n")
		s.logMu.Unlock()
	}
}

// writeKeys makes the host key with dropbearkey (its own format), reads
// its public half, and makes the client key.
func (s *Server) writeKeys(keygen string) error {
	hk := filepath.Join(s.dir, "host_key")
	if out, err := exec.Command(keygen, "-t", "ed25519", "-f", hk).CombinedOutput(); err != nil {
		return fmt.Errorf("dropbearkey -t ed25519: %v: %s", err, out)
	}
	out, err := exec.Command(keygen, "-y", "-f", hk).Output()
	if err != nil {
		return fmt.Errorf("dropbearkey -y: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "ssh-") {
			if s.hostKey, _, _, _, err = ssh.ParseAuthorizedKey([]byte(l)); err != nil {
				return fmt.Errorf("dropbearkey -y: %q: %v", l, err)
			}
		}
	}
	if s.hostKey == nil {
		return fmt.Errorf("dropbearkey -y printed no public key: %s", out)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "dropbeartest")
	if err != nil {
		return err
	}
	s.keyFile = filepath.Join(s.dir, "client_key")
	if err := os.WriteFile(s.keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	cpub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return err
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	s.keyLine = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cpub))) + " " + hex.EncodeToString(id) + "@" + keyMark
	return nil
}

// authorize adds our key line to the user's ~/.ssh/authorized_keys, which
// must hold nothing but lines of this package.
func (s *Server) authorize(u *user.User) error {
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	return s.editKeys(func(lines []string) ([]string, error) {
		for _, l := range lines {
			if !strings.HasSuffix(l, "@"+keyMark) {
				return nil, fmt.Errorf("%s has keys that dropbeartest did not write: %s is not a throwaway user, use another", filepath.Join(s.home, ".ssh/authorized_keys"), s.user)
			}
		}
		return append(lines, s.keyLine), nil
	}, uid, gid)
}

// unauthorize takes our line out again.
func (s *Server) unauthorize() error {
	return s.editKeys(func(lines []string) ([]string, error) {
		var out []string
		for _, l := range lines {
			if l != s.keyLine {
				out = append(out, l)
			}
		}
		return out, nil
	}, -1, -1)
}

// editKeys rewrites the user's authorized_keys under an flock of the home
// directory (tests in other processes share the user). With no line left
// the file is removed, and ~/.ssh too when it is empty. uid and gid (when
// not -1) own what is created: Dropbear wants ~/.ssh and the file to be
// the user's (or root's) and writable by nobody else.
func (s *Server) editKeys(edit func([]string) ([]string, error), uid, gid int) error {
	hd, err := os.Open(s.home)
	if err != nil {
		return fmt.Errorf("the login directory of %s: %w", s.user, err)
	}
	defer hd.Close()
	if err := syscall.Flock(int(hd.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(hd.Fd()), syscall.LOCK_UN)
	dot := filepath.Join(s.home, ".ssh")
	file := filepath.Join(dot, "authorized_keys")
	var lines []string
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		for _, l := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	lines, err = edit(lines)
	if err != nil {
		return err
	}
	if len(lines) == 0 {
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.Remove(dot); err != nil && !errors.Is(err, os.ErrNotExist) && !isNotEmpty(err) {
			return err
		}
		return nil
	}
	if _, err := os.Lstat(dot); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(dot, 0o700); err != nil {
			return err
		}
		if uid >= 0 {
			if err := os.Chown(dot, uid, gid); err != nil {
				return err
			}
		}
	}
	tmp := file + ".dropbeartest"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	if uid < 0 {
		if fi, err := os.Stat(dot); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				uid, gid = int(st.Uid), int(st.Gid)
			}
		}
	}
	if uid >= 0 {
		if err := os.Chown(tmp, uid, gid); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	return os.Rename(tmp, file)
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// SFTPServerPath returns the sftp-server path compiled into the dropbear
// binary bin (the string that ends in "/sftp-server").
func SFTPServerPath(bin string) (string, error) {
	b, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	for _, s := range bytes.Split(b, []byte{0}) {
		if bytes.HasPrefix(s, []byte("/")) && bytes.HasSuffix(s, []byte("/sftp-server")) && !bytes.ContainsAny(s, " \n\t%") {
			return string(s), nil
		}
	}
	return "", fmt.Errorf("%s has no sftp-server path compiled in (built without DROPBEAR_SFTPSERVER?)", bin)
}

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.addr }

// User returns the user that may log in.
func (s *Server) User() string { return s.user }

// Address returns "user@127.0.0.1:PORT", the address to give remote.Dial.
func (s *Server) Address() string { return s.user + "@" + s.addr }

// Home returns the login user's login directory.
func (s *Server) Home() string { return s.home }

// Dir returns the directory holding the server's keys.
func (s *Server) Dir() string { return s.dir }

// HostKey returns dropbear's public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey }

// KnownHostsFile returns a known_hosts file that lists exactly this server.
func (s *Server) KnownHostsFile() string { return s.knownHosts }

// IdentityFile returns the client private key that dropbear accepts.
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
		tb.Fatalf("%v\ndropbear log:\n%s", err, lastLines(s.Log(), 10))
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

// Log returns what dropbear has printed so far.
func (s *Server) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Close kills dropbear and its process group and waits for it. Idempotent.
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
		s.logR.Close()
		<-s.logDone
	})
	return nil
}

func binary(path, name string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	return filepath.Abs(p)
}

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
