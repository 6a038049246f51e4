package remote_test

// Host keys and ssh_config as OpenSSH reads them: GlobalKnownHostsFile,
// HostKeyAlias, StrictHostKeyChecking, and ssh -G (Match, Include, tokens).
// No test reads the real /etc/ssh files or ~/.ssh: every known_hosts file
// is a temp file, named by the options or by ssh_config.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/porter-deploy/porter/internal/testenv"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// readers are the ways Dial reads ssh_config: ssh -G where an ssh binary is
// installed, and porter's own parser.
func readers(t *testing.T) map[string]remote.Option {
	r := map[string]remote.Option{"parser": remote.WithSSHBinary("")}
	if p, err := exec.LookPath("ssh"); err == nil {
		r["ssh -G"] = remote.WithSSHBinary(p)
	} else {
		t.Log("no ssh binary: only porter's parser is tested")
	}
	return r
}

// needSSH returns the ssh binary, or skips the test.
func needSSH(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh binary: ssh -G cannot be tested here")
	}
	return p
}

// knownLine is a known_hosts line for hostport ([host]:port unless 22).
func knownLine(hostport string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(hostport)}, key) + "\n"
}

// hostConfig writes an ssh_config whose Host "web" is srv, with extra lines
// in its block.
func hostConfig(t *testing.T, srv *portertest.Server, extra string) string {
	t.Helper()
	return writeFile(t, "config", fmt.Sprintf("Host web\n  HostName 127.0.0.1\n  Port %s\n  User %s\n  IdentityFile %s\n%s",
		port(srv), srv.User(), srv.IdentityFile(), extra))
}

// dialWeb dials "web" through cfg, with nothing from the environment.
func dialWeb(cfg string, opts ...remote.Option) (*remote.Host, error) {
	return remote.Dial(bg, "web", append([]remote.Option{remote.WithSSHConfig(cfg), remote.WithoutAgent()}, opts...)...)
}

// TestGlobalKnownHostsFile: a host whose key is in a global known_hosts
// file is known, whether the file comes from ssh_config's
// GlobalKnownHostsFile or from WithGlobalKnownHosts; nothing is written.
func TestGlobalKnownHostsFile(t *testing.T) {
	srv := portertest.NewServer(t)
	for name, reader := range readers(t) {
		t.Run(name, func(t *testing.T) {
			user := filepath.Join(t.TempDir(), "known_hosts") // does not exist
			missing := filepath.Join(t.TempDir(), "missing")
			cfg := hostConfig(t, srv, fmt.Sprintf("  UserKnownHostsFile %s\n  GlobalKnownHostsFile %s %s\n", user, missing, srv.KnownHostsFile()))
			h, err := dialWeb(cfg, reader)
			require.NoError(t, err)
			require.NoError(t, h.Close())
			assert.NoFileExists(t, user, "a host known globally is not added to the user's file")

			cfg = hostConfig(t, srv, fmt.Sprintf("  UserKnownHostsFile %s\n  GlobalKnownHostsFile none\n", user))
			_, err = dialWeb(cfg, reader)
			var hke *remote.HostKeyError
			require.ErrorAs(t, err, &hke, "without the global file the host is unknown")
			assert.False(t, hke.Changed)
		})
	}

	user := filepath.Join(t.TempDir(), "known_hosts")
	opts := []remote.Option{remote.WithSSHConfig(""), remote.WithoutAgent(), remote.WithIdentityFiles(srv.IdentityFile()),
		remote.WithKnownHosts(user)}
	h, err := remote.Dial(bg, srv.Address(), append(opts, remote.WithGlobalKnownHosts(srv.KnownHostsFile()))...)
	require.NoError(t, err)
	require.NoError(t, h.Close())
	assert.NoFileExists(t, user)

	// WithKnownHosts alone: only its files, not ssh_config's global ones.
	cfg := hostConfig(t, srv, "  GlobalKnownHostsFile "+srv.KnownHostsFile()+"\n")
	_, err = dialWeb(cfg, remote.WithKnownHosts(user))
	var hke *remote.HostKeyError
	require.ErrorAs(t, err, &hke)
	assert.Equal(t, []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}, remote.DefaultGlobalKnownHosts)
}

