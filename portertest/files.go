package portertest

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFiles writes files (path -> content, mode 0644, parent directories
// made) under dir and returns dir, for tests that build a project or a
// source tree. Paths are slash-separated and relative to dir; with dir ""
// they are used as they are. It calls tb.Fatal on error.
func WriteFiles(tb testing.TB, dir string, files map[string]string) string {
	tb.Helper()
	for name, content := range files {
		p := filepath.FromSlash(name)
		if dir != "" {
			p = filepath.Join(dir, p)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
