package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// ErrNoAuthMethod is returned (wrapped) by [Dial] when it has no key to offer:
// no ssh-agent with keys, no signer and no readable unencrypted key file.
var ErrNoAuthMethod = errors.New("no SSH authentication method")

// maxJumps bounds ProxyJump chains (and catches loops in ssh_config).
const maxJumps = 8

// Dial connects to addr ("user@host[:port]", "host", or an ssh_config Host
// alias) and returns the one connection to that host.
//
// The user defaults to ssh_config's User, then to the local user; the port to
// ssh_config's Port, then 22. ProxyJump hosts ("[user@]host[:port]", comma
// separated, each resolved through ssh_config too) are dialled first and the
// connection is tunnelled through them. Where an ssh binary is installed,
// each host's settings are those `ssh -G` prints for it (see the package
// documentation).
//
// Errors: a [*HostKeyError] when the host key is unknown or changed,
// [ErrNoAuthMethod] when there is no key to offer, the context's error when
// ctx ends first; all wrapped with the address.
func Dial(ctx context.Context, addr string, opts ...Option) (*Host, error) {
	c := newConfig(opts)
	src, err := loadSSHConfig(c)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	t, err := src.resolve(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	h := &Host{name: addr, addr: t.addr(), log: c.logger}
	auth, closers, err := authSigners(c, t)
	h.closer = closers
	if err != nil {
		h.closeAll()
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}

	// Resolve the ProxyJump chain, outermost first.
	var hops []*target
	for cur := t; cur.proxyJump != ""; {
		var jumps []*target
		for _, j := range strings.Split(cur.proxyJump, ",") {
			jt, err := src.resolve(ctx, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(j), "ssh://")))
			if err != nil {
				h.closeAll()
				return nil, fmt.Errorf("dial %s: ProxyJump %q: %w", addr, j, err)
			}
			jumps = append(jumps, jt)
		}
		hops = append(jumps, hops...)
		if len(hops) > maxJumps {
			h.closeAll()
			return nil, fmt.Errorf("dial %s: more than %d ProxyJump hops (a loop in ssh_config?)", addr, maxJumps)
		}
		cur = jumps[0]
	}

	var via *ssh.Client
	for _, hop := range hops {
		cl, err := dialHop(ctx, c, hop, via, auth)
		if err != nil {
			h.closeAll()
			return nil, fmt.Errorf("dial %s: via ProxyJump %s: %w", addr, hop.addr(), err)
		}
		c.logger.Debug("ssh: connected to jump host", "host", hop.addr())
		h.jumps = append(h.jumps, cl)
		via = cl
	}
	h.client, err = dialHop(ctx, c, t, via, auth)
	if err != nil {
		h.closeAll()
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c.logger.Debug("ssh: connected", "host", addr, "addr", t.addr(), "user", t.user)
	if c.keepAlive > 0 {
		h.startKeepAlive(c.keepAlive)
	}
	h.announce, h.maxOutput, h.startTimeout = c.announce, c.maxOutput, c.timeout
	if !c.noSharedShell {
		h.shells = newShellPool(h, maxShells)
	}
	return h, nil
}

// closeAll closes what a failed Dial opened.
func (h *Host) closeAll() {
	if h.client != nil {
		h.client.Close()
	}
	for i := len(h.jumps) - 1; i >= 0; i-- {
		h.jumps[i].Close()
	}
	for _, c := range h.closer {
		c.Close()
	}
}

