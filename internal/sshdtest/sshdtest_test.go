package sshdtest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// TestRemoteAgainstOpenSSH runs porter's remote package against a real sshd:
// known_hosts check, key login, Run, exit status, quoting, SFTP.
func TestRemoteAgainstOpenSSH(t *testing.T) {
	srv := sshdtest.Start(t)
	h := srv.Dial(t)
	ctx := context.Background()

	out, err := h.Run(ctx, "echo out; echo err >&2")
	require.NoError(t, err)
	assert.Equal(t, "out\n", string(out.Stdout))
	assert.Equal(t, "err\n", string(out.Stderr))

	_, err = h.Run(ctx, "echo failing >&2; exit 7")
	var ee *remote.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 7, ee.Status)
	assert.Contains(t, err.Error(), "exit status 7: failing")

	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	for _, v := range []string{"a b", "it's", "$(touch " + pwned + ")", "`touch " + pwned + "`", "x\ny"} {
		out, err := h.Run(ctx, "printf %s "+remote.Quote(v))
		require.NoError(t, err)
		assert.Equal(t, v, string(out.Stdout))
	}
	assert.NoFileExists(t, pwned)

	out, err = h.RunInput(ctx, "cat > "+remote.Quote(filepath.Join(dir, "in put")), strings.NewReader("stdin data"))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "in put"))
	require.NoError(t, err)
	assert.Equal(t, "stdin data", string(b))

	c, err := h.SFTP(ctx)
	require.NoError(t, err)
	c2, err := h.SFTP(ctx)
	require.NoError(t, err)
	assert.Same(t, c, c2)
	p := filepath.Join(dir, "sftp file")
	f, err := c.Create(p)
	require.NoError(t, err)
	data := make([]byte, 1<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	_, err = f.Write(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	rf, err := c.Open(p)
	require.NoError(t, err)
	back, err := io.ReadAll(rf)
	require.NoError(t, err)
	require.NoError(t, rf.Close())
	assert.Equal(t, data, back)
}

func TestConcurrentRunsOpenSSH(t *testing.T) {
	srv := sshdtest.Start(t)
	h := srv.Dial(t)
	var wg sync.WaitGroup
	errs := make([]error, 16)
	outs := make([]string, 16)
	for i := range errs {
		wg.Go(func() {
			out, err := h.Run(context.Background(), fmt.Sprintf("echo %d", i))
			errs[i], outs[i] = err, string(out.Stdout)
		})
	}
	wg.Wait()
	for i := range errs {
		require.NoError(t, errs[i])
		assert.Equal(t, fmt.Sprintf("%d\n", i), outs[i])
	}
}

func TestCancelOpenSSH(t *testing.T) {
	srv := sshdtest.Start(t)
	h := srv.Dial(t)
	marker := filepath.Join(t.TempDir(), "started")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx, "touch "+remote.Quote(marker)+"; sleep 30")
		errc <- err
	}()
	require.Eventually(t, func() bool { _, err := os.Stat(marker); return err == nil }, 10*time.Second, 5*time.Millisecond)
	start := time.Now()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	assert.Less(t, time.Since(start), 5*time.Second)
	_, err := h.Run(context.Background(), "true")
	require.NoError(t, err, "the connection survives a canceled command")
}

func TestUnknownHostOpenSSH(t *testing.T) {
	srv := sshdtest.Start(t)
	_, err := remote.Dial(context.Background(), srv.Address(),
		portertest.TrustOnly(filepath.Join(t.TempDir(), "kh"), srv.IdentityFile())...)
	var hke *remote.HostKeyError
	require.ErrorAs(t, err, &hke)
}

func TestStartProcessClose(t *testing.T) {
	if _, err := os.Stat(sshdtest.SSHDPath); err != nil {
		t.Skip("sshd not installed: apt-get install openssh-server")
	}
	srv, err := sshdtest.StartProcess(t.TempDir())
	require.NoError(t, err)
	h, err := remote.Dial(context.Background(), srv.Address(), srv.DialOptions()...)
	require.NoError(t, err)
	_, err = h.Run(context.Background(), "true")
	require.NoError(t, err)
	require.NoError(t, h.Close())
	require.NoError(t, srv.Close())
	require.NoError(t, srv.Close())
	_, err = remote.Dial(context.Background(), srv.Address(), srv.DialOptions()...)
	require.Error(t, err, "sshd is gone")
}
