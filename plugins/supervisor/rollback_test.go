package supervisor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
)

// TestRollbackRestartsTheGroup: after a rollback switched current, the
// group runs again (a new process), on the old release.
func TestRollbackRestartsTheGroup(t *testing.T) {
	f := newFixture(t)
	// [module] is written once: strategy goes into the ini's own section.
	f.project(t, "", "") // writes the ini
	ini := filepath.Join(f.local, "app", "app.ini")
	b, err := os.ReadFile(ini)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(ini, []byte(strings.Replace(string(b), "[module]\n", "[module]\nstrategy = releases\n", 1)), 0o644))
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	require.NoError(t, f.deploy(p, nil))
	require.NoError(t, f.deploy(p, nil))
	require.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
	before := f.sv.pid(t, "app:web")

	n := len(f.srv.Commands())
	rolled, err := porter.Rollback(context.Background(), p, porter.RollbackOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}})
	require.NoError(t, err)
	require.Len(t, rolled, 1)
	cmds := f.srv.Commands()[n:]
	require.Len(t, cmds, 2, "%q", cmds)
	assert.Contains(t, cmds[0], "ln -s -- releases/", "current switched first")
	assert.Equal(t, f.ctl("restart", "'app:*'"), cmds[1], "then the group restarted")
	assert.Equal(t, "RUNNING", f.sv.state(t, "app:web"))
	assert.NotEqual(t, before, f.sv.pid(t, "app:web"), "a new process")
}
