package remote_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func port(srv *portertest.Server) string {
	_, p, _ := strings.Cut(srv.Addr(), ":")
	return p
}

func TestSSHConfigAlias(t *testing.T) {
	srv := portertest.NewServer(t, portertest.WithUser("deployer"))
	cfg := writeFile(t, "config", fmt.Sprintf(`
Host web1
  HostName 127.0.0.1
  User deployer
  Port %s
  IdentityFile %s

Host *
  User nobody-should-win
`, port(srv), srv.IdentityFile()))
	h, err := remote.Dial(context.Background(), "web1",
		remote.WithSSHConfig(cfg), remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithoutAgent())
	require.NoError(t, err)
	defer h.Close()
	assert.Equal(t, "web1", h.Name())
	assert.Equal(t, srv.Addr(), h.Addr())
	out, err := h.Run(context.Background(), "echo via alias")
	require.NoError(t, err)
	assert.Equal(t, "via alias\n", string(out.Stdout))
}

func TestSSHConfigAddressWins(t *testing.T) {
	// A user and port in the address override ssh_config's.
	srv := portertest.NewServer(t)
	cfg := writeFile(t, "config", fmt.Sprintf(`
Host web1
  HostName 127.0.0.1
  User wrong
  Port 1
  IdentityFile %s
`, srv.IdentityFile()))
	h, err := remote.Dial(context.Background(), srv.User()+"@web1:"+port(srv),
		remote.WithSSHConfig(cfg), remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithoutAgent())
	require.NoError(t, err)
	h.Close()
}

func TestSSHConfigUserKnownHostsFile(t *testing.T) {
	srv := portertest.NewServer(t)
	cfg := writeFile(t, "config", fmt.Sprintf(`
Host web1
  HostName 127.0.0.1
  Port %s
  IdentityFile %s
  UserKnownHostsFile %s
`, port(srv), srv.IdentityFile(), srv.KnownHostsFile()))
	h, err := remote.Dial(context.Background(), srv.User()+"@web1", remote.WithSSHConfig(cfg), remote.WithoutAgent())
	require.NoError(t, err)
	h.Close()
}

func TestSSHConfigHostKeyAlias(t *testing.T) {
	srv := portertest.NewServer(t)
	// known_hosts names the host "myalias", not [127.0.0.1]:port: OpenSSH
	// stores an alias as it is, whatever the port.
	kh, err := os.ReadFile(srv.KnownHostsFile())
	require.NoError(t, err)
	khAlias := writeFile(t, "known_hosts", strings.Replace(string(kh), "[127.0.0.1]:"+port(srv), "myalias", 1))
	cfg := writeFile(t, "config", fmt.Sprintf(`
Host web1
  HostName 127.0.0.1
  Port %s
  IdentityFile %s
  HostKeyAlias myalias
`, port(srv), srv.IdentityFile()))
	h, err := remote.Dial(context.Background(), srv.User()+"@web1",
		remote.WithSSHConfig(cfg), remote.WithKnownHosts(khAlias), remote.WithoutAgent())
	require.NoError(t, err)
	h.Close()
}

func TestProxyJump(t *testing.T) {
	jump := portertest.NewServer(t, portertest.WithUser("jumper"))
	target := portertest.NewServer(t)
	cfg := writeFile(t, "config", fmt.Sprintf(`
Host target
  HostName 127.0.0.1
  Port %s
  IdentityFile %s
  ProxyJump jumphost

Host jumphost
  HostName 127.0.0.1
  User jumper
  Port %s
  IdentityFile %s
`, port(target), target.IdentityFile(), port(jump), jump.IdentityFile()))
	h, err := remote.Dial(context.Background(), "target", remote.WithSSHConfig(cfg),
		remote.WithKnownHosts(jump.KnownHostsFile(), target.KnownHostsFile()), remote.WithoutAgent(), remote.WithCommandAnnouncements())
	require.NoError(t, err)
	defer h.Close()
	out, err := h.Run(context.Background(), "echo through the jump host")
	require.NoError(t, err)
	assert.Equal(t, "through the jump host\n", string(out.Stdout))
	c, err := h.SFTP(context.Background())
	require.NoError(t, err)
	_, err = c.Getwd()
	require.NoError(t, err)

	assert.Equal(t, []string{"echo through the jump host"}, target.Commands())
	assert.Empty(t, jump.Commands(), "nothing runs on the jump host")
	assert.Equal(t, []string{target.Addr()}, jump.Tunnels(), "the connection went through the jump host")
}

