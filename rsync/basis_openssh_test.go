package rsync

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// copyDataHost dials an OpenSSH whose SFTP server copies files itself
// (copy-data, OpenSSH 9.0 and later), or skips the test.
func copyDataHost(t *testing.T, opts ...sshdtest.Option) *remote.Host {
	t.Helper()
	h := sshdtest.Start(t, opts...).Dial(t)
	if ok, err := h.CanCopyFiles(context.Background()); err != nil || !ok {
		t.Skip("this OpenSSH's SFTP server has no copy-data (OpenSSH 9.0 or later has it)", err)
	}
	return h
}

// A small change set whose files Basis holds, to a host whose SFTP server
// copies files itself: the server copies them, the rest is sent with SFTP
// writes, and no remote shell is started at all (as a deploy of a release
// sets the options: an SFTP walk, nothing after the sync): the host runs
// every session as its SFTP server (ForceCommand internal-sftp, as an
// SFTP-only account has it), so a remote shell would fail the sync.
func TestSyncBasisCopiedByTheSFTPServer(t *testing.T) {
	notLive(t, func(t *testing.T, notLive bool) {
		h := copyDataHost(t, sshdtest.WithConfig("ForceCommand internal-sftp"))
		src, old, live := basisTrees(t, Options{})
		liveBefore := snapshot(t, live)
		opts := Options{Basis: live, Delete: true, NotLive: notLive, NoShellAfter: true, hooks: &testHooks{listSFTP: true}}
		st, err := Sync(context.Background(), h, src, old, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, old))
		assert.Equal(t, liveBefore, snapshot(t, live), "the basis is only read")
		assert.Empty(t, findTemps(t, filepath.Dir(src)))
		assert.Equal(t, 2, st.Copied)
		assert.Equal(t, 4, st.Sent)
		assert.Equal(t, int64(len("e, second version")+len("d")), st.BytesSent, "b and sub/c did not cross the network")
		fi, err := os.Stat(filepath.Join(old, "sub/c"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "a copy keeps the mode")
		assert.False(t, h.ShellWarm(), "no remote shell was started")
	})
}

// Between the plan and the copy, what Basis held is swapped: a directory
// for a symlink to a tree outside it, a file for a symlink to a file of
// the same size, mode and mtime, a file for one of another size, a file
// removed. Each is refused (ErrChanged): nothing is copied from outside
// Basis, dst keeps what it had (with NotLive too: every check comes before
// any write), the staging directory is gone.
func TestSyncBasisSFTPCopyRefusesWhatWasSwapped(t *testing.T) {
	cases := map[string]func(t *testing.T, live, outside string){
		"a directory for a symlink": func(t *testing.T, live, outside string) {
			build(t, outside, f("c", "c, second version", 0o600))
			cp := filepath.Join(live, "sub/c")
			fi, err := os.Stat(cp)
			require.NoError(t, err)
			require.NoError(t, os.Chtimes(filepath.Join(outside, "c"), fi.ModTime(), fi.ModTime()))
			require.NoError(t, os.Rename(filepath.Join(live, "sub"), filepath.Join(live, "sub.moved")))
			require.NoError(t, os.Symlink(outside, filepath.Join(live, "sub")))
		},
		"a file for a symlink": func(t *testing.T, live, outside string) {
			build(t, outside, f("b", "b, other version", 0o644)) // the same size
			fi, err := os.Stat(filepath.Join(live, "b"))
			require.NoError(t, err)
			require.NoError(t, os.Chtimes(filepath.Join(outside, "b"), fi.ModTime(), fi.ModTime()))
			require.NoError(t, os.Remove(filepath.Join(live, "b")))
			require.NoError(t, os.Symlink(filepath.Join(outside, "b"), filepath.Join(live, "b")))
		},
		"a file for another": func(t *testing.T, live, outside string) {
			require.NoError(t, os.WriteFile(filepath.Join(live, "b"), []byte("longer than it was"), 0o644))
		},
		"a file removed": func(t *testing.T, live, outside string) {
			require.NoError(t, os.Remove(filepath.Join(live, "sub/c")))
		},
	}
	for name, swap := range cases {
		t.Run(name, func(t *testing.T) {
			notLive(t, func(t *testing.T, notLive bool) { testSFTPCopyRefuses(t, swap, notLive) })
		})
	}
}

func testSFTPCopyRefuses(t *testing.T, swap func(t *testing.T, live, outside string), notLive bool) {
	h := copyDataHost(t)
	src, old, live := basisTrees(t, Options{})
	oldBefore := snapshot(t, old)
	delete(oldBefore, ".") // the staging directory came and went: dst's mtime moved
	opts := Options{Basis: live, NotLive: notLive, NoShellAfter: true, hooks: &testHooks{listSFTP: true}}
	c, err := plan(context.Background(), h, src, old, opts)
	require.NoError(t, err)
	require.Equal(t, 2, c.Stats().Copied)
	swap(t, live, filepath.Join(filepath.Dir(src), "outside"))
	_, err = c.Apply(context.Background())
	require.ErrorIs(t, err, ErrChanged)
	after := snapshot(t, old)
	delete(after, ".")
	assert.Equal(t, oldBefore, after, "nothing is written when a check fails, not even with NotLive")
	assert.Empty(t, findTemps(t, filepath.Dir(src)))
}

