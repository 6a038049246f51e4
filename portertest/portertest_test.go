package portertest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

var bg = context.Background()

func TestServerBasics(t *testing.T) {
	srv := portertest.NewServer(t)
	me := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	assert.Equal(t, me, srv.User(), "the default user is the OS user")
	port, ok := strings.CutPrefix(srv.Addr(), "127.0.0.1:")
	require.True(t, ok, srv.Addr())
	assert.Regexp(t, `^[1-9][0-9]*$`, port)
	assert.Equal(t, me+"@127.0.0.1:"+port, srv.Address())

	// What the server presents in a real handshake, logging in with the
	// key of IdentityFile: the known_hosts file must list that key.
	keyPEM, err := os.ReadFile(srv.IdentityFile())
	require.NoError(t, err)
	signer, err := ssh.ParsePrivateKey(keyPEM)
	require.NoError(t, err)
	var presented ssh.PublicKey
	c, err := ssh.Dial("tcp", "127.0.0.1:"+port, &ssh.ClientConfig{
		User: me,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			presented = key
			return nil
		},
	})
	require.NoError(t, err)
	c.Close()
	require.NotNil(t, presented)
	assert.Equal(t, ssh.MarshalAuthorizedKey(presented), ssh.MarshalAuthorizedKey(srv.HostKey()))
	assert.Equal(t, ssh.MarshalAuthorizedKey(signer.PublicKey()), ssh.MarshalAuthorizedKey(srv.ClientKey()))
	kh, err := os.ReadFile(srv.KnownHostsFile())
	require.NoError(t, err)
	assert.Equal(t, "[127.0.0.1]:"+port+" "+string(ssh.MarshalAuthorizedKey(presented)), string(kh))
	st, err := os.Stat(srv.IdentityFile())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

func TestConnectionsCountsLogins(t *testing.T) {
	srv := portertest.NewServer(t)
	other := portertest.NewServer(t)
	assert.Equal(t, 0, srv.Connections())

	// No SSH at all, a key it does not know, a user it does not know.
	raw, err := net.Dial("tcp", srv.Addr())
	require.NoError(t, err)
	raw.Close()
	_, err = remote.Dial(bg, srv.Address(), portertest.TrustOnly(srv.KnownHostsFile(), other.IdentityFile())...)
	require.Error(t, err)
	_, err = remote.Dial(bg, "someone-else@"+srv.Addr(), srv.DialOptions()...)
	require.Error(t, err)
	assert.Equal(t, 0, srv.Connections(), "a connection that did not log in is not counted")

	h := srv.Dial(t)
	assert.Equal(t, 1, srv.Connections(), "counted by the time Dial returns")
	for _, c := range []string{"true", "echo one", "echo two"} {
		_, err := h.Run(bg, c)
		require.NoError(t, err)
	}
	_, err = h.RunInput(bg, "cat", strings.NewReader("x"))
	require.NoError(t, err)
	sc, err := h.SFTP(bg)
	require.NoError(t, err)
	_, err = sc.Getwd()
	require.NoError(t, err)
	assert.Equal(t, 1, srv.Connections(), "commands, sessions and SFTP share the one connection")

	require.NoError(t, h.Close())
	srv.Dial(t)
	assert.Equal(t, 2, srv.Connections(), "a closed connection stays counted")
	assert.Equal(t, 0, other.Connections())
}

func TestConnectionsDoNotCountTunnels(t *testing.T) {
	jump := portertest.NewServer(t, portertest.WithUser("jumper"))
	target := portertest.NewServer(t)
	_, jumpPort, _ := strings.Cut(jump.Addr(), ":")
	_, targetPort, _ := strings.Cut(target.Addr(), ":")
	cfg := filepath.Join(t.TempDir(), "config")
	require.NoError(t, os.WriteFile(cfg, []byte("Host target\n  HostName 127.0.0.1\n  Port "+targetPort+
		"\n  IdentityFile "+target.IdentityFile()+"\n  ProxyJump jumphost\n"+
		"Host jumphost\n  HostName 127.0.0.1\n  User jumper\n  Port "+jumpPort+"\n  IdentityFile "+jump.IdentityFile()+"\n"), 0o600))
	h, err := remote.Dial(bg, "target", remote.WithSSHConfig(cfg),
		remote.WithKnownHosts(jump.KnownHostsFile(), target.KnownHostsFile()), remote.WithoutAgent())
	require.NoError(t, err)
	defer h.Close()
	_, err = h.Run(bg, "true")
	require.NoError(t, err)
	assert.Equal(t, []string{target.Addr()}, jump.Tunnels())
	assert.Equal(t, 1, jump.Connections(), "the jump host counts its own login, not the tunnel")
	assert.Equal(t, 1, target.Connections())
}

