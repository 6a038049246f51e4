package porter_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/ledger"
)

// cliEvent is what the tests read of an event line.
type cliEvent struct {
	Type    string `json:"type"`
	Host    string `json:"host"`
	Module  string `json:"module"`
	Step    string `json:"step"`
	Version string `json:"version"`
	Outcome string `json:"outcome"`
	Error   string `json:"error"`
	Hosts   *int   `json:"hosts"`
	Totals  map[string]int
	Sync    *struct {
		Sent      int   `json:"sent"`
		BytesSent int64 `json:"bytes_sent"`
	}
}

// runCLI runs the fleet's CLI with args and returns stdout, stderr and
// the exit status.
func (f *fleetFixture) runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
		Addresses: f.fleet.Addresses(f.hosts...), Dial: f.fleet.DialOptions()}
	code := cli.Run(context.Background())
	return out.String(), errb.String(), code
}

// readEvents validates every line of out against the events schema and
// returns the events.
func readEvents(t *testing.T, sch *jsonschema.Schema, out string) []cliEvent {
	t.Helper()
	var all []cliEvent
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Bytes()
		require.NoError(t, validate(sch, line), "line %d: %s", len(all)+1, line)
		var e cliEvent
		require.NoError(t, json.Unmarshal(line, &e))
		all = append(all, e)
	}
	require.NotEmpty(t, all, "stdout holds events")
	return all
}

// sequence returns host's events as "type step outcome" lines, without
// the progress events (how many there are depends on timing).
func sequence(all []cliEvent, host string) []string {
	var out []string
	for _, e := range all {
		if e.Host != host || e.Type == "progress" {
			continue
		}
		out = append(out, strings.Join(strings.Fields(e.Type+" "+e.Step+" "+e.Outcome), " "))
	}
	return out
}

func TestDeployJSONFleetEventsValidate(t *testing.T) {
	f := newFleetFixture(t, 3)
	sch := compileSchema(t, "events.v1.json")
	out, errb, code := f.runCLI(t, "deploy", "--host", "production", "--config", "testing", "--json", "--run", t.Name())
	require.Equal(t, porter.ExitOK, code, errb)
	assert.NotContains(t, out, "HOST", "no report on stdout")
	assert.NotContains(t, errb, `"schema"`, "no event on stderr")
	all := readEvents(t, sch, out)

	first, last := all[0], all[len(all)-1]
	assert.Equal(t, "deploy-start", first.Type)
	require.NotNil(t, first.Hosts)
	assert.Equal(t, 3, *first.Hosts)
	assert.Equal(t, "deploy-end", last.Type)
	assert.Equal(t, map[string]int{"deployed": 3, "unchanged": 0, "failed": 0, "not_started": 0}, last.Totals)
	assert.Empty(t, last.Error)
	for _, h := range fleetHosts {
		assert.Equal(t, deployedHostEvents, sequence(all, h), h)
	}
	for _, e := range all {
		switch {
		case e.Type == "step-end" && e.Step == "source-send", e.Type == "module-end":
			require.NotNil(t, e.Sync, "%s of %s", e.Type, e.Host)
			assert.Equal(t, 1, e.Sync.Sent, "app.py sent to %s", e.Host)
			assert.Equal(t, int64(len("v1\n")), e.Sync.BytesSent)
		}
		if e.Type == "module-end" {
			assert.Equal(t, "fleet-app", e.Module)
			assert.True(t, strings.HasPrefix(e.Version, "sha256:"), e.Version)
		}
	}

	// Up to date: the module ends unchanged, without a step.
	out, errb, code = f.runCLI(t, "deploy", "--host", "production", "--config", "testing", "--json", "--run", t.Name())
	require.Equal(t, porter.ExitOK, code, errb)
	all = readEvents(t, sch, out)
	assert.Equal(t, []string{"host-connected", "module-start", "module-end unchanged", "host-end unchanged"}, sequence(all, "web1"))
	assert.Equal(t, map[string]int{"deployed": 0, "unchanged": 3, "failed": 0, "not_started": 0}, all[len(all)-1].Totals)
}