// TestAcceptNewRefusesKeyOtherThanGlobal: trust on first use (the option or
// StrictHostKeyChecking accept-new) refuses a key that differs from the one
// a global file holds, and writes nothing; a key the global file holds
// connects without being added to the user's file.
func TestAcceptNewRefusesKeyOtherThanGlobal(t *testing.T) {
	srv := portertest.NewServer(t)
	other := portertest.NewServer(t)
	wrongGlobal := writeFile(t, "ssh_known_hosts", knownLine(srv.Addr(), other.HostKey()))
	type way struct {
		name string
		dial func(user, global string) (*remote.Host, error)
	}
	ways := []way{{"WithAcceptNewHostKeys", func(user, global string) (*remote.Host, error) {
		return remote.Dial(bg, srv.Address(), remote.WithSSHConfig(""), remote.WithoutAgent(),
			remote.WithIdentityFiles(srv.IdentityFile()), remote.WithKnownHosts(user),
			remote.WithGlobalKnownHosts(global), remote.WithAcceptNewHostKeys())
	}}}
	for name, reader := range readers(t) {
		ways = append(ways, way{"StrictHostKeyChecking accept-new, " + name, func(user, global string) (*remote.Host, error) {
			cfg := hostConfig(t, srv, fmt.Sprintf("  StrictHostKeyChecking accept-new\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile %s\n", user, global))
			return dialWeb(cfg, reader)
		}})
	}
	for _, w := range ways {
		user := filepath.Join(t.TempDir(), "known_hosts")
		_, err := w.dial(user, wrongGlobal)
		var hke *remote.HostKeyError
		require.ErrorAs(t, err, &hke, w.name)
		assert.True(t, hke.Changed, w.name)
		require.Len(t, hke.Known, 1, w.name)
		assert.Equal(t, wrongGlobal, hke.Known[0].Filename, w.name)
		assert.Contains(t, err.Error(), "HOST KEY CHANGED", w.name)
		assert.Contains(t, err.Error(), "-f "+wrongGlobal, w.name)
		assert.NoFileExists(t, user, "%s: the different key is not appended to the user's file", w.name)

		h, err := w.dial(user, srv.KnownHostsFile())
		require.NoError(t, err, w.name)
		require.NoError(t, h.Close())
		assert.NoFileExists(t, user, "%s: a key known globally is not appended", w.name)
	}
}