func TestCommandsRecordedInOrder(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	for _, c := range []string{"true", "echo 'a b'", "exit 4", "cd /"} {
		h.Run(bg, c)
	}
	cmds := srv.Commands()
	assert.Equal(t, []string{"true", "echo 'a b'", "exit 4", "cd /"}, cmds)
	cmds[0] = "changed"
	assert.Equal(t, "true", srv.Commands()[0], "Commands returns a copy")
}

func TestHomeAndEnv(t *testing.T) {
	home := t.TempDir()
	srv := portertest.NewServer(t, portertest.WithHome(home))
	assert.Equal(t, home, srv.Home())
	h := srv.Dial(t)
	out, err := h.Run(bg, `pwd; echo "$HOME"; echo hi > rel.txt`)
	require.NoError(t, err)
	assert.Equal(t, home+"\n"+home+"\n", string(out.Stdout))
	assert.FileExists(t, filepath.Join(home, "rel.txt"))

	// SFTP relative paths are relative to the login directory too.
	c, err := h.SFTP(bg)
	require.NoError(t, err)
	f, err := c.Create("sftp.txt")
	require.NoError(t, err)
	_, err = f.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	assert.FileExists(t, filepath.Join(home, "sftp.txt"))

	srv.Close()
	assert.DirExists(t, home, "a home given by the caller is left in place")
}

func TestEnvRequest(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	s, err := h.Client().NewSession()
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Setenv("PORTER_X", "it's"))
	out, err := s.Output(`printf %s "$PORTER_X"`)
	require.NoError(t, err)
	assert.Equal(t, "it's", string(out))
}

func TestPtyRefused(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	s, err := h.Client().NewSession()
	require.NoError(t, err)
	defer s.Close()
	require.Error(t, s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}))
}

func TestOnlyItsClientKey(t *testing.T) {
	srv := portertest.NewServer(t)
	other := portertest.NewServer(t)
	_, err := remote.Dial(bg, srv.Address(), portertest.TrustOnly(srv.KnownHostsFile(), other.IdentityFile())...)
	require.Error(t, err)
	assert.Empty(t, srv.Commands())
}

func TestOnlyItsUser(t *testing.T) {
	srv := portertest.NewServer(t, portertest.WithUser("deployer"))
	assert.Equal(t, "deployer@"+srv.Addr(), srv.Address())
	_, err := remote.Dial(bg, "someone-else@"+srv.Addr(), srv.DialOptions()...)
	require.Error(t, err)
	h := srv.Dial(t)
	_, err = h.Run(bg, "true")
	require.NoError(t, err)
}

func TestCloseKillsRunningCommandsAndIsIdempotent(t *testing.T) {
	srv, err := portertest.Start()
	require.NoError(t, err)
	h, err := remote.Dial(bg, srv.Address(), srv.DialOptions()...)
	require.NoError(t, err)
	defer h.Close()
	marker := filepath.Join(t.TempDir(), "m")
	errc := make(chan error, 1)
	go func() {
		_, err := h.Run(bg, "touch "+remote.Quote(marker)+"; exec sleep 60")
		errc <- err
	}()
	require.Eventually(t, func() bool { _, err := os.Stat(marker); return err == nil }, 10*time.Second, 5*time.Millisecond)
	dir := filepath.Dir(srv.KnownHostsFile())
	srv.Close() // waits for the sleep to be killed
	srv.Close()
	require.Error(t, <-errc)
	assert.NoDirExists(t, dir, "the server's temp dir is removed")
}