// A failing host's events validate too and carry its error; the host
// that never started says why; the exit status is the deploy's.
func TestDeployJSONFailingHost(t *testing.T) {
	f := newFleetFixture(t, 3)
	sch := compileSchema(t, "events.v1.json")
	out, errb, code := f.runCLI(t, "deploy", "--host", "production", "--config", "testing", "--json",
		"--parallel", "1", "--fail-on", "deploy@web2", "--run", t.Name())
	require.Equal(t, porter.ExitError, code)
	assert.Regexp(t, `^porter.test: 1 of 3 hosts failed \(deploy@web2\), 1 not started: `, lastLine(errb))
	all := readEvents(t, sch, out)

	hookErr := "deploy fleet-app to deploy@web2: deploy-start: module hook: the hook fails on deploy@web2"
	assert.Equal(t, []string{
		"host-connected", "module-start", "step-start deploy",
		"step-start deploy-start", "step-end deploy-start", "step-end deploy",
		"step-start deploy-failed", "step-end deploy-failed", // the undo, after the procedure
		"module-end failed", "host-end failed",
	}, sequence(all, "deploy@web2"))
	assert.Equal(t, []string{"host-connected", "host-end not started"}, sequence(all, "deploy@web3"))
	assert.Equal(t, "host-end deployed", sequence(all, "web1")[len(sequence(all, "web1"))-1])
	errs := map[string]string{}
	for _, e := range all {
		if e.Error != "" {
			errs[e.Type+" "+e.Host+" "+e.Step] = e.Error
		}
	}
	assert.Equal(t, map[string]string{
		"step-end deploy@web2 deploy-start": hookErr,
		"step-end deploy@web2 deploy":       hookErr,
		"module-end deploy@web2 ":           hookErr,
		"host-end deploy@web2 ":             hookErr,
		"host-end deploy@web3 ":             "not started: 1 host(s) failed, and max failures is 1",
		"deploy-end  ":                      "1 of 3 hosts failed (deploy@web2), 1 not started: " + hookErr,
	}, errs)
	last := all[len(all)-1]
	assert.Equal(t, map[string]int{"deployed": 1, "unchanged": 0, "failed": 1, "not_started": 1}, last.Totals)
}

