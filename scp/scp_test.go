package scp_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/scp"
)

func write(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
	require.NoError(t, os.Chmod(path, mode))
}

// module returns module "app" of a new project, connected to a portertest
// server, deploying to a fresh directory.
func module(t *testing.T) (*porter.Module, string, *portertest.Server) {
	t.Helper()
	srv := portertest.NewServer(t)
	local, dest := t.TempDir(), filepath.Join(t.TempDir(), "app dir")
	write(t, filepath.Join(local, "project.ini"), "[project]\ndepends = app\n[hosts]\ntest = x@y\n", 0o644)
	write(t, filepath.Join(local, "app", "app.ini"), "[module]\npath = "+dest+"\n", 0o644)
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	m, err := porter.LoadModule(p, "app", porter.OnHost("test"), porter.WithConfig("production"), porter.WithConnection(srv.Dial(t)))
	require.NoError(t, err)
	return m, dest, srv
}

func TestCopyConfigFileKeepsBytesModeAndTime(t *testing.T) {
	m, dest, _ := module(t)
	src := filepath.Join(m.ConfigDir(), "local_settings.py")
	write(t, src, "SECRET = 's3cr3t'\n", 0o600)
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	require.NoError(t, os.Chtimes(src, when, when))

	require.NoError(t, scp.CopyConfigFile(context.Background(), m, "local_settings.py"))
	got := filepath.Join(dest, "local_settings.py")
	b, err := os.ReadFile(got)
	require.NoError(t, err)
	assert.Equal(t, "SECRET = 's3cr3t'\n", string(b))
	st, err := os.Stat(got)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm(), "a secret keeps its mode")
	assert.True(t, when.Equal(st.ModTime()), "mtime kept: %v", st.ModTime())
	entries, _ := os.ReadDir(dest)
	assert.Len(t, entries, 1, "no temporary file left")
}

func TestCopyConfigFileDestAndDirectories(t *testing.T) {
	m, dest, _ := module(t)
	write(t, filepath.Join(m.ConfigDir(), "nginx", "site.conf"), "server {}\n", 0o644)
	write(t, filepath.Join(m.ConfigDir(), "nginx", "snippets", "ssl.conf"), "ssl on;\n", 0o640)
	require.NoError(t, scp.CopyConfigFile(context.Background(), m, "nginx", "etc"))
	b, err := os.ReadFile(filepath.Join(dest, "etc", "nginx", "snippets", "ssl.conf"))
	require.NoError(t, err)
	assert.Equal(t, "ssl on;\n", string(b))
	st, err := os.Stat(filepath.Join(dest, "etc", "nginx", "snippets", "ssl.conf"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o640), st.Mode().Perm())

	abs := filepath.Join(t.TempDir(), "it's a $(dir)")
	require.NoError(t, scp.CopyConfigFile(context.Background(), m, "nginx/site.conf", abs))
	assert.FileExists(t, filepath.Join(abs, "site.conf"))
}

func TestCopyConfigFileRefusesBadNamesBeforeWriting(t *testing.T) {
	m, dest, srv := module(t)
	write(t, filepath.Join(m.ConfigDir(), "ok"), "x", 0o644)
	for _, tc := range []struct {
		name, want string
		outside    bool
	}{
		{"../app.ini", `copy config "../app.ini": name leaves the config directory: name a file under app/config/production`, true},
		{"/etc/passwd", `copy config "/etc/passwd": name leaves the config directory`, true},
		{"ok/../../x", `name leaves the config directory`, true},
		{"", `name leaves the config directory`, true},
		{"missing.py", `copy config "missing.py": app/config/production/missing.py: no such file`, false},
	} {
		err := scp.CopyConfigFile(context.Background(), m, tc.name)
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want)
		assert.Equal(t, tc.outside, errors.Is(err, scp.ErrOutsideConfigDir), tc.name)
	}
	assert.NoDirExists(t, dest, "nothing was written")
	assert.Empty(t, srv.Commands())
}

func TestCopyConfigFileMissingConfigDir(t *testing.T) {
	m, _, _ := module(t)
	err := scp.CopyConfigFile(context.Background(), m, "x.py")
	assert.EqualError(t, err, `copy config "x.py": app/config/production: no such directory: create it for --config production: file does not exist`)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// TestCopyFileOverwritesAtomically: the new file replaces the old one by a
// rename, never by writing into it. Whoever holds the old file (an open
// descriptor, a hard link) still sees the old content and mode in full, so
// a reader never sees half a file, and a secret copied over a
// world-readable file never passes through that file.
func TestCopyFileOverwritesAtomically(t *testing.T) {
	m, dest, _ := module(t)
	src := filepath.Join(t.TempDir(), "f")
	write(t, src, "new secret", 0o600)
	final := filepath.Join(dest, "f")
	write(t, final, "old public content", 0o644)
	before, err := os.Stat(final)
	require.NoError(t, err)
	require.NoError(t, os.Link(final, filepath.Join(dest, "f.hardlink")))
	reader, err := os.Open(final)
	require.NoError(t, err)
	defer reader.Close()

	require.NoError(t, scp.CopyFile(context.Background(), m.Host(), src, final))

	b, err := os.ReadFile(final)
	require.NoError(t, err)
	assert.Equal(t, "new secret", string(b))
	after, err := os.Stat(final)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), after.Mode().Perm())
	assert.False(t, os.SameFile(before, after), "the old file is replaced by a rename, not rewritten in place")

	old, err := io.ReadAll(reader)
	require.NoError(t, err)
	assert.Equal(t, "old public content", string(old), "a reader that had the file open reads the old content whole")
	b, err = os.ReadFile(filepath.Join(dest, "f.hardlink"))
	require.NoError(t, err)
	assert.Equal(t, "old public content", string(b), "a hard link to the old file keeps the old content")
	st, err := os.Stat(filepath.Join(dest, "f.hardlink"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o644), st.Mode().Perm(), "and its mode")
	entries, err := os.ReadDir(dest)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"f", "f.hardlink"}, names, "no temporary file left")

	err = scp.CopyFile(context.Background(), m.Host(), filepath.Join(t.TempDir(), "nope"), dest+"/g")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestCopyConfigFileFollowsSymlinkedDirectories(t *testing.T) {
	m, dest, _ := module(t)
	shared := t.TempDir()
	write(t, filepath.Join(shared, "ssl.conf"), "ssl on;\n", 0o600)
	write(t, filepath.Join(m.ConfigDir(), "nginx", "site.conf"), "server {}\n", 0o644)
	require.NoError(t, os.Symlink(shared, filepath.Join(m.ConfigDir(), "nginx", "snippets")))
	require.NoError(t, scp.CopyConfigFile(context.Background(), m, "nginx"))
	b, err := os.ReadFile(filepath.Join(dest, "nginx", "snippets", "ssl.conf"))
	require.NoError(t, err)
	assert.Equal(t, "ssl on;\n", string(b))
	st, err := os.Lstat(filepath.Join(dest, "nginx", "snippets"))
	require.NoError(t, err)
	assert.True(t, st.IsDir(), "the target is copied, not the link")

	require.NoError(t, os.Symlink(filepath.Join(m.ConfigDir(), "nginx"), filepath.Join(shared, "loop")))
	err = scp.CopyConfigFile(context.Background(), m, "nginx")
	assert.ErrorContains(t, err, "a symlink loop")
}