// TestHostKeyAliasAsOpenSSH: known_hosts holds a HostKeyAlias as it is,
// without [alias]:port, even on a port other than 22; that is what is
// looked up and what trust on first use writes.
func TestHostKeyAliasAsOpenSSH(t *testing.T) {
	srv := portertest.NewServer(t)
	other := portertest.NewServer(t)
	require.NotEqual(t, "22", port(srv))
	for name, reader := range readers(t) {
		t.Run(name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			cfg := hostConfig(t, srv, "  HostKeyAlias myalias\n  UserKnownHostsFile "+kh+"\n  GlobalKnownHostsFile none\n")
			key := string(ssh.MarshalAuthorizedKey(srv.HostKey()))

			require.NoError(t, os.WriteFile(kh, []byte("myalias "+key), 0o600))
			h, err := dialWeb(cfg, reader)
			require.NoError(t, err, "the alias alone, as OpenSSH writes it")
			require.NoError(t, h.Close())

			// [myalias]:port is not what OpenSSH looks up.
			require.NoError(t, os.WriteFile(kh, []byte(knownLine("myalias:"+port(srv), srv.HostKey())), 0o600))
			_, err = dialWeb(cfg, reader)
			var hke *remote.HostKeyError
			require.ErrorAs(t, err, &hke)
			assert.False(t, hke.Changed)
			assert.Equal(t, "myalias:22", hke.Host)
			assert.Equal(t, "myalias", hke.HostKeyAlias)
			assert.Equal(t, srv.Addr(), hke.Addr)
			assert.Contains(t, err.Error(), "unknown host myalias (HostKeyAlias of "+srv.Addr()+")")
			assert.Contains(t, err.Error(), "ssh-keyscan -p "+port(srv)+" 127.0.0.1 | sed 's/^[^ ]*/myalias/' >> "+kh)

			// Trust on first use writes the alias alone.
			require.NoError(t, os.Remove(kh))
			h, err = dialWeb(cfg, reader, remote.WithAcceptNewHostKeys())
			require.NoError(t, err)
			require.NoError(t, h.Close())
			b, err := os.ReadFile(kh)
			require.NoError(t, err)
			assert.Equal(t, "myalias "+key, string(b))
			h, err = dialWeb(cfg, reader)
			require.NoError(t, err, "known now")
			require.NoError(t, h.Close())

			// Another key under the alias is a changed key.
			require.NoError(t, os.WriteFile(kh, []byte("myalias "+string(ssh.MarshalAuthorizedKey(other.HostKey()))), 0o600))
			_, err = dialWeb(cfg, reader, remote.WithAcceptNewHostKeys())
			require.ErrorAs(t, err, &hke)
			assert.True(t, hke.Changed)
			assert.Contains(t, err.Error(), "ssh-keygen -R myalias -f "+kh)
		})
	}
}

// TestHostKeyAliasFixWorks: the command the error gives for an alias makes
// the line that is then looked up.
func TestHostKeyAliasFixWorks(t *testing.T) {
	if _, err := exec.LookPath("sed"); err != nil {
		t.Skip("no sed")
	}
	srv := portertest.NewServer(t)
	scanned := knownLine(srv.Addr(), srv.HostKey()) // what ssh-keyscan -p prints
	cmd := exec.Command("sed", "s/^[^ ]*/myalias/")
	cmd.Stdin = strings.NewReader(scanned)
	out, err := cmd.Output()
	require.NoError(t, err)
	kh := writeFile(t, "known_hosts", string(out))
	cfg := hostConfig(t, srv, "  HostKeyAlias myalias\n  UserKnownHostsFile "+kh+"\n  GlobalKnownHostsFile none\n")
	h, err := dialWeb(cfg)
	require.NoError(t, err)
	require.NoError(t, h.Close())
}

