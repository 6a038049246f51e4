package remote_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// listed describes entries as "name mode size mtime", sorted.
func listed(infos []fs.FileInfo) []string {
	var out []string
	for _, fi := range infos {
		out = append(out, fmt.Sprintf("%s %v %d %d", fi.Name(), fi.Mode(), fi.Size(), fi.ModTime().Unix()))
	}
	sort.Strings(out)
	return out
}

// ListDir reads every entry of directories of 0 to 250 entries (around
// OpenSSH's 100 names per reply, where it skips the last request) as the
// shared client's ReadDir does, on OpenSSH and on portertest's server
// (pkg/sftp's, read to the end).
func TestListDir(t *testing.T) {
	hosts := map[string]*remote.Host{
		"openssh":    sshdtest.Start(t).Dial(t),
		"portertest": portertest.NewServer(t).Dial(t),
	}
	root := t.TempDir()
	// Sizes around OpenSSH's replies of 100 names, "." and ".." counted:
	// 98 entries fill one reply exactly, 198 two.
	sizes := []int{0, 1, 97, 98, 99, 100, 197, 198, 199, 250}
	// The READDIRs OpenSSH is sent: one per reply of names, and one more
	// that answers the end only after a full reply.
	opensshReaddirs := map[int]int64{0: 1, 1: 1, 97: 1, 98: 2, 99: 2, 100: 2, 197: 2, 198: 3, 199: 3, 250: 3}
	for _, n := range sizes {
		dir := filepath.Join(root, fmt.Sprint(n))
		require.NoError(t, os.Mkdir(dir, 0o755))
		for i := range n {
			p := filepath.Join(dir, fmt.Sprintf("f%03d", i))
			if i%10 == 3 {
				require.NoError(t, os.Mkdir(p, 0o700))
				continue
			}
			require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte("x"), i), 0o640))
		}
	}
	ctx := context.Background()
	for name, h := range hosts {
		t.Run(name, func(t *testing.T) {
			sc, err := h.SFTP(ctx)
			require.NoError(t, err)
			for _, n := range sizes {
				dir := filepath.Join(root, fmt.Sprint(n))
				before := remote.ReaddirsSent(h)
				got, err := h.ListDir(ctx, dir, 0)
				require.NoError(t, err)
				if name == "openssh" {
					assert.Equal(t, opensshReaddirs[n], remote.ReaddirsSent(h)-before, "READDIRs for %d entries", n)
				}
				want, err := sc.ReadDir(dir)
				require.NoError(t, err)
				assert.Len(t, got, n, "entries of %s", dir)
				assert.Equal(t, listed(want), listed(got), "entries of %s", dir)
				for _, fi := range got {
					st, ok := fi.Sys().(interface{ FileMode() fs.FileMode })
					require.True(t, ok, "Sys is an *sftp.FileStat")
					assert.Equal(t, fi.Mode(), st.FileMode())
				}
			}
			_, err = h.ListDir(ctx, filepath.Join(root, "250"), 200)
			assert.ErrorContains(t, err, "more than 200 entries")
			_, err = h.ListDir(ctx, filepath.Join(root, "missing"), 0)
			assert.ErrorIs(t, err, fs.ErrNotExist)
		})
	}
}

// ListDir's requests share the session with the shared client's: files
// written and read through it while directories are listed land whole.
func TestListDirAlongsideTransfers(t *testing.T) {
	h := sshdtest.Start(t).Dial(t)
	ctx := context.Background()
	sc, err := h.SFTP(ctx)
	require.NoError(t, err)
	root := t.TempDir()
	for i := range 150 {
		require.NoError(t, os.WriteFile(filepath.Join(root, fmt.Sprintf("e%03d", i)), nil, 0o644))
	}
	data := make([]byte, 3<<20+17)
	_, err = rand.Read(data)
	require.NoError(t, err)
	var g errgroup.Group
	for i := range 4 {
		g.Go(func() error {
			p := filepath.Join(root, fmt.Sprintf("big%d", i))
			f, err := sc.Create(p)
			if err != nil {
				return err
			}
			if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			r, err := sc.Open(p)
			if err != nil {
				return err
			}
			defer r.Close()
			back, err := io.ReadAll(r)
			if err == nil && !bytes.Equal(back, data) {
				err = fmt.Errorf("%s read back differs", p)
			}
			return err
		})
		g.Go(func() error {
			for range 20 {
				infos, err := h.ListDir(ctx, root, 0)
				if err != nil {
					return err
				}
				if len(infos) < 150 {
					return fmt.Errorf("listed %d entries, not at least 150", len(infos))
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	for i := range 4 {
		got, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("big%d", i)))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got), "big%d landed whole", i)
	}
}
