package porter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeTree writes files (slash paths relative to dir) and returns dir.
func writeTree(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// newProject writes a project and loads it.
func newProject(t testing.TB, files map[string]string) *Project {
	t.Helper()
	p, err := LoadProject(writeTree(t, t.TempDir(), files))
	require.NoError(t, err)
	return p
}
