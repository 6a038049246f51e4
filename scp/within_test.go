package scp_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/scp"
)

// TestCopyConfigFileNeverWritesThroughAShippedSymlink: the module's tree on
// the host holds a directory that is a symlink to a directory outside it
// (as a source tree may ship one): a config copy into it is refused and
// writes nothing there; one into a link to elsewhere in the module works.
func TestCopyConfigFileNeverWritesThroughAShippedSymlink(t *testing.T) {
	m, dest, _ := module(t)
	outside := t.TempDir()
	write(t, filepath.Join(m.ConfigDir(), "settings.ini"), "secret=1\n", 0o600)
	write(t, filepath.Join(m.ConfigDir(), "conf", "a.ini"), "a\n", 0o644)
	require.NoError(t, os.MkdirAll(filepath.Join(dest, "inside"), 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(dest, "etc")))
	require.NoError(t, os.Symlink("inside", filepath.Join(dest, "here")))

	err := scp.CopyConfigFile(context.Background(), m, "settings.ini", "etc")
	require.ErrorIs(t, err, scp.ErrOutsideModule)
	assert.Contains(t, err.Error(), filepath.Join(dest, "etc"))
	err = scp.CopyConfigFile(context.Background(), m, "conf", "etc/sub")
	require.ErrorIs(t, err, scp.ErrOutsideModule)
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written outside the module")

	require.NoError(t, scp.CopyConfigFile(context.Background(), m, "settings.ini", "here"))
	b, err := os.ReadFile(filepath.Join(dest, "inside", "settings.ini"))
	require.NoError(t, err)
	assert.Equal(t, "secret=1\n", string(b))

	// A file of the same name shipped as a link to a file outside: the
	// copy replaces the link.
	victim := filepath.Join(outside, "victim")
	write(t, victim, "victim\n", 0o600)
	require.NoError(t, os.Symlink(victim, filepath.Join(dest, "settings.ini")))
	require.NoError(t, scp.CopyConfigFile(context.Background(), m, "settings.ini"))
	b, err = os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "victim\n", string(b))
	st, err := os.Lstat(filepath.Join(dest, "settings.ini"))
	require.NoError(t, err)
	assert.True(t, st.Mode().IsRegular())
}

// TestReplaceModulePlaceholdersStaysInTheModule: a shipped file that is a
// symlink to a file outside the module, or that sits in a directory that
// is one, is not edited; a link inside the module is followed.
func TestReplaceModulePlaceholdersStaysInTheModule(t *testing.T) {
	m, dest, _ := module(t)
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim.ini")
	write(t, victim, "key=__KEY__\n", 0o600)
	require.NoError(t, os.MkdirAll(dest, 0o755))
	require.NoError(t, os.Symlink(victim, filepath.Join(dest, "settings.ini")))
	require.NoError(t, os.Symlink(outside, filepath.Join(dest, "etc")))
	write(t, filepath.Join(dest, "real.ini"), "key=__KEY__\n", 0o640)
	require.NoError(t, os.Symlink("real.ini", filepath.Join(dest, "link.ini")))
	values := map[string]string{"KEY": "value"}

	for _, name := range []string{"settings.ini", "etc/victim.ini", filepath.Join(dest, "etc", "victim.ini")} {
		err := scp.ReplaceModulePlaceholders(context.Background(), m, name, values)
		require.ErrorIs(t, err, scp.ErrOutsideModule, name)
	}
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "key=__KEY__\n", string(b))

	require.NoError(t, scp.ReplaceModulePlaceholders(context.Background(), m, "link.ini", values))
	b, err = os.ReadFile(filepath.Join(dest, "real.ini"))
	require.NoError(t, err)
	assert.Equal(t, "key=value\n", string(b))
	st, err := os.Lstat(filepath.Join(dest, "link.ini"))
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeSymlink, "the link stays a link")

	// A path outside the module is the caller's choice.
	require.NoError(t, scp.ReplaceModulePlaceholders(context.Background(), m, victim, values))
	b, err = os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "key=value\n", string(b))
}

// TestCopyConfigFileToARelativeModulePath: a module path relative to the
// login directory (as the demo's) is checked from there.
func TestCopyConfigFileToARelativeModulePath(t *testing.T) {
	home := t.TempDir()
	srv := portertest.NewServer(t, portertest.WithHome(home))
	local := t.TempDir()
	write(t, filepath.Join(local, "project.ini"), "[project]\ndepends = app\n[hosts]\ntest = x@y\n", 0o644)
	write(t, filepath.Join(local, "app", "app.ini"), "[module]\npath = deploy/app\n", 0o644)
	write(t, filepath.Join(local, "app", "config", "production", "settings.ini"), "x=1\n", 0o600)
	p, err := porter.LoadProject(local)
	require.NoError(t, err)
	m, err := porter.LoadModule(p, "app", porter.OnHost("test"), porter.WithConfig("production"), porter.WithConnection(srv.Dial(t)))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(home, "deploy", "app"), 0o755))
	require.NoError(t, scp.CopyConfigFile(context.Background(), m, "settings.ini"))
	b, err := os.ReadFile(filepath.Join(home, "deploy", "app", "settings.ini"))
	require.NoError(t, err)
	assert.Equal(t, "x=1\n", string(b))

	outside := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(home, "deploy", "app", "etc")))
	err = scp.CopyConfigFile(context.Background(), m, "settings.ini", "etc")
	require.ErrorIs(t, err, scp.ErrOutsideModule)
}
