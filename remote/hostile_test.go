package remote_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter/remote"
)

// A hostile server: a real SSH server (x/crypto/ssh) whose sessions are
// scripted by the test, to play a broken or malicious host. It accepts any
// client key; the client trusts exactly its host key.
type hostile struct {
	addr    string
	hostKey ssh.PublicKey
	// exec handles an exec request's session: the command, the channel.
	exec func(cmd string, ch ssh.Channel)
	// sftp, when set, handles the sftp subsystem's channel.
	sftp func(ch ssh.Channel)
	// holdOpens: a session channel's open is never answered (a stuck
	// sshd that still answers keepalives).
	holdOpens bool
	wg        sync.WaitGroup
}

func startHostile(t *testing.T, h *hostile) *hostile {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	h.hostKey = signer.PublicKey()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil },
		ServerVersion:     "SSH-2.0-Hostile_1.0",
	}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.addr = l.Addr().String()
	var conns sync.Map
	t.Cleanup(func() {
		l.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		h.wg.Wait()
	})
	h.wg.Go(func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			conns.Store(nc, true)
			h.wg.Go(func() { h.serve(nc, cfg) })
		}
	})
	return h
}

func (h *hostile) serve(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	h.wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "no")
			continue
		}
		if h.holdOpens {
			continue // the channel request is never answered
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		h.wg.Go(func() {
			defer ch.Close()
			for r := range creqs {
				switch r.Type {
				case "exec":
					var p struct{ Command string }
					ssh.Unmarshal(r.Payload, &p)
					r.Reply(h.exec != nil, nil)
					if h.exec != nil {
						h.wg.Go(func() { h.exec(p.Command, ch); ch.Close() })
					}
				case "subsystem":
					r.Reply(h.sftp != nil, nil)
					if h.sftp != nil {
						h.wg.Go(func() { h.sftp(ch) })
					}
				default:
					if r.WantReply {
						r.Reply(false, nil)
					}
				}
			}
		})
	}
}

func (h *hostile) dial(t *testing.T, opts ...remote.Option) *remote.Host {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	opts = append([]remote.Option{remote.WithHostKeyCallback(ssh.FixedHostKey(h.hostKey)),
		remote.WithSigners(signer), remote.WithoutAgent(), remote.WithSSHConfig(""), remote.WithKeepAlive(0)}, opts...)
	host, err := remote.Dial(context.Background(), "porter@"+h.addr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { host.Close() })
	return host
}

// greet reads the shell's loop frame as /bin/sh would, and greets.
func greet(ch ssh.Channel) (*bufio.Reader, error) {
	r := bufio.NewReader(ch)
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
		return nil, err
	}
	_, err = io.WriteString(ch, "porter-shell 2 /tmp/hostile\n")
	return r, err
}

// nextFrame reads one frame: "<n>\n" n bytes "go\n".
func nextFrame(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return "", err
	}
	b := make([]byte, n+3)
	_, err = io.ReadFull(r, b)
	return string(b[:n]), err
}

// within fails the test when f does not return within limit (a hang
// guard only: the bounds asserted are the errors).
func within(t *testing.T, limit time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("still running after %v", limit)
	}
}

func TestHostileOnlyTheBootstrapIsExecuted(t *testing.T) {
	execs := make(chan string, 4)
	srv := startHostile(t, &hostile{exec: func(cmd string, ch ssh.Channel) {
		execs <- cmd
		r, err := greet(ch)
		if err != nil {
			return
		}
		if _, err := nextFrame(r); err == nil {
			io.WriteString(ch, "0 3 0 \nok\n")
		}
		io.Copy(io.Discard, r)
	}})
	h := srv.dial(t)
	out, err := h.Run(bg, "echo 'a value; $(rm -rf /)' =x")
	require.NoError(t, err)
	assert.Equal(t, "ok\n", string(out.Stdout))
	assert.Equal(t, `exec /bin/sh -c 'read n && eval "$(head -c $n)"'`, <-execs, "the exec request carries the constant bootstrap, no value")
}

