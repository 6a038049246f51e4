package remote_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

func TestRunOutput(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	out, err := h.Run(context.Background(), "printf 'out\\n'; printf 'err\\n' >&2")
	require.NoError(t, err)
	assert.Equal(t, "out\n", string(out.Stdout))
	assert.Equal(t, "err\n", string(out.Stderr))
	assert.Equal(t, srv.Address(), h.Name())
	assert.Equal(t, srv.Addr(), h.Addr())
}

func TestRunInput(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	out, err := h.RunInput(context.Background(), "tr a-z A-Z", strings.NewReader("hello\n"))
	require.NoError(t, err)
	assert.Equal(t, "HELLO\n", string(out.Stdout))
}

func TestRunExitError(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	out, err := h.Run(context.Background(), "echo partial; echo 'no such thing' >&2; echo more >&2; exit 3")
	var ee *remote.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 3, ee.Status)
	assert.Equal(t, srv.Address(), ee.Host)
	assert.Equal(t, "no such thing\nmore\n", ee.Stderr)
	assert.Equal(t, "partial\n", string(out.Stdout), "output comes back with the error")
	assert.Equal(t, fmt.Sprintf(`run "echo partial; echo 'no such thing' >&2; echo more >&2; exit 3" on %s: exit status 3: no such thing`, srv.Address()), err.Error())
}

func TestRunKilledBySignal(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	_, err := h.Run(context.Background(), "kill -TERM $$")
	var ee *remote.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "TERM", ee.Signal)
	assert.Contains(t, err.Error(), "killed by signal TERM")
}

func TestRunContextCancel(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	marker := filepath.Join(t.TempDir(), "started")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := h.Run(ctx, "touch "+remote.Quote(marker)+"; sleep 30; echo late")
		errc <- err
	}()
	// Wait for the command to be running.
	require.Eventually(t, func() bool { _, err := os.Stat(marker); return err == nil }, 10*time.Second, 5*time.Millisecond)
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second)

	// The connection is still good for the next command.
	out, err := h.Run(context.Background(), "echo ok")
	require.NoError(t, err)
	assert.Equal(t, "ok\n", string(out.Stdout))
}

func TestRunCanceledBeforeStart(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Run(ctx, "echo never")
	require.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, srv.Commands())
}

