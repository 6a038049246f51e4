package sshdtest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/remote"
)

// TestAllowUser: sshd run as root logs in another user, whose
// authorized_keys is the server's file (readable by that user).
func TestAllowUser(t *testing.T) {
	const name = "porter-dash" // one of .ci/run's interop users
	srv := sshdtest.Start(t, sshdtest.AllowUser(name))
	assert.Equal(t, name, srv.User())
	h := srv.Dial(t)
	out, err := h.Run(context.Background(), "id -un; pwd")
	require.NoError(t, err)
	u, err := user.Lookup(name)
	require.NoError(t, err)
	assert.Equal(t, name+"\n"+u.HomeDir+"\n", string(out.Stdout))
}

// TestAllowUserNotRoot: a non-root sshd cannot log in another user: Start
// skips, StartProcess says why.
func TestAllowUserNotRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs as root: sshd can log in another user")
	}
	_, err := sshdtest.StartProcess(t.TempDir(), sshdtest.AllowUser("root"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "must run as root")
}

func TestWithoutSFTP(t *testing.T) {
	srv := sshdtest.Start(t, sshdtest.WithoutSFTP())
	h := srv.Dial(t)
	_, err := h.Run(context.Background(), "true")
	require.NoError(t, err, "the shell works")
	_, err = h.SFTP(context.Background())
	require.ErrorIs(t, err, remote.ErrNoSFTP)
	assert.Contains(t, err.Error(), "OpenSSH")
}

// TestWithConfig: the lines come before the defaults, so they win.
func TestWithConfig(t *testing.T) {
	dir := t.TempDir()
	srv := sshdtest.Start(t, sshdtest.WithConfig("SetEnv PATH="+dir+":/usr/bin:/bin PORTER_SSHDTEST=yes", "LogLevel DEBUG1"))
	b, err := os.ReadFile(filepath.Join(srv.Dir(), "sshd_config"))
	require.NoError(t, err)
	cfg := string(b)
	assert.Less(t, strings.Index(cfg, "LogLevel DEBUG1"), strings.Index(cfg, "LogLevel INFO"))
	h := srv.Dial(t)
	out, err := h.Run(context.Background(), `echo "$PORTER_SSHDTEST"`)
	require.NoError(t, err)
	assert.Equal(t, "yes\n", string(out.Stdout))
	assert.Contains(t, srv.Log(), "debug1:")
}

func TestAuthorizeKey(t *testing.T) {
	srv := sshdtest.Start(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	opts := []remote.Option{remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithSigners(signer), remote.WithoutAgent(), remote.WithSSHConfig("")}
	_, err = remote.Dial(context.Background(), srv.Address(), opts...)
	require.Error(t, err, "not yet authorized")
	require.NoError(t, srv.AuthorizeKey(signer.PublicKey()))
	h, err := remote.Dial(context.Background(), srv.Address(), opts...)
	require.NoError(t, err)
	defer h.Close()
	_, err = h.Run(context.Background(), "true")
	require.NoError(t, err)
}