// TestStrictHostKeyCheckingFromSSHConfig: accept-new trusts on first use;
// yes, ask and unset refuse an unknown key; no and off are not honoured:
// refused, with an explanation. A known key connects whatever the setting,
// and WithAcceptNewHostKeys wins over it.
func TestStrictHostKeyCheckingFromSSHConfig(t *testing.T) {
	srv := portertest.NewServer(t)
	other := portertest.NewServer(t)
	known, err := os.ReadFile(srv.KnownHostsFile())
	require.NoError(t, err)
	for name, reader := range readers(t) {
		t.Run(name, func(t *testing.T) {
			for _, v := range []string{"", "yes", "ask", "no", "off", "accept-new"} {
				kh := filepath.Join(t.TempDir(), "known_hosts")
				extra := "  UserKnownHostsFile " + kh + "\n  GlobalKnownHostsFile none\n"
				if v != "" {
					extra += "  StrictHostKeyChecking " + v + "\n"
				}
				cfg := hostConfig(t, srv, extra)
				h, err := dialWeb(cfg, reader)
				if v == "accept-new" {
					require.NoError(t, err, "accept-new trusts on first use")
					require.NoError(t, h.Close())
					b, err := os.ReadFile(kh)
					require.NoError(t, err)
					assert.Equal(t, string(known), string(b))

					require.NoError(t, os.WriteFile(kh, []byte(knownLine(srv.Addr(), other.HostKey())), 0o600))
					_, err = dialWeb(cfg, reader)
					var hke *remote.HostKeyError
					require.ErrorAs(t, err, &hke, "accept-new refuses a changed key")
					assert.True(t, hke.Changed)
					continue
				}
				var hke *remote.HostKeyError
				require.ErrorAs(t, err, &hke, "StrictHostKeyChecking %q", v)
				assert.False(t, hke.Changed)
				assert.NoFileExists(t, kh, "StrictHostKeyChecking %q", v)
				off := v == "no" || v == "off"
				assert.Equal(t, off, hke.StrictHostKeyCheckingOff, "StrictHostKeyChecking %q", v)
				if off {
					assert.Contains(t, err.Error(), "ssh_config sets StrictHostKeyChecking no for this host, which porter does not honour")
					assert.Contains(t, err.Error(), "StrictHostKeyChecking accept-new")
					assert.Contains(t, err.Error(), "--accept-new-host-keys")
				} else {
					assert.NotContains(t, err.Error(), "does not honour")
				}

				require.NoError(t, os.WriteFile(kh, known, 0o600))
				h, err = dialWeb(cfg, reader)
				require.NoError(t, err, "StrictHostKeyChecking %q: a known key connects", v)
				require.NoError(t, h.Close())

				require.NoError(t, os.Remove(kh))
				h, err = dialWeb(cfg, reader, remote.WithAcceptNewHostKeys())
				require.NoError(t, err, "StrictHostKeyChecking %q: WithAcceptNewHostKeys wins", v)
				require.NoError(t, h.Close())
				assert.FileExists(t, kh)
			}

			cfg := hostConfig(t, srv, "  StrictHostKeyChecking maybe\n  UserKnownHostsFile "+srv.KnownHostsFile()+"\n")
			_, err := dialWeb(cfg, reader)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `bad StrictHostKeyChecking "maybe"`)
		})
	}
}