func TestConcurrentRuns(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([]string, n)
	for i := range n {
		wg.Go(func() {
			out, err := h.Run(context.Background(), fmt.Sprintf("echo %d", i))
			errs[i], outs[i] = err, string(out.Stdout)
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, fmt.Sprintf("%d\n", i), outs[i])
	}
	assert.Len(t, srv.Commands(), n)
}

func TestSFTPShared(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	ctx := context.Background()
	c1, err := h.SFTP(ctx)
	require.NoError(t, err)
	c2, err := h.SFTP(ctx)
	require.NoError(t, err)
	assert.Same(t, c1, c2)

	p := filepath.Join(t.TempDir(), "f.txt")
	f, err := c1.Create(p)
	require.NoError(t, err)
	_, err = f.Write([]byte("over sftp"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "over sftp", string(b))
}

func TestSFTPConcurrentFirstUse(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	var wg sync.WaitGroup
	clients := make([]any, 8)
	for i := range clients {
		wg.Go(func() {
			c, err := h.SFTP(context.Background())
			if err == nil {
				clients[i] = c
			}
		})
	}
	wg.Wait()
	for _, c := range clients {
		require.NotNil(t, c)
		assert.Same(t, clients[0], c)
	}
}

func TestCloseIdempotent(t *testing.T) {
	srv := portertest.NewServer(t)
	h, err := remote.Dial(context.Background(), srv.Address(), srv.DialOptions()...)
	require.NoError(t, err)
	_, err = h.SFTP(context.Background())
	require.NoError(t, err)
	require.NoError(t, h.Close())
	require.NoError(t, h.Close())
	_, err = h.Run(context.Background(), "true")
	require.Error(t, err)
}

// dialOpts is srv's options with known_hosts replaced.
func dialOpts(srv *portertest.Server, knownHosts string, extra ...remote.Option) []remote.Option {
	return append([]remote.Option{
		remote.WithIdentityFiles(srv.IdentityFile()), remote.WithoutAgent(), remote.WithSSHConfig(""),
		remote.WithKnownHosts(knownHosts),
	}, extra...)
}

func TestUnknownHostKeyRefused(t *testing.T) {
	srv := portertest.NewServer(t)
	kh := filepath.Join(t.TempDir(), "known_hosts") // does not exist
	_, err := remote.Dial(context.Background(), srv.Address(), dialOpts(srv, kh)...)
	var hke *remote.HostKeyError
	require.ErrorAs(t, err, &hke)
	fp := ssh.FingerprintSHA256(srv.HostKey())
	assert.False(t, hke.Changed)
	assert.Equal(t, fp, hke.Fingerprint)
	assert.Equal(t, "ssh-ed25519", hke.KeyType)
	assert.Equal(t, srv.Addr(), hke.Host)
	msg := err.Error()
	assert.Contains(t, msg, fp)
	assert.Contains(t, msg, "unknown host 127.0.0.1:")
	_, port, _ := strings.Cut(srv.Addr(), ":")
	assert.Contains(t, msg, "ssh-keyscan -p "+port+" 127.0.0.1 >> "+kh)
	assert.NoFileExists(t, kh, "nothing written without accept-new")
	assert.Empty(t, srv.Commands())
}

func TestChangedHostKeyRefusedEvenWithAcceptNew(t *testing.T) {
	srv := portertest.NewServer(t)
	other := portertest.NewServer(t) // another key, written for srv's address
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, other.HostKey())
	require.NoError(t, os.WriteFile(kh, []byte(line+"\n"), 0o600))

	for _, accept := range []bool{false, true} {
		var extra []remote.Option
		if accept {
			extra = append(extra, remote.WithAcceptNewHostKeys())
		}
		_, err := remote.Dial(context.Background(), srv.Address(), dialOpts(srv, kh, extra...)...)
		var hke *remote.HostKeyError
		require.ErrorAs(t, err, &hke, "accept-new=%v", accept)
		assert.True(t, hke.Changed)
		assert.Contains(t, err.Error(), "HOST KEY CHANGED")
		assert.Contains(t, err.Error(), "man-in-the-middle")
		assert.Contains(t, err.Error(), ssh.FingerprintSHA256(srv.HostKey()))
		assert.Contains(t, err.Error(), ssh.FingerprintSHA256(other.HostKey()))
		b, err := os.ReadFile(kh)
		require.NoError(t, err)
		assert.Equal(t, line+"\n", string(b), "known_hosts untouched")
	}
}

func TestAcceptNewHostKey(t *testing.T) {
	srv := portertest.NewServer(t)
	kh := filepath.Join(t.TempDir(), "ssh", "known_hosts")
	h, err := remote.Dial(context.Background(), srv.Address(), dialOpts(srv, kh, remote.WithAcceptNewHostKeys())...)
	require.NoError(t, err)
	require.NoError(t, h.Close())

	b, err := os.ReadFile(kh)
	require.NoError(t, err)
	// A port other than 22 goes in [host]:port form.
	want := "[127.0.0.1]:" + port(srv) + " " + string(ssh.MarshalAuthorizedKey(srv.HostKey()))
	assert.Equal(t, want, string(b))
	st, err := os.Stat(kh)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// Now known: the strict check passes.
	h, err = remote.Dial(context.Background(), srv.Address(), dialOpts(srv, kh)...)
	require.NoError(t, err)
	require.NoError(t, h.Close())
	b2, err := os.ReadFile(kh)
	require.NoError(t, err)
	assert.Equal(t, string(b), string(b2), "no second line")
}

func TestHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	// A server with an RSA and an ed25519 host key, known only by its RSA key:
	// the client must ask for the RSA key rather than fail on ed25519.
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaSigner, err := ssh.NewSignerFromKey(rsaPriv)
	require.NoError(t, err)
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edSigner, err := ssh.NewSignerFromKey(edPriv)
	require.NoError(t, err)
	srv := portertest.NewServer(t, portertest.WithHostKeys(edSigner, rsaSigner))
	require.Len(t, srv.HostKeys(), 2)
	rsaKey := rsaSigner.PublicKey()

	// Without the right algorithms the server would offer ed25519 first.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, rsaKey)+"\n"), 0o600))
	h, err := remote.Dial(context.Background(), srv.Address(), dialOpts(srv, kh)...)
	require.NoError(t, err)
	h.Close()

	// known by the ed25519 key: that one is asked for.
	require.NoError(t, os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, edSigner.PublicKey())+"\n"), 0o600))
	h, err = remote.Dial(context.Background(), srv.Address(), dialOpts(srv, kh)...)
	require.NoError(t, err)
	h.Close()
}