func TestStatusAndReleasesJSON(t *testing.T) {
	f := newFleetFixture(t, 2)
	_, err, _ := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(f.local, "fleet-app", "src", "app.py"), []byte("v2\n"), 0o644))
	rep, err, _ := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	version := rep.Hosts[0].Modules[0].Version
	conn := f.fleet.Servers[1].Dial(t)
	lock, err := ledger.Place{Host: conn, Module: "fleet-app", Path: "app"}.Lock(context.Background(), ledger.Holder{By: "carol@ci", Host: "deploy@web2"})
	require.NoError(t, err)
	defer lock.Release(context.Background())

	out, errb, code := f.runCLI(t, "status", "--host", "production", "--json")
	require.Equal(t, porter.ExitOK, code, errb)
	require.NoError(t, validate(compileSchema(t, "status.v1.json"), []byte(out)), out)
	var st struct {
		Schema string
		Hosts  []struct {
			Host, Address string
			Modules       []struct {
				Module, State, Version, Current string
				Deployed                        struct {
					Version, Config string
					ReleaseID       string `json:"release_id"`
				}
				Lock *struct {
					By  string
					PID int
				}
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	assert.Equal(t, "porter.status/v1", st.Schema)
	require.Len(t, st.Hosts, 2)
	for i, h := range st.Hosts {
		assert.Equal(t, fleetHosts[i], h.Host)
		require.Len(t, h.Modules, 1)
		m := h.Modules[0]
		assert.Equal(t, "fleet-app", m.Module)
		assert.Equal(t, version, m.Deployed.Version, h.Host)
		assert.Equal(t, "testing", m.Deployed.Config)
		assert.Equal(t, f.current(t, i), m.Current)
		assert.Equal(t, m.Current, m.Deployed.ReleaseID)
	}
	assert.Equal(t, "would deploy", st.Hosts[0].Modules[0].State, "the run flag differs: the settings hash does")
	assert.Nil(t, st.Hosts[0].Modules[0].Lock)
	assert.Equal(t, "locked", st.Hosts[1].Modules[0].State)
	require.NotNil(t, st.Hosts[1].Modules[0].Lock)
	assert.Equal(t, "carol@ci", st.Hosts[1].Modules[0].Lock.By)
	assert.Equal(t, os.Getpid(), st.Hosts[1].Modules[0].Lock.PID)

	out, errb, code = f.runCLI(t, "releases", "--host", "production", "--json")
	require.Equal(t, porter.ExitOK, code, errb)
	require.NoError(t, validate(compileSchema(t, "releases.v1.json"), []byte(out)), out)
	var rl struct {
		Schema  string
		Modules []struct {
			Host, Module, Strategy string
			Releases               []struct {
				ID, Version, State string
				Current            bool
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rl))
	assert.Equal(t, "porter.releases/v1", rl.Schema)
	require.Len(t, rl.Modules, 2)
	for i, m := range rl.Modules {
		assert.Equal(t, fleetHosts[i], m.Host)
		assert.Equal(t, "releases", m.Strategy)
		entries, err := os.ReadDir(filepath.Join(f.home(i), "app", "releases"))
		require.NoError(t, err)
		require.Len(t, m.Releases, 2)
		require.Len(t, entries, 2)
		for j, r := range m.Releases {
			assert.Equal(t, entries[j].Name(), r.ID, "oldest first, as the host's directories")
			assert.Equal(t, "good", r.State)
			assert.Equal(t, j == 1, r.Current)
		}
		assert.Equal(t, version, m.Releases[1].Version)
		assert.Equal(t, f.current(t, i), m.Releases[1].ID)
	}
}

// A host that cannot be reached: status --json still writes the
// document, the host with its error; releases --json leaves it out; both
// exit 1 with the error on stderr. deploy --json without --host keeps
// stdout for JSON: the host list goes to stderr.
func TestJSONWithAHostDown(t *testing.T) {
	f := newFleetFixture(t, 2)
	_, err, _ := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	f.fleet.Servers[1].Close()

	out, errb, code := f.runCLI(t, "status", "--host", "production", "--json")
	require.Equal(t, porter.ExitError, code)
	assert.Contains(t, errb, "deploy@web2")
	require.NoError(t, validate(compileSchema(t, "status.v1.json"), []byte(out)), out)
	var st struct {
		Hosts []struct {
			Host, Error string
			Modules     []json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Len(t, st.Hosts, 2)
	assert.Empty(t, st.Hosts[0].Error)
	assert.Len(t, st.Hosts[0].Modules, 1)
	assert.Equal(t, "deploy@web2", st.Hosts[1].Host)
	assert.Contains(t, st.Hosts[1].Error, "deploy@web2")
	assert.NotNil(t, st.Hosts[1].Modules, "modules is [] for a host that did not answer")
	assert.Empty(t, st.Hosts[1].Modules)

	out, errb, code = f.runCLI(t, "releases", "--host", "production", "--json")
	require.Equal(t, porter.ExitError, code)
	assert.Contains(t, errb, "deploy@web2")
	require.NoError(t, validate(compileSchema(t, "releases.v1.json"), []byte(out)), out)
	var rl struct{ Modules []struct{ Host string } }
	require.NoError(t, json.Unmarshal([]byte(out), &rl))
	require.Len(t, rl.Modules, 1)
	assert.Equal(t, "web1", rl.Modules[0].Host)

	out, errb, code = f.runCLI(t, "deploy", "--config", "testing", "--json")
	require.Equal(t, porter.ExitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errb, "no --host given; the hosts of")
	assert.Regexp(t, `(?m)^production\s+group of 2: web1, deploy@web2$`, errb)
}