// dialHop opens one SSH connection to t, over TCP or through via.
func dialHop(ctx context.Context, c *config, t *target, via *ssh.Client, auth *authSet) (*ssh.Client, error) {
	hk := newHostKeys(c, t)
	var hostKeyErr error
	check := hk.callback(t.hostKeyAddr())
	cc := &ssh.ClientConfig{
		User: t.user,
		Auth: []ssh.AuthMethod{ssh.PublicKeysCallback(auth.forHop(t))},
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			err := check(hostname, remote, key)
			hostKeyErr = err
			return err
		},
		HostKeyAlgorithms: hk.algorithms(t.hostKeyAddr()),
		Timeout:           c.timeout,
	}

	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var conn net.Conn
	var err error
	if via != nil {
		conn, err = via.DialContext(ctx, "tcp", t.addr())
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", t.addr())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect %s: %w", t.addr(), ctx.Err())
		}
		return nil, fmt.Errorf("connect %s: %w", t.addr(), err)
	}
	conn = quickAck(conn)
	// The handshake has no context: close the connection if ctx ends first.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	sconn, chans, reqs, err := ssh.NewClientConn(conn, t.addr(), cc)
	if !stop() {
		if err == nil {
			sconn.Close()
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", t.addr(), ctx.Err())
	}
	if err != nil {
		conn.Close()
		var hke *HostKeyError
		if errors.As(hostKeyErr, &hke) {
			return nil, hke
		}
		if hostKeyErr != nil {
			return nil, hostKeyErr
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// conn's deadline is ctx's: report ctx's error, whichever of
			// the two fired first.
			return nil, fmt.Errorf("ssh handshake with %s: %w", t.addr(), context.DeadlineExceeded)
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("ssh login as %s@%s: %w; offered %s", t.user, t.addr(), err, auth.describe(t))
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", t.addr(), err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sconn, chans, reqs), nil
}

// authSet is the keys offered: agent, signers, then identity files.
type authSet struct {
	agent   agent.ExtendedAgent
	signers []ssh.Signer // WithSigners + WithIdentityFiles
	log     *slog.Logger
	c       *config
	notes   []string // what was looked at, for the error message
}

// authSigners gathers the keys; per-hop ssh_config IdentityFiles are added by forHop.
func authSigners(c *config, t *target) (*authSet, []io.Closer, error) {
	a := &authSet{c: c, log: c.logger}
	var closers []io.Closer
	if c.useAgent {
		if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
			conn, err := net.Dial("unix", sock)
			if err != nil {
				c.logger.Debug("ssh: agent not reachable", "SSH_AUTH_SOCK", sock, "err", err)
				a.notes = append(a.notes, "ssh-agent unreachable")
			} else {
				closers = append(closers, conn)
				a.agent = agent.NewClient(conn)
				a.notes = append(a.notes, "ssh-agent")
			}
		} else {
			a.notes = append(a.notes, "no ssh-agent (SSH_AUTH_SOCK unset)")
		}
	}
	a.signers = append(a.signers, c.signers...)
	for _, f := range c.identityFiles {
		if s := a.loadKey(f, true); s != nil {
			a.signers = append(a.signers, s)
		}
	}
	// Fail early, with a clear message, when there is nothing to offer.
	if ss, _ := a.forHop(t)(); len(ss) == 0 {
		return nil, closers, fmt.Errorf("%w for %s@%s: %s; load a key with ssh-add, name one with IdentityFile in ~/.ssh/config, or pass remote.WithIdentityFiles",
			ErrNoAuthMethod, t.user, t.addr(), strings.Join(a.notes, ", "))
	}
	return a, closers, nil
}

// forHop returns the signers to offer to t: agent keys, signers, then the
// hop's ssh_config IdentityFiles, else the default key files.
func (a *authSet) forHop(t *target) func() ([]ssh.Signer, error) {
	return func() ([]ssh.Signer, error) {
		var out []ssh.Signer
		seen := map[string]bool{}
		add := func(s ssh.Signer) {
			k := string(s.PublicKey().Marshal())
			if !seen[k] {
				seen[k] = true
				out = append(out, s)
			}
		}
		if a.agent != nil {
			ss, err := a.agent.Signers()
			if err != nil {
				a.log.Debug("ssh: agent signers", "err", err)
			}
			for _, s := range ss {
				add(s)
			}
		}
		for _, s := range a.signers {
			add(s)
		}
		files := t.identityFiles
		explicit := true
		if len(files) == 0 && len(a.c.identityFiles) == 0 {
			explicit = false
			if home, err := os.UserHomeDir(); err == nil {
				for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
					files = append(files, filepath.Join(home, ".ssh", n))
				}
			}
		}
		for _, f := range files {
			if s := a.loadKey(f, explicit); s != nil {
				add(s)
			}
		}
		return out, nil
	}
}

// describe says which keys were offered, for an authentication failure.
func (a *authSet) describe(t *target) string {
	ss, _ := a.forHop(t)()
	var fps []string
	for _, s := range ss {
		fps = append(fps, s.PublicKey().Type()+" "+ssh.FingerprintSHA256(s.PublicKey()))
	}
	return fmt.Sprintf("%d key(s): %s", len(ss), strings.Join(fps, ", "))
}

// loadKey reads a private key file; nil (with a debug log) when it is
// missing, encrypted or unparsable.
func (a *authSet) loadKey(file string, explicit bool) ssh.Signer {
	b, err := os.ReadFile(file)
	if err != nil {
		if explicit || !errors.Is(err, fs.ErrNotExist) {
			a.log.Debug("ssh: skip identity file", "file", file, "err", err)
		}
		return nil
	}
	s, err := ssh.ParsePrivateKey(bytes.TrimSpace(b))
	if err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			a.log.Debug("ssh: skip passphrase-protected identity file (add it to ssh-agent)", "file", file)
		} else {
			a.log.Debug("ssh: skip unparsable identity file", "file", file, "err", err)
		}
		return nil
	}
	return s
}