func TestWrongKeyRejected(t *testing.T) {
	srv := portertest.NewServer(t)
	other := portertest.NewServer(t)
	_, err := remote.Dial(context.Background(), srv.Address(),
		remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithIdentityFiles(other.IdentityFile()),
		remote.WithoutAgent(), remote.WithSSHConfig(""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unable to authenticate")
	assert.Contains(t, err.Error(), ssh.FingerprintSHA256(other.ClientKey()))
}

func TestNoAuthMethod(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no default keys
	srv := portertest.NewServer(t)
	bad := filepath.Join(t.TempDir(), "garbage")
	require.NoError(t, os.WriteFile(bad, []byte("not a key"), 0o600))
	_, err := remote.Dial(context.Background(), srv.Address(),
		remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithIdentityFiles(bad),
		remote.WithoutAgent(), remote.WithSSHConfig(""))
	require.ErrorIs(t, err, remote.ErrNoAuthMethod)
}

func TestEncryptedKeySkipped(t *testing.T) {
	srv := portertest.NewServer(t)
	enc := filepath.Join(t.TempDir(), "enc")
	require.NoError(t, os.WriteFile(enc, encryptedKey(t), 0o600))
	// The encrypted key is skipped; the good one after it is used.
	h, err := remote.Dial(context.Background(), srv.Address(), append(srv.DialOptions()[:0:0],
		remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithIdentityFiles(enc, srv.IdentityFile()),
		remote.WithoutAgent(), remote.WithSSHConfig(""))...)
	require.NoError(t, err)
	h.Close()
}

func TestDialContextCanceled(t *testing.T) {
	srv := portertest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	require.ErrorIs(t, err, context.Canceled)
}

func TestSigners(t *testing.T) {
	srv := portertest.NewServer(t)
	b, err := os.ReadFile(srv.IdentityFile())
	require.NoError(t, err)
	s, err := ssh.ParsePrivateKey(b)
	require.NoError(t, err)
	h, err := remote.Dial(context.Background(), srv.Address(),
		remote.WithKnownHosts(srv.KnownHostsFile()), remote.WithSigners(s),
		remote.WithoutAgent(), remote.WithSSHConfig(""))
	require.NoError(t, err)
	h.Close()
}

func encryptedKey(t *testing.T) []byte {
	t.Helper()
	srv := portertest.NewServer(t)
	b, err := os.ReadFile(srv.IdentityFile())
	require.NoError(t, err)
	raw, err := ssh.ParseRawPrivateKey(b)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(raw, "", []byte("secret"))
	require.NoError(t, err)
	return pem.EncodeToMemory(block)
}

var bg = context.Background()

func newHost(t *testing.T) *remote.Host {
	t.Helper()
	return portertest.NewServer(t).Dial(t)
}

func testSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return s
}

func TestRunInputNotRead(t *testing.T) {
	h := newHost(t)
	// The command exits without reading 8 MiB of input: that is not an error.
	out, err := h.RunInput(bg, "echo ok", bytes.NewReader(make([]byte, 8<<20)))
	require.NoError(t, err)
	assert.Equal(t, "ok\n", string(out.Stdout))
}

type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "partial\n"), nil
	}
	return 0, errors.New("disk on fire")
}

func TestRunInputReadError(t *testing.T) {
	h := newHost(t)
	dst := filepath.Join(t.TempDir(), "out")
	// A failed read must not look like the end of the input: the command
	// is killed and the read error returned.
	_, err := h.RunInput(bg, "cat > "+remote.Quote(dst)+" && echo complete > "+remote.Quote(dst+".ok"), &failingReader{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk on fire")
	assert.NoFileExists(t, dst+".ok")
}
