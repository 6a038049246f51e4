package rsync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/sshdtest"
)

// TestSyncOpenSSH syncs to a real OpenSSH sshd (skipped where sshd is not
// installed): its SFTP server, its shell and the host's own find, tar and
// sha256sum.
func TestSyncOpenSSH(t *testing.T) {
	srv := sshdtest.Start(t)
	modes(t, func(t *testing.T, opts Options) {
		h := srv.Dial(t)
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst it's $(x)")
		nodes := append(sample(tmp),
			f("new\nline", "n", 0o644), f("-rf", "r", 0o644), f("$(touch pwned)", "p", 0o644),
			f(".git/HEAD", "ref", 0o644), l("dir a b/link it's", "../it's"))
		build(t, src, nodes...)
		opts.Exclude = []string{".git*"}
		opts.hooks = with(opts, func(h *testHooks) { h.slowWalk = true }) // the host's find

		st, err := Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src, ".git"), snapshot(t, dst))
		assert.Equal(t, 15, st.Sent)
		assert.NoFileExists(t, filepath.Join(dst, "pwned"))

		st, err = Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, 0, st.Sent)

		// Same size and mtime, other content: only checksum mode sees it.
		p := filepath.Join(src, "README")
		fi, err := os.Stat(p)
		require.NoError(t, err)
		writeFile(t, p, strings.ToUpper("hello\n"), fi.ModTime())
		writeFile(t, filepath.Join(dst, "extra"), "x", time.Time{})
		require.NoError(t, os.MkdirAll(filepath.Join(dst, ".porter"), 0o755))
		opts.Checksum, opts.Delete = true, true
		st, err = Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, 1, st.Sent)
		assert.Equal(t, 1, st.Deleted)
		assert.Equal(t, snapshot(t, src, ".git"), snapshot(t, dst, ".porter"))
		assert.DirExists(t, filepath.Join(dst, ".porter"))
		assert.Empty(t, findTemps(t, tmp))
	})
}
