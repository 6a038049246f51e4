package uwsgi_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/plugintest"
	"github.com/porter-deploy/porter/plugins/uwsgi"
	"github.com/porter-deploy/porter/portertest"
)

// TestDescribesWhatItWouldDoAndChangesNothing: the launchers it would copy
// or keep, the domains file, the reloads with the pids the pid files hold
// now, and the undo; the host is read over SFTP only.
func TestDescribesWhatItWouldDoAndChangesNothing(t *testing.T) {
	f := newFixture(t)
	p := f.project(t, "launchers = api.ini, worker.ini\ncopy_domains = true\n", "")
	sigs := []porter.Signal{porter.SigSourcePostSend, porter.SigDeployFinish, porter.SigDeployFailed}
	api, worker := f.vassals+"/api.ini", f.vassals+"/worker.ini"
	domains := "source-post-send: copy app/config/testing/domains.txt to " + f.dest + "/domains.txt (0644)"
	undo := []string{
		"deploy-failed: put back " + worker + " as it was, or remove it where there was none, if this deploy copied it",
		"deploy-failed: put back " + api + " as it was, or remove it where there was none, if this deploy copied it",
	}
	portertest.WriteFiles(t, f.vassals, map[string]string{"api.ini": "old\n"})
	portertest.WriteFiles(t, f.pids, map[string]string{"api.pid": "4242\n", "worker.pid": "0\n"})
	before := plugintest.Snapshot(t, f.dest, f.vassals, f.pids, f.srv.Home())

	m := plugintest.Module(t, f.srv, p, "app", nil)
	assert.Equal(t, append([]string{
		"source-post-send: skip copy launcher api.ini: " + api + " is there, and --update-vassal-launcher is not given",
		"source-post-send: copy app/uwsgi/worker.ini to " + worker + " (0644)",
		domains,
		"deploy-finish: skip reload the uWSGI masters: --restart not given",
	}, undo...), plugintest.Describe(t, m, uwsgi.Name, sigs...))

	m = plugintest.Module(t, f.srv, p, "app", map[string]string{"restart": "true", "update-vassal-launcher": "true"})
	assert.Equal(t, append([]string{
		"source-post-send: copy app/uwsgi/api.ini to " + api + " (0644), keeping the one there to put it back if the deploy fails",
		"source-post-send: copy app/uwsgi/worker.ini to " + worker + " (0644)",
		domains,
		"deploy-finish: run: cat -- '" + f.pids + "/api.pid'",
		"deploy-finish: run: cat -- '" + f.pids + "/worker.pid'",
		"deploy-finish: run: kill -HUP 4242 (reload api.ini)",
		`deploy-finish: run: kill -HUP <the pid in ` + f.pids + `/worker.pid> (reload worker.ini; now holds "0", not a process id: remove it and restart the master: the deploy would fail)`,
	}, undo...), plugintest.Describe(t, m, uwsgi.Name, sigs...))

	m = plugintest.Module(t, f.srv, f.project(t, "launchers = api.ini\nemperor = false\n", ""), "app", nil)
	assert.Equal(t, []string{"source-post-send: skip the vassal launchers: emperor = false"},
		plugintest.Describe(t, m, uwsgi.Name, sigs[0], sigs[2]))

	assert.Empty(t, f.srv.Commands(), "describing runs nothing")
	assert.Equal(t, before, plugintest.Snapshot(t, f.dest, f.vassals, f.pids, f.srv.Home()))
}

// TestDescribeSaysAMissingPidFile: the reload line says the deploy would
// fail.
func TestDescribeSaysAMissingPidFile(t *testing.T) {
	f := newFixture(t)
	m := plugintest.Module(t, f.srv, f.project(t, "launchers = api.ini\nemperor = false\n", ""), "app", map[string]string{"restart": "true"})
	assert.Equal(t, []string{
		"deploy-finish: run: cat -- '" + f.pids + "/api.pid'",
		"deploy-finish: run: kill -HUP <the pid in " + filepath.Join(f.pids, "api.pid") + "> (reload api.ini; now cannot be read: file does not exist: the deploy would fail)",
	}, plugintest.Describe(t, m, uwsgi.Name, porter.SigDeployFinish))
}