func TestHostileHugeLength(t *testing.T) {
	// A reply claiming 2^62 bytes of output: an error naming the host and
	// the bound, no allocation of that size, no crash.
	srv := startHostile(t, &hostile{exec: func(cmd string, ch ssh.Channel) {
		r, err := greet(ch)
		if err != nil {
			return
		}
		for {
			if _, err := nextFrame(r); err != nil {
				return
			}
			io.WriteString(ch, "0 4611686018427387904 0\n")
		}
	}})
	h := srv.dial(t)
	within(t, 10*time.Second, func() {
		_, err := h.Run(bg, "true")
		require.Error(t, err)
		assert.Equal(t, fmt.Sprintf(`run "true" on porter@%s: its stdout holds 4611686018427387904 bytes, more than the 67108864 that remote.WithMaxOutput allows`, srv.addr), err.Error())
	})
	for _, reply := range []string{"0 -5 0\n", "0 99999999999999999999999 0\n", "300 1 0\n", "0 1\n"} {
		t.Run(strings.TrimSpace(reply), func(t *testing.T) {
			srv := startHostile(t, &hostile{exec: func(cmd string, ch ssh.Channel) {
				r, err := greet(ch)
				if err == nil {
					if _, err := nextFrame(r); err == nil {
						io.WriteString(ch, reply)
						io.Copy(io.Discard, r)
					}
				}
			}})
			_, err := srv.dial(t).Run(bg, "true")
			require.ErrorIs(t, err, remote.ErrShellBroken)
			assert.Contains(t, err.Error(), "bad reply")
			assert.Contains(t, err.Error(), srv.addr)
		})
	}
}

// junk writes n bytes without a newline or a NUL, from one small buffer.
func junk(w io.Writer, n int) {
	b := make([]byte, 32<<10)
	for i := range b {
		b[i] = 'j'
	}
	for n > 0 {
		k, err := w.Write(b[:min(n, len(b))])
		if err != nil {
			return
		}
		n -= k
	}
}

func TestHostileJunkWithoutSeparator(t *testing.T) {
	// 96 MiB without a newline, before the greeting and as a reply: the
	// deployer reads a bounded amount, fails with the host named, and its
	// heap never holds the junk.
	const size = 96 << 20
	for _, where := range []string{"preamble", "reply"} {
		t.Run(where, func(t *testing.T) {
			srv := startHostile(t, &hostile{exec: func(cmd string, ch ssh.Channel) {
				if where == "preamble" {
					junk(ch, size)
					return
				}
				r, err := greet(ch)
				if err != nil {
					return
				}
				if _, err := nextFrame(r); err == nil {
					junk(ch, size)
				}
			}})
			h := srv.dial(t)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var err error
			within(t, 30*time.Second, func() { _, err = h.Run(bg, "true") })
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, remote.ErrShellBroken)
			assert.Contains(t, err.Error(), srv.addr)
			if where == "preamble" {
				assert.Contains(t, err.Error(), "more than 1048576 bytes before the greeting")
			} else {
				assert.Contains(t, err.Error(), "a reply line longer than 65536 bytes")
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			assert.Less(t, allocated, uint64(24<<20), "bytes allocated while reading 96 MiB of junk")
		})
	}
}

func TestHostileShellNeverGreets(t *testing.T) {
	// A shell that never greets (a forced command that waits): the Run
	// ends with its context, and without one within the start timeout.
	srv := startHostile(t, &hostile{exec: func(cmd string, ch ssh.Channel) { io.Copy(io.Discard, ch) }})
	h := srv.dial(t)
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	within(t, 10*time.Second, func() {
		_, err := h.Run(ctx, "true")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), srv.addr)
	})

	h2 := srv.dial(t, remote.WithTimeout(300*time.Millisecond))
	within(t, 10*time.Second, func() {
		_, err := h2.Run(bg, "true")
		require.ErrorIs(t, err, remote.ErrShellBroken)
		assert.Contains(t, err.Error(), "no answer within the start timeout")
		assert.Contains(t, err.Error(), srv.addr)
	})
}

func TestHostileChannelOpenNeverAnswered(t *testing.T) {
	// A server that never answers a session channel's open: a copy on the
	// host (its own SFTP session) and a command end with their context,
	// and without one within the start timeout.
	srv := startHostile(t, &hostile{holdOpens: true})
	h := srv.dial(t, remote.WithTimeout(300*time.Millisecond))
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	copies := []remote.FileCopy{{From: "a", To: "b", Size: 1, Mtime: time.Unix(1, 0), Mode: 0o644}}
	within(t, 10*time.Second, func() {
		err := h.CopyFiles(ctx, "/from", "/to", copies)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), srv.addr)
	})
	within(t, 10*time.Second, func() {
		err := h.CopyFiles(bg, "/from", "/to", copies)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the server did not answer within 300ms")
	})
	within(t, 10*time.Second, func() {
		_, err := h.Run(bg, "true")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the server did not answer within 300ms")
	})
}

func TestHostileStalledSFTP(t *testing.T) {
	// An sftp-server that answers the handshake, then nothing, while sshd
	// goes on answering: a call fails once its context ends, plus a grace.
	srv := startHostile(t, &hostile{sftp: func(ch ssh.Channel) {
		// SSH_FXP_INIT in, SSH_FXP_VERSION 3 out, then silence.
		var hdr [9]byte
		if _, err := io.ReadFull(ch, hdr[:]); err != nil {
			return
		}
		ch.Write([]byte{0, 0, 0, 5, 2, 0, 0, 0, 3})
		io.Copy(io.Discard, ch)
	}})
	h := srv.dial(t)
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	c, err := h.SFTP(ctx)
	require.NoError(t, err)
	within(t, 300*time.Millisecond+remote.SFTPGrace+5*time.Second, func() {
		_, err := c.Stat("/etc/passwd")
		require.Error(t, err, "the stalled client is closed")
	})
	// The next SFTP opens a new client.
	c2, err := h.SFTP(bg)
	require.NoError(t, err)
	assert.NotSame(t, c, c2)
}

