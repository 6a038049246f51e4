package porter

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/portertest"
)

// newProject writes a project and loads it.
func newProject(t testing.TB, files map[string]string) *Project {
	t.Helper()
	p, err := LoadProject(portertest.WriteFiles(t, t.TempDir(), files))
	require.NoError(t, err)
	return p
}

// connected binds a module to a real connection, to a portertest server of
// the test's own: Signal runs handlers only on a connected module.
func connected(t testing.TB) ModuleOption {
	t.Helper()
	return WithConnection(portertest.NewServer(t).Dial(t))
}
