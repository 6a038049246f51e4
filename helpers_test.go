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
