package remote_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/remote"
)

func TestListerReadsDirectories(t *testing.T) {
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		ctx := context.Background()
		dir := t.TempDir()
		mtime := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
		var want []string
		for i := range 250 { // more than one readdir reply (OpenSSH sends 100 names at most)
			p := filepath.Join(dir, fmt.Sprintf("f%03d", i))
			require.NoError(t, os.WriteFile(p, []byte(fmt.Sprint(i)), 0o640))
			require.NoError(t, os.Chtimes(p, mtime, mtime))
			want = append(want, fmt.Sprintf("f%03d", i))
		}
		require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o750))
		require.NoError(t, os.Symlink("f001", filepath.Join(dir, "link")))
		want = append(want, "link", "sub")
		slices.Sort(want)

		l, err := h.OpenLister(ctx, 2)
		require.NoError(t, err)
		defer l.Close()
		des, err := l.ReadDir(ctx, dir, 1000)
		require.NoError(t, err)
		var got []string
		byName := map[string]remote.DirEntry{}
		for _, d := range des {
			got = append(got, d.Name)
			byName[d.Name] = d
		}
		slices.Sort(got)
		assert.Equal(t, want, got, "every name once, without . and ..")
		f := byName["f007"]
		assert.Equal(t, remote.ModeRegular, f.Mode&remote.ModeTypeMask)
		assert.Equal(t, uint32(0o640), f.Mode&0o7777)
		assert.Equal(t, int64(1), f.Size)
		assert.Equal(t, mtime.Unix(), f.Mtime)
		assert.Equal(t, remote.ModeDir, byName["sub"].Mode&remote.ModeTypeMask)
		assert.Equal(t, uint32(0o750), byName["sub"].Mode&0o7777)
		assert.Equal(t, remote.ModeSymlink, byName["link"].Mode&remote.ModeTypeMask, "a symlink is listed, not followed")
		target, err := l.ReadLink(ctx, filepath.Join(dir, "link"))
		require.NoError(t, err)
		assert.Equal(t, "f001", target)
		st, err := l.Stat(ctx, dir)
		require.NoError(t, err)
		assert.Equal(t, remote.ModeDir, st.Mode&remote.ModeTypeMask)

		_, err = l.ReadDir(ctx, dir, 100)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "more than 100 entries")
		_, err = l.ReadDir(ctx, filepath.Join(dir, "missing"), 100)
		require.ErrorIs(t, err, fs.ErrNotExist)
		_, err = l.Stat(ctx, filepath.Join(dir, "missing"))
		require.ErrorIs(t, err, fs.ErrNotExist)
		// The sessions still serve after those errors.
		des, err = l.ReadDir(ctx, filepath.Join(dir, "sub"), 10)
		require.NoError(t, err)
		assert.Empty(t, des)

		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = l.ReadDir(cctx, dir, 1000)
		require.ErrorIs(t, err, context.Canceled)
	})
}
