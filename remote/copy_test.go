package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// copySource writes the file rel below dir and returns the FileCopy that
// describes it.
func copySource(t *testing.T, dir, rel, content string, mode fs.FileMode, mtime time.Time) remote.FileCopy {
	t.Helper()
	p := filepath.Join(dir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	require.NoError(t, os.Chmod(p, mode))
	require.NoError(t, os.Chtimes(p, mtime, mtime))
	return remote.FileCopy{From: rel, Size: int64(len(content)), Mtime: mtime, Mode: mode}
}

func TestCopyFilesOpenSSH(t *testing.T) {
	checkCopyFiles(t, sshdtest.Start(t).Dial(t))
}

// A host that allows two sessions, the shared SFTP client's and the
// remote shell's: CopyFiles cannot open one of its own and copies on the
// shared session, which goes on serving.
func TestCopyFilesOpenSSHAtMaxSessions(t *testing.T) {
	h := sshdtest.Start(t, sshdtest.WithConfig("MaxSessions 2")).Dial(t)
	ctx := context.Background()
	_, err := h.SFTP(ctx)
	require.NoError(t, err)
	_, err = h.Run(ctx, "true") // the pooled shell stays: two sessions
	require.NoError(t, err)
	checkCopyFiles(t, h)
	out, err := h.Run(ctx, "echo still")
	require.NoError(t, err)
	assert.Equal(t, "still\n", string(out.Stdout))
	_, err = h.ListDir(ctx, t.TempDir(), 0)
	require.NoError(t, err)
}

// checkCopyFiles has h copy 303 files of all sizes and checks each copy.
func checkCopyFiles(t *testing.T, h *remote.Host) {
	ctx := context.Background()
	ok, err := h.CanCopyFiles(ctx)
	require.NoError(t, err)
	if !ok {
		t.Skip("this OpenSSH has no copy-data (OpenSSH 9.0 or later has it)")
	}
	from, to := t.TempDir(), t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(to, "sub/deeper"), 0o755))
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	var files []remote.FileCopy
	for i := range 300 { // more than are copied at once
		f := copySource(t, from, fmt.Sprintf("d%d/src%03d", i%7, i), fmt.Sprintf("content %d\n", i), 0o640, mtime.Add(time.Duration(i)*time.Second))
		f.To = fmt.Sprintf("sub/deeper/dst%03d", i)
		files = append(files, f)
	}
	empty := copySource(t, from, "empty", "", 0o755, mtime)
	empty.To = "empty.copy"
	big := copySource(t, from, "big", string(make([]byte, 3<<20+17)), 0o600, mtime)
	big.To = "big.copy"
	old := copySource(t, from, "old", "replaced\n", 0o644, mtime)
	old.To, old.Replace = "old", true
	require.NoError(t, os.WriteFile(filepath.Join(to, "old"), []byte("what was there\n"), 0o600))
	files = append(files, empty, big, old)

	require.NoError(t, h.CopyFiles(ctx, from, to, files))
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(from, f.From))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(to, f.To))
		require.NoError(t, err)
		assert.Equal(t, want, got, f.To)
		fi, err := os.Lstat(filepath.Join(to, f.To))
		require.NoError(t, err)
		assert.Equal(t, f.Mode, fi.Mode(), f.To)
		assert.Equal(t, f.Mtime.Unix(), fi.ModTime().Unix(), f.To)
	}
}