func TestHostileNoSFTP(t *testing.T) {
	srv := startHostile(t, &hostile{})
	_, err := srv.dial(t).SFTP(bg)
	require.ErrorIs(t, err, remote.ErrNoSFTP)
	assert.Contains(t, err.Error(), "the server is SSH-2.0-Hostile_1.0")
	assert.Contains(t, err.Error(), srv.addr)
}

func TestHostilePanicInReaderIsAnError(t *testing.T) {
	// Whatever the host sends, Run returns (no goroutine dies with a
	// panic): a shell that closes in the middle of a reply.
	srv := startHostile(t, &hostile{exec: func(cmd string, ch ssh.Channel) {
		r, err := greet(ch)
		if err != nil {
			return
		}
		if _, err := nextFrame(r); err == nil {
			io.WriteString(ch, "0 100 0\nshort")
		}
	}})
	_, err := srv.dial(t).Run(bg, "true")
	require.Error(t, err)
	assert.True(t, errors.Is(err, remote.ErrShellBroken) || strings.Contains(err.Error(), "exited without an exit status"), err.Error())
}

// sftpPacket writes one SFTP packet: type, id, body.
func sftpPacket(w io.Writer, typ byte, id uint32, body []byte) {
	b := make([]byte, 9, 9+len(body))
	binary.BigEndian.PutUint32(b, uint32(5+len(body)))
	b[4] = typ
	binary.BigEndian.PutUint32(b[5:], id)
	w.Write(append(b, body...))
}

// sftpStatus is a status body of code.
func sftpStatus(code uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, code)
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0) // empty message and language
}

// scriptedSFTP answers the version, then hands each request to answer,
// one after the other.
func scriptedSFTP(answer func(w io.Writer, typ byte, id uint32)) func(ch ssh.Channel) {
	return func(ch ssh.Channel) {
		var l [4]byte
		if _, err := io.ReadFull(ch, l[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, ch, int64(binary.BigEndian.Uint32(l[:]))); err != nil {
			return
		}
		ch.Write([]byte{0, 0, 0, 5, 2, 0, 0, 0, 3})
		for {
			if _, err := io.ReadFull(ch, l[:]); err != nil {
				return
			}
			p := make([]byte, binary.BigEndian.Uint32(l[:]))
			if _, err := io.ReadFull(ch, p); err != nil || len(p) < 5 {
				return
			}
			answer(ch, p[0], binary.BigEndian.Uint32(p[1:5]))
		}
	}
}

func TestHostileUnaskedRepliesEndListDir(t *testing.T) {
	// A server that answers requests that were not made (ids of either
	// client of the shared session): the session is given up, and a
	// ListDir waiting on it fails rather than waits for ever.
	srv := startHostile(t, &hostile{sftp: scriptedSFTP(func(w io.Writer, typ byte, id uint32) {
		switch typ {
		case 11: // OPENDIR: two replies no one asked for, then the handle
			sftpPacket(w, 101, 77777, sftpStatus(0))
			sftpPacket(w, 101, 1<<31+77777, sftpStatus(0))
			sftpPacket(w, 102, id, []byte{0, 0, 0, 1, 'h'})
		case 12: // READDIR
			sftpPacket(w, 101, id, sftpStatus(1))
		default:
			sftpPacket(w, 101, id, sftpStatus(0))
		}
	})})
	h := srv.dial(t)
	_, err := h.SFTP(bg)
	require.NoError(t, err)
	within(t, 10*time.Second, func() {
		_, err := h.ListDir(bg, "/d", 0)
		require.Error(t, err)
	})
}

func TestHostileStalledSFTPEndsListDir(t *testing.T) {
	// A ListDir without a deadline on a server that stopped answering
	// fails once another caller's context ended and the probe found the
	// server stalled: the whole session is given up, its requests too.
	srv := startHostile(t, &hostile{sftp: scriptedSFTP(func(io.Writer, byte, uint32) {})})
	h := srv.dial(t)
	done := make(chan error, 1)
	go func() {
		_, err := h.ListDir(bg, "/d", 0)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	_, err := h.SFTP(ctx) // arms the probe for when ctx ends
	require.NoError(t, err)
	within(t, 300*time.Millisecond+remote.SFTPGrace+5*time.Second, func() {
		err := <-done
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the SFTP server stopped answering")
	})
}