func TestProxyJumpUnknownJumpHostKey(t *testing.T) {
	jump := portertest.NewServer(t)
	target := portertest.NewServer(t)
	cfg := writeFile(t, "config", fmt.Sprintf(`
Host target
  HostName 127.0.0.1
  Port %s
  ProxyJump %s@127.0.0.1:%s
`, port(target), jump.User(), port(jump)))
	_, err := remote.Dial(context.Background(), "target", remote.WithSSHConfig(cfg),
		remote.WithKnownHosts(target.KnownHostsFile()), remote.WithoutAgent(),
		remote.WithIdentityFiles(jump.IdentityFile(), target.IdentityFile()))
	var hke *remote.HostKeyError
	require.ErrorAs(t, err, &hke)
	assert.Equal(t, jump.Addr(), hke.Host)
	assert.Contains(t, err.Error(), "ProxyJump")
}

func TestProxyJumpLoop(t *testing.T) {
	cfg := writeFile(t, "config", "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
	_, err := remote.Dial(context.Background(), "a", remote.WithSSHConfig(cfg), remote.WithoutAgent(),
		remote.WithSigners(testSigner(t)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ProxyJump hops")
}

func TestBadSSHConfig(t *testing.T) {
	_, err := remote.Dial(context.Background(), "a", remote.WithSSHConfig(filepath.Join(t.TempDir(), "missing")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ssh config")
}

func TestBadAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"":      "dial : empty address",
		"@host": `dial @host: address "@host": empty user before @`,
		"user@": `dial user@: address "user@": empty host`,
	} {
		_, err := remote.Dial(context.Background(), addr, remote.WithSSHConfig(""))
		assert.EqualError(t, err, want, "address %q", addr)
	}
}

// TestBadPort: a port out of 1-65535 is refused by name, before anything
// is looked up or connected to, whether it comes from the address, a
// ProxyJump or ssh_config's Port.
func TestBadPort(t *testing.T) {
	addr, connected := silentServer(t)
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	// h is a host that resolves and takes connections; zero's Port is bad.
	cfg := writeFile(t, "config", fmt.Sprintf(`
Host h jump
  HostName 127.0.0.1
  Port %s
Host jump
  ProxyJump u@h:0
Host zero
  HostName 127.0.0.1
  Port 0
`, p))
	dial := func(addr string) error {
		_, err := remote.Dial(context.Background(), addr, remote.WithSSHConfig(cfg), remote.WithoutAgent(),
			remote.WithSigners(testSigner(t)), remote.WithTimeout(time.Second))
		return err
	}
	require.ErrorIs(t, dial("u@h"), context.DeadlineExceeded, "h is reachable")
	require.True(t, connected())

	const valid = ": want a number from 1 to 65535"
	for addr, want := range map[string]string{
		"u@h:0":     `dial u@h:0: address "u@h:0": bad port "0"` + valid,
		"u@h:65536": `dial u@h:65536: address "u@h:65536": bad port "65536"` + valid,
		"u@h:-1":    `dial u@h:-1: address "u@h:-1": bad port "-1"` + valid,
		"u@h:abc":   `dial u@h:abc: address "u@h:abc": bad port "abc"` + valid,
		"u@h:":      `dial u@h:: address "u@h:": bad port ""` + valid,
		"[::1]:0":   `dial [::1]:0: address "[::1]:0": bad port "0"` + valid,
		"u@jump":    `dial u@jump: ProxyJump "u@h:0": address "u@h:0": bad port "0"` + valid,
		"u@zero":    `dial u@zero: ssh config for zero: bad port "0"` + valid,
	} {
		assert.EqualError(t, dial(addr), want)
		assert.False(t, connected(), "%s: connected before the port was checked", addr)
	}
}