func TestCopyFilesRefusesOpenSSH(t *testing.T) {
	srv := sshdtest.Start(t)
	h := srv.Dial(t)
	ctx := context.Background()
	if ok, err := h.CanCopyFiles(ctx); err != nil || !ok {
		t.Skip("this OpenSSH has no copy-data (OpenSSH 9.0 or later has it)", err)
	}
	dir := t.TempDir()
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	outside := filepath.Join(dir, "outside")
	secret := filepath.Join(outside, "secret")
	require.NoError(t, os.MkdirAll(outside, 0o755))
	require.NoError(t, os.WriteFile(secret, []byte("secret\n"), 0o600))
	from, to := filepath.Join(dir, "from"), filepath.Join(dir, "to")
	require.NoError(t, os.MkdirAll(to, 0o755))
	assertUntouched := func(t *testing.T) {
		t.Helper()
		got, err := os.ReadFile(secret)
		require.NoError(t, err)
		assert.Equal(t, "secret\n", string(got), "nothing is written through a link")
		entries, err := os.ReadDir(outside)
		require.NoError(t, err)
		assert.Len(t, entries, 1, "nothing is made through a link")
	}

	t.Run("a To that exists, as a symlink", func(t *testing.T) {
		f := copySource(t, from, "a", "new\n", 0o644, mtime)
		f.To = "a.link"
		require.NoError(t, os.Symlink(secret, filepath.Join(to, f.To)))
		err := h.CopyFiles(ctx, from, to, []remote.FileCopy{f})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "copy "+filepath.Join(from, "a")+" to "+filepath.Join(to, "a.link")+" on "+srv.Address())
		assertUntouched(t)
	})
	t.Run("a To replaced that is a symlink", func(t *testing.T) {
		f := copySource(t, from, "a2", "new\n", 0o644, mtime)
		f.To, f.Replace = "a2.link", true
		require.NoError(t, os.Symlink(secret, filepath.Join(to, f.To)))
		require.NoError(t, h.CopyFiles(ctx, from, to, []remote.FileCopy{f}))
		fi, err := os.Lstat(filepath.Join(to, f.To))
		require.NoError(t, err)
		assert.True(t, fi.Mode().IsRegular(), "the link is replaced by the copy")
		assertUntouched(t)
	})
	t.Run("a From that is a symlink", func(t *testing.T) {
		f := copySource(t, from, "b.target", "secret\n", 0o600, mtime)
		require.NoError(t, os.Symlink(filepath.Join(from, f.From), filepath.Join(from, "b")))
		f.From, f.To = "b", "b.copy"
		err := h.CopyFiles(ctx, from, to, []remote.FileCopy{f})
		require.ErrorIs(t, err, remote.ErrCopyRefused)
		assert.Contains(t, err.Error(), filepath.Join(from, "b")+" is a symlink, not a regular file of 7 bytes, mode 0600")
		_, serr := os.Lstat(filepath.Join(to, f.To))
		assert.ErrorIs(t, serr, fs.ErrNotExist, "nothing is made for it")
	})
	t.Run("a directory of From that is a symlink", func(t *testing.T) {
		f := copySource(t, outside, "secret", "secret\n", 0o600, mtime)
		require.NoError(t, os.Symlink(outside, filepath.Join(from, "linked")))
		f.From, f.To = "linked/secret", "secret.copy"
		err := h.CopyFiles(ctx, from, to, []remote.FileCopy{f})
		require.ErrorIs(t, err, remote.ErrCopyRefused)
		assert.Contains(t, err.Error(), filepath.Join(from, "linked")+" is a symlink, not a directory")
		_, serr := os.Lstat(filepath.Join(to, f.To))
		assert.ErrorIs(t, serr, fs.ErrNotExist, "nothing is copied")
	})
	t.Run("a directory of To that is a symlink", func(t *testing.T) {
		f := copySource(t, from, "c", "c\n", 0o644, mtime)
		require.NoError(t, os.Symlink(outside, filepath.Join(to, "linked")))
		f.To = "linked/c"
		err := h.CopyFiles(ctx, from, to, []remote.FileCopy{f})
		require.ErrorIs(t, err, remote.ErrCopyRefused)
		assert.Contains(t, err.Error(), filepath.Join(to, "linked")+" is a symlink, not a directory")
		assertUntouched(t)
	})
	t.Run("a From changed since it was looked up", func(t *testing.T) {
		f := copySource(t, from, "e", "changed\n", 0o644, mtime)
		f.To = "e.copy"
		f.Size = 3
		err := h.CopyFiles(ctx, from, to, []remote.FileCopy{f})
		require.ErrorIs(t, err, remote.ErrCopyRefused)
		assert.Contains(t, err.Error(), filepath.Join(from, "e")+" has 8 bytes, mode 0644, mtime 2024-05-06T07:08:09Z, not a regular file of 3 bytes, mode 0644")
	})
	t.Run("a From changed after the checks, before it is opened", func(t *testing.T) {
		f := copySource(t, from, "g", "first\n", 0o644, mtime)
		f.To = "g.copy"
		other := copySource(t, from, "h", "first\n", 0o644, mtime) // the same size and mode
		other.To = "h.copy"
		swapped := remote.WithCopyHook(ctx, func() {
			require.NoError(t, os.WriteFile(filepath.Join(from, "g"), []byte("other\n"), 0o644)) // the same size, a new mtime
		})
		err := h.CopyFiles(swapped, from, to, []remote.FileCopy{f, other})
		require.ErrorIs(t, err, remote.ErrCopyRefused)
		assert.Contains(t, err.Error(), filepath.Join(from, "g")+" once open has 6 bytes, mode 0644, mtime ")
		_, serr := os.Lstat(filepath.Join(to, f.To))
		assert.ErrorIs(t, serr, fs.ErrNotExist, "nothing of it is copied: the To made for it is removed")
	})
	t.Run("a refusal writes nothing", func(t *testing.T) {
		good := copySource(t, from, "i", "i\n", 0o644, mtime)
		good.To, good.Replace = "i", true
		require.NoError(t, os.WriteFile(filepath.Join(to, "i"), []byte("kept\n"), 0o644))
		bad := copySource(t, from, "j", "j\n", 0o644, mtime)
		bad.To, bad.Size = "j", 5
		err := h.CopyFiles(ctx, from, to, []remote.FileCopy{good, bad})
		require.ErrorIs(t, err, remote.ErrCopyRefused)
		got, rerr := os.ReadFile(filepath.Join(to, "i"))
		require.NoError(t, rerr)
		assert.Equal(t, "kept\n", string(got), "the file to replace is still there: every check comes first")
		_, serr := os.Lstat(filepath.Join(to, "j"))
		assert.ErrorIs(t, serr, fs.ErrNotExist)
	})
	t.Run("a missing From", func(t *testing.T) {
		f := remote.FileCopy{From: "missing", To: "missing.copy", Mtime: mtime, Mode: 0o644}
		err := h.CopyFiles(ctx, from, to, []remote.FileCopy{f})
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.ErrorIs(t, err, remote.ErrCopyRefused)
		assert.Contains(t, err.Error(), filepath.Join(from, "missing")+" is gone")
		_, serr := os.Lstat(filepath.Join(to, f.To))
		assert.ErrorIs(t, serr, fs.ErrNotExist, "nothing is made for it")
	})
	t.Run("a path that climbs out", func(t *testing.T) {
		f := remote.FileCopy{From: "../outside/secret", To: "x", Mtime: mtime, Mode: 0o600, Size: 7}
		err := h.CopyFiles(ctx, from, to, []remote.FileCopy{f})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `"../outside/secret" is not a path relative to the directory copied from or to`)
		_, serr := os.Lstat(filepath.Join(to, "x"))
		assert.ErrorIs(t, serr, fs.ErrNotExist)
	})
	t.Run("a context that ended", func(t *testing.T) {
		f := copySource(t, from, "d", "d\n", 0o644, mtime)
		f.To = "d.copy"
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := h.CopyFiles(cctx, from, to, []remote.FileCopy{f})
		require.ErrorIs(t, err, context.Canceled)
		require.NoError(t, h.CopyFiles(ctx, from, to, []remote.FileCopy{f}), "the host's connection still serves")
	})
}

func TestCopyFilesWithoutCopyData(t *testing.T) {
	// portertest's SFTP server (pkg/sftp's) has no copy-data, as OpenSSH
	// before 9.0 has not.
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	ctx := context.Background()
	ok, err := h.CanCopyFiles(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	dir := t.TempDir()
	f := copySource(t, dir, "a", "a\n", 0o644, time.Unix(1e9, 0))
	f.To = "a.copy"
	err = h.CopyFiles(ctx, dir, dir, []remote.FileCopy{f})
	require.ErrorIs(t, err, remote.ErrNoServerCopy)
	assert.Equal(t, "copy on "+srv.Address()+": "+remote.ErrNoServerCopy.Error(), err.Error())
	assert.True(t, errors.Is(err, remote.ErrNoServerCopy))
	_, serr := os.Lstat(filepath.Join(dir, f.To))
	assert.ErrorIs(t, serr, fs.ErrNotExist)
}