// racyTrees makes src, old (a sync of src) and live (a later sync, after
// r changed within the second old was synced, its mtime kept, if changed
// says so): r in old is racy (see Options.RacyAfter), and live holds the
// source's content. It
// returns the options of a sync of src into old with Basis live. (The
// trees are made through portertest's server, on this machine.)
func racyTrees(t *testing.T, changed bool) (src, old string, opts Options) {
	t.Helper()
	h := dialTest(t)
	tmp := tempDir(t)
	src, old, live := filepath.Join(tmp, "src"), filepath.Join(tmp, "old"), filepath.Join(tmp, "live")
	T := time.Date(2024, 6, 7, 8, 9, 10, 0, time.UTC)
	build(t, src, f("keep", "kkkk", 0o644))
	writeFile(t, filepath.Join(src, "r"), "aaaa", T.Add(100*time.Millisecond))
	noShell := Options{hooks: &testHooks{listSFTP: true}}
	_, err := Sync(context.Background(), h, src, old, noShell)
	require.NoError(t, err)
	oldSynced := T.Add(500 * time.Millisecond)
	if changed {
		writeFile(t, filepath.Join(src, "r"), "BBBB", T.Add(100*time.Millisecond)) // the same second
	}
	noShell.RacyAfter = oldSynced
	_, err = Sync(context.Background(), h, src, live, noShell)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(live, "r"))
	require.NoError(t, err)
	require.Equal(t, map[bool]string{true: "BBBB", false: "aaaa"}[changed], string(b), "live was synced after the change")
	return src, old, Options{RacyAfter: oldSynced, Basis: live, BasisRacyAfter: T.Add(time.Hour), hooks: &testHooks{listSFTP: true}}
}

// A file of dst that is racy (it may have changed within the second dst
// was synced) but not in Basis, synced later, is copied from Basis by the
// host's SFTP server: it is neither hashed on both sides nor sent. Here it
// did change within that second: dst gets the source's content.
func TestSyncBasisRacyFileCopiedFromBasis(t *testing.T) {
	h := copyDataHost(t, sshdtest.WithConfig("ForceCommand internal-sftp"))
	src, old, opts := racyTrees(t, true)
	var logs strings.Builder
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := Sync(context.Background(), h, src, old, opts)
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, src), snapshot(t, old))
	assert.Equal(t, 1, st.Copied, "r, from Basis")
	assert.Equal(t, int64(0), st.BytesSent)
	assert.NotContains(t, logs.String(), "sync checksums", "nothing hashed")
	assert.Contains(t, logs.String(), "path=r reason=racy")
}

// On a host whose SFTP server does not copy files and that has no shell,
// a racy file is hashed on both sides over SFTP, as without Basis (a copy
// would need the shell): unchanged, and the sync succeeds.
func TestSyncBasisRacyFileHashedWithoutServerCopies(t *testing.T) {
	h := portertest.NewServer(t, portertest.WithLoginShell("/bin/false")).Dial(t)
	src, old, opts := racyTrees(t, false)
	st, err := Sync(context.Background(), h, src, old, opts)
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, src), snapshot(t, old))
	assert.Equal(t, 0, st.Copied)
	assert.Equal(t, 0, st.Sent)
	assert.Equal(t, 2, st.Unchanged, "r, by checksum")
}

// A host with no remote shell (its login shell fails) and an SFTP server
// that does not copy files: the files Basis holds are sent after all
// (Options.Basis: "without either, every file is sent"), and the sync
// succeeds with SFTP requests alone; so does one that needs no copy.
func TestSyncBasisWithoutShellNorServerCopies(t *testing.T) {
	h := portertest.NewServer(t, portertest.WithLoginShell("/bin/false")).Dial(t)
	src, old, live := basisTrees(t, Options{})
	liveBefore := snapshot(t, live)
	st, err := Sync(context.Background(), h, src, old, Options{Basis: live, Delete: true})
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, src), snapshot(t, old))
	assert.Equal(t, liveBefore, snapshot(t, live))
	assert.Equal(t, 0, st.Copied)
	assert.Equal(t, 4, st.Sent)
	assert.Empty(t, findTemps(t, filepath.Dir(src)))

	// Files compared by content are read over SFTP.
	st, err = Sync(context.Background(), h, src, old, Options{Basis: live, Delete: true, Checksum: true})
	require.NoError(t, err)
	assert.Equal(t, 0, st.Sent)
	assert.Equal(t, snapshot(t, src), snapshot(t, old))
}