func TestStdinClosedCommandEnds(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	// cat ends at the client's EOF.
	out, err := h.RunInput(bg, "cat; echo done", strings.NewReader("in\n"))
	require.NoError(t, err)
	assert.Equal(t, "in\ndone\n", string(out.Stdout))
}

func ExampleNewServer() {
	var t *testing.T // in a test: func TestDeploy(t *testing.T)
	srv := portertest.NewServer(t)
	h := srv.Dial(t) // trusts exactly srv, through its own known_hosts file
	dir := t.TempDir()
	if _, err := h.Run(context.Background(), "touch "+remote.Quote(dir+"/deployed")); err != nil {
		t.Fatal(err)
	}
	// srv.Commands() == []string{"touch /tmp/.../deployed"}
}

func ExampleStart() {
	// Outside a test (an example, a demo program): Start, then Close.
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	for _, cmd := range []string{"echo hello", "cd /tmp && echo 'in /tmp'"} {
		out, err := h.Run(ctx, cmd)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(string(out.Stdout))
	}
	fmt.Printf("%q\n", srv.Commands())
	fmt.Println(srv.Connections(), "connection")
	// Output:
	// hello
	// in /tmp
	// ["echo hello" "cd /tmp && echo 'in /tmp'"]
	// 1 connection
}

func ExampleWithSmallDisk() {
	// A 1 MiB disk: as root a tmpfs mounted at srv.Disk(), otherwise a
	// tmpfs in a namespace of the server's own (read it with srv.Local).
	srv, err := portertest.Start(portertest.WithSmallDisk(1 << 20))
	if err != nil {
		log.Fatal(err) // ErrNoSmallDisk where neither works: NewServer skips the test
	}
	defer srv.Close()
	ctx := context.Background()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	big := remote.Quote(filepath.Join(srv.Disk(), "big"))
	_, err = h.Run(ctx, "head -c 2097152 /dev/zero > "+big)
	var ee *remote.ExitError
	if errors.As(err, &ee) {
		fmt.Println("full:", strings.Contains(ee.Stderr, "No space left on device"))
	}
	if err := srv.ResizeDisk(4 << 20); err != nil {
		log.Fatal(err)
	}
	if _, err := h.Run(ctx, "head -c 2097152 /dev/zero > "+big); err != nil {
		log.Fatal(err)
	}
	st, err := os.Stat(srv.Local(filepath.Join(srv.Disk(), "big")))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after the resize:", st.Size(), "bytes")
	// Output:
	// full: true
	// after the resize: 2097152 bytes
}

func TestWriteFiles(t *testing.T) {
	WriteFiles := portertest.WriteFiles
	dir := WriteFiles(t, t.TempDir(), map[string]string{"a/b/c.ini": "x = 1\n", "d": ""})
	b, err := os.ReadFile(filepath.Join(dir, "a", "b", "c.ini"))
	if err != nil || string(b) != "x = 1\n" {
		t.Fatalf("a/b/c.ini = %q, %v", b, err)
	}
	abs := filepath.Join(t.TempDir(), "e")
	WriteFiles(t, "", map[string]string{abs: "abs"})
	if b, _ := os.ReadFile(abs); string(b) != "abs" {
		t.Fatalf("%s = %q", abs, b)
	}
}

func TestTunnelRedirect(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "the app")
	}))
	defer app.Close()
	to := app.Listener.Addr().String()
	srv := portertest.NewServer(t, portertest.WithTunnelRedirect("127.0.0.1:8000", to))
	h := srv.Dial(t)
	client := &http.Client{Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	get := func(addr string) string {
		resp, err := client.Get("http://" + addr + "/")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, "the app", get("127.0.0.1:8000"), "the host's 127.0.0.1:8000 is the app's free port")
	assert.Equal(t, "the app", get(to), "an address not redirected is dialled as it is")
	assert.Equal(t, []string{"127.0.0.1:8000", to}, srv.Tunnels(), "the addresses as they were asked")
}