// TestSSHGMatchAndInclude: through ssh -G, Match rules that porter's parser
// cannot evaluate (originalhost, exec with a token, host after HostName,
// user) and an Include inside a Host block give the host its user, port,
// key and known_hosts file.
func TestSSHGMatchAndInclude(t *testing.T) {
	sshBin := needSSH(t)
	t.Setenv("HOME", t.TempDir()) // no default keys
	srv := portertest.NewServer(t, portertest.WithUser("deployer"))
	inc := writeFile(t, "included", fmt.Sprintf(`
Match host 127.0.0.1 user deployer
  IdentityFile %s
  UserKnownHostsFile %s
  GlobalKnownHostsFile none
`, srv.IdentityFile(), srv.KnownHostsFile()))
	cfg := writeFile(t, "config", fmt.Sprintf(`
Match originalhost target exec "test %%n = target"
  User deployer
  Port %s

Host target
  HostName 127.0.0.1
  Include %s
`, port(srv), inc))

	h, err := remote.Dial(bg, "target", remote.WithSSHConfig(cfg), remote.WithoutAgent(), remote.WithSSHBinary(sshBin))
	require.NoError(t, err)
	defer h.Close()
	assert.Equal(t, srv.Addr(), h.Addr())
	out, err := h.Run(bg, "echo matched")
	require.NoError(t, err)
	assert.Equal(t, "matched\n", string(out.Stdout))

	// Another user fails "Match ... user deployer": no key is named.
	_, err = remote.Dial(bg, "someone@target", remote.WithSSHConfig(cfg), remote.WithoutAgent(), remote.WithSSHBinary(sshBin))
	require.ErrorIs(t, err, remote.ErrNoAuthMethod)

	// Porter's own parser cannot read the file.
	_, err = remote.Dial(bg, "target", remote.WithSSHConfig(cfg), remote.WithoutAgent(), remote.WithSSHBinary(""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Match")
}

// TestSSHConfigTokens: the tokens of UserKnownHostsFile and IdentityFile
// are expanded alike by either reader.
func TestSSHConfigTokens(t *testing.T) {
	srv := portertest.NewServer(t)
	dir := t.TempDir()
	copyFile(t, srv.KnownHostsFile(), filepath.Join(dir, "kh_127.0.0.1_"+port(srv)))
	copyFile(t, srv.IdentityFile(), filepath.Join(dir, "key_"+srv.User()))
	cfg := writeFile(t, "config", fmt.Sprintf(`
Host web
  HostName 127.0.0.1
  Port %s
  User %s
  IdentityFile %s/key_%%r
  UserKnownHostsFile %s/kh_%%h_%%p
  GlobalKnownHostsFile none
`, port(srv), srv.User(), dir, dir))
	for name, reader := range readers(t) {
		h, err := dialWeb(cfg, reader)
		require.NoError(t, err, name)
		require.NoError(t, h.Close())
	}
}

// TestSSHGRefusedFallsBackToParser: a file OpenSSH refuses as a whole (one
// bad Port anywhere) is read by porter's parser instead, with a warning
// that carries ssh's reason.
func TestSSHGRefusedFallsBackToParser(t *testing.T) {
	sshBin := needSSH(t)
	srv := portertest.NewServer(t)
	cfg := hostConfig(t, srv, "  UserKnownHostsFile "+srv.KnownHostsFile()+"\n  GlobalKnownHostsFile none\nHost zero\n  Port 0\n")
	var logs bytes.Buffer
	h, err := dialWeb(cfg, remote.WithSSHBinary(sshBin), remote.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	require.NoError(t, h.Close())
	assert.Contains(t, logs.String(), "ssh -G refused the ssh_config")
	assert.Contains(t, logs.String(), "Bad port")
}

// fakeSSH writes a shell script to run in place of ssh.
func fakeSSH(t *testing.T, script string) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	p := filepath.Join(t.TempDir(), "ssh")
	testenv.WriteExecutable(t, p, "#!/bin/sh\n"+script+"\n")
	return p
}

// TestSSHGBounded: ssh -G is bounded in time and in output, the caller's
// context ends it too, and an ssh that prints no settings is an error.
func TestSSHGBounded(t *testing.T) {
	srv := portertest.NewServer(t)
	slow := fakeSSH(t, "exec sleep 5")
	flood := fakeSSH(t, `while :; do echo "identityfile /x"; done`)
	notOpenSSH := fakeSSH(t, "echo hello")
	refuses := fakeSSH(t, "echo 'something is wrong' >&2; exit 255")
	cfg := hostConfig(t, srv, "  UserKnownHostsFile "+srv.KnownHostsFile()+"\n  GlobalKnownHostsFile none\n")

	start := time.Now()
	_, err := dialWeb(cfg, remote.WithSSHBinary(slow), remote.WithSSHGTimeout(200*time.Millisecond))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not finish within 200ms")
	assert.Less(t, time.Since(start), 3*time.Second)

	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = remote.Dial(ctx, "web", remote.WithSSHConfig(cfg), remote.WithoutAgent(), remote.WithSSHBinary(slow))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 3*time.Second)

	start = time.Now()
	_, err = dialWeb(cfg, remote.WithSSHBinary(flood))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "printed more than 1048576 bytes")
	assert.Less(t, time.Since(start), 5*time.Second)

	_, err = dialWeb(cfg, remote.WithSSHBinary(notOpenSSH))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "printed no hostname")

	var logs bytes.Buffer
	h, err := dialWeb(cfg, remote.WithSSHBinary(refuses), remote.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err, "ssh refusing the file: porter's parser reads it")
	require.NoError(t, h.Close())
	assert.Contains(t, logs.String(), "something is wrong")
	assert.False(t, errors.Is(err, context.DeadlineExceeded))
}
