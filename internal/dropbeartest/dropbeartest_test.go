package dropbeartest_test

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/dropbeartest"
	"github.com/porter-deploy/porter/remote"
)

// loginUser is .ci/run's throwaway user for Dropbear.
const loginUser = "porter-dropbear"

// TestRemoteAgainstDropbear: host key check, key login, Run through the
// bootstrap, SFTP through Dropbear's external sftp-server; the user's
// authorized_keys is gone afterwards.
func TestRemoteAgainstDropbear(t *testing.T) {
	var keys, before string
	t.Run("server", func(t *testing.T) {
		if u, err := user.Lookup(loginUser); err == nil {
			// Lines a killed run left stay: only ours must go.
			before = markedLines(filepath.Join(u.HomeDir, ".ssh/authorized_keys"))
		}
		srv := dropbeartest.Start(t, loginUser)
		keys = filepath.Join(srv.Home(), ".ssh/authorized_keys")
		b, err := os.ReadFile(keys)
		require.NoError(t, err)
		assert.Contains(t, string(b), "porter-dropbeartest")
		assert.NotEqual(t, before, markedLines(keys), "our key is in")
		h := srv.Dial(t)
		ctx := context.Background()
		out, err := h.Run(ctx, "id -un; printf %s "+remote.Quote("it's $(x)"))
		require.NoError(t, err)
		assert.Equal(t, loginUser+"\nit's $(x)", string(out.Stdout))
		assert.Contains(t, string(h.Client().ServerVersion()), "dropbear")

		c, err := h.SFTP(ctx)
		require.NoError(t, err)
		// A directory the login user can write (TempDir's parent is 0700).
		dir, err := os.MkdirTemp("", "dropbeartest-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		require.NoError(t, os.Chmod(dir, 0o777))
		p := filepath.Join(dir, "sftp file")
		f, err := c.Create(p)
		require.NoError(t, err)
		_, err = f.Write([]byte("over sftp-server"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		b, err = os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, "over sftp-server", string(b))
	})
	if keys != "" {
		assert.Equal(t, before, markedLines(keys), "our key is taken out again")
	}
}

// markedLines returns the lines of an authorized_keys file that package
// dropbeartest wrote ("" when there is no file).
func markedLines(keys string) string {
	b, _ := os.ReadFile(keys)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "porter-dropbeartest") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestDropbearWithoutSFTP(t *testing.T) {
	srv := dropbeartest.Start(t, loginUser, dropbeartest.WithoutSFTP())
	h := srv.Dial(t)
	_, err := h.Run(context.Background(), "true")
	require.NoError(t, err, "the shell works")
	_, err = h.SFTP(context.Background())
	require.ErrorIs(t, err, remote.ErrNoSFTP)
	assert.Contains(t, err.Error(), "openssh-sftp-server")
}

func TestSFTPServerPath(t *testing.T) {
	if _, err := os.Stat(dropbeartest.DropbearPath); err != nil {
		t.Skip("dropbear not installed: apt-get install dropbear-bin")
	}
	p, err := dropbeartest.SFTPServerPath(dropbeartest.DropbearPath)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(p, "/sftp-server"), p)
}
