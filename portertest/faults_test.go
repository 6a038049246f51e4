package portertest_test

import (
	"bytes"
	"context"
	"errors"
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

func TestFailCommands(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	srv.FailCommands("supervisorctl", 3, "injected: it's broken")
	out, err := h.Run(bg, "echo ran > "+remote.Quote(filepath.Join(t.TempDir(), "x"))+"; supervisorctl start 'app:*'")
	var ee *remote.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 3, ee.Status)
	assert.Equal(t, "injected: it's broken\n", string(out.Stderr))
	out, err = h.Run(bg, "echo other")
	require.NoError(t, err, "other commands run")
	assert.Equal(t, "other\n", string(out.Stdout))
	assert.Contains(t, srv.Commands(), "echo other")

	srv.ClearFaults()
	_, err = h.Run(bg, "command -v supervisorctl >/dev/null || exit 0")
	require.NoError(t, err)
}

func TestHangCommands(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	srv.HangCommands("migrate")
	ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
	defer cancel()
	_, err := h.Run(ctx, "python manage.py migrate")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	out, err := h.Run(bg, "echo after")
	require.NoError(t, err, "the host is still usable")
	assert.Equal(t, "after\n", string(out.Stdout))
}

func TestStallSFTP(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644))
	c, err := h.SFTP(bg)
	require.NoError(t, err)
	_, err = c.Stat(filepath.Join(dir, "f"))
	require.NoError(t, err)

	srv.StallSFTP()
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	c, err = h.SFTP(ctx)
	if err == nil {
		done := make(chan error, 1)
		go func() { _, err := c.Stat(filepath.Join(dir, "f")); done <- err }()
		select {
		case err = <-done:
		case <-time.After(200*time.Millisecond + remote.SFTPGrace + 5*time.Second):
			t.Fatal("a stalled SFTP call outlived its context and the grace")
		}
	}
	require.Error(t, err, "a stalled sftp-server fails the call once its context and the grace are over")
	srv.ResumeSFTP()
	c, err = h.SFTP(bg)
	require.NoError(t, err)
	_, err = c.Stat(filepath.Join(dir, "f"))
	require.NoError(t, err, "after ResumeSFTP a new SFTP session works")
}

func TestCutAfter(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	_, err := h.Run(bg, "true")
	require.NoError(t, err)
	srv.CutAfter(4 << 10)
	_, err = h.RunInput(bg, "cat >/dev/null", bytes.NewReader(make([]byte, 1<<20)))
	require.Error(t, err, "the connection is cut in the middle of the input")
	_, err = h.Run(bg, "true")
	require.Error(t, err, "and stays cut")
	assert.Equal(t, 1, srv.Connections())
}

func TestCut(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	srv.Cut()
	_, err := h.Run(bg, "true")
	require.Error(t, err)
}

func TestSmallDisk(t *testing.T) {
	srv := portertest.NewServer(t, portertest.WithSmallDisk(256<<10))
	dir := srv.Disk()
	h := srv.Dial(t)
	c, err := h.SFTP(bg)
	require.NoError(t, err)
	f, err := c.Create(filepath.Join(dir, "big"))
	require.NoError(t, err)
	_, werr := f.Write(make([]byte, 1<<20))
	cerr := f.Close()
	err = errors.Join(werr, cerr)
	require.Error(t, err, "the disk is full")
	_, err = h.Run(bg, "head -c 1048576 /dev/zero > "+remote.Quote(filepath.Join(dir, "big2")))
	var ee *remote.ExitError
	require.ErrorAs(t, err, &ee)
	assert.True(t, strings.Contains(ee.Stderr, "No space left"), ee.Stderr)

	// What landed, through SFTP and commands alike, is read through Local.
	require.NoError(t, c.Remove(filepath.Join(dir, "big")))
	require.NoError(t, c.Remove(filepath.Join(dir, "big2")))
	_, err = h.Run(bg, "printf cmd > "+remote.Quote(filepath.Join(dir, "by-command")))
	require.NoError(t, err)
	w, err := c.Create(filepath.Join(dir, "by-sftp"))
	require.NoError(t, err)
	_, err = w.Write([]byte("sftp"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	for name, want := range map[string]string{"by-command": "cmd", "by-sftp": "sftp"} {
		b, err := os.ReadFile(srv.Local(filepath.Join(dir, name)))
		require.NoError(t, err)
		assert.Equal(t, want, string(b))
	}

	// Resized, it takes the megabyte.
	require.NoError(t, srv.ResizeDisk(4<<20))
	_, err = h.Run(bg, "head -c 1048576 /dev/zero > "+remote.Quote(filepath.Join(dir, "big2")))
	require.NoError(t, err)
	st, err := os.Stat(srv.Local(filepath.Join(dir, "big2")))
	require.NoError(t, err)
	assert.Equal(t, int64(1<<20), st.Size())
}
