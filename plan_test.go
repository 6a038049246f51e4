package porter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

func init() {
	// The hook of plan-web: one handler that describes itself, one that
	// does not.
	porter.RegisterDeployment("plan-web", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigDeployFinish, func(context.Context, *porter.Module, any) error { return nil },
			porter.Describe(func(_ context.Context, m *porter.Module, _ any) ([]string, error) {
				return []string{"run: touch " + m.Path() + "/restart.txt"}, nil
			}))
		m.PushSignalHandler(porter.SigDeployFinish, func(context.Context, *porter.Module, any) error { return nil })
		return nil
	})
}

// planFixture is a project of two modules, deployed once to a fleet of
// two hosts, then changed: plan-web (releases) gets a new version and a
// changed config file that holds a password, plan-static (in place) a
// changed setting, and plan-static is locked on web2.
type planFixture struct {
	fleet *portertest.Fleet
	local string
	hosts []string
}

func newPlanFixture(t *testing.T) *planFixture {
	t.Helper()
	f := &planFixture{fleet: portertest.NewFleet(t, 2), local: t.TempDir(), hosts: []string{"web1", "deploy@web2"}}
	portertest.WriteFiles(t, f.local, map[string]string{
		"project.ini": "[project]\ndepends = plan-web, plan-static\n[hosts]\nweb1 = deploy@web1\nprod = web1, deploy@web2\n",
		"plan-web/plan-web.ini": "[module]\npath = web\nstrategy = releases\nkeep_releases = 2\nconfig = app.conf\n" +
			"[scm]\nurl = dir://src\n",
		"plan-web/src/app.py":              "print('v1')\n",
		"plan-web/src/old.txt":             "old\n",
		"plan-web/config/testing/app.conf": "debug = false\npassword = hunter2\nworkers = 2\n",
		"plan-static/plan-static.ini":      "[module]\npath = static\ndelete = true\nexclude = *.tmp\n[scm]\nurl = dir://src\n[plugin:fleet-flags]\n",
		"plan-static/src/index.html":       "<h1>hi</h1>\n",
	})
	require.NoError(t, os.Chmod(filepath.Join(f.local, "plan-web/config/testing/app.conf"), 0o600))
	_, err := porter.Deploy(context.Background(), f.project(t), porter.Options{Target: f.target(), Config: "testing"})
	require.NoError(t, err)

	portertest.WriteFiles(t, f.local, map[string]string{
		"plan-web/src/app.py":              "print('v2')\n",
		"plan-web/src/new.txt":             "new file\n",
		"plan-web/config/testing/app.conf": "debug = false\npassword = correct-horse\nworkers = 4\n",
		"plan-static/plan-static.ini":      "[module]\npath = static\ndelete = true\nexclude = *.tmp, *.bak\n[scm]\nurl = dir://src\n[plugin:fleet-flags]\n",
	})
	require.NoError(t, os.Remove(filepath.Join(f.local, "plan-web/src/old.txt")))
	return f
}

func (f *planFixture) project(t *testing.T) *porter.Project {
	t.Helper()
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	return p
}

func (f *planFixture) target() porter.Target {
	return porter.Target{Host: "prod", Addresses: f.fleet.Addresses(f.hosts...), Dial: f.fleet.DialOptions()}
}

func (f *planFixture) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
		Addresses: f.fleet.Addresses(f.hosts...), Dial: f.fleet.DialOptions()}
	code := cli.Run(context.Background())
	return out.String(), errb.String(), code
}

// exactState describes every entry under root, byte for byte (see
// portertest.Snapshot).
func exactState(t *testing.T, root string) map[string]string {
	return portertest.Snapshot(t, root)
}

// normalizePlan takes out of a plan's text what changes from run to run:
// addresses (the test's user and port), pids, release ids and how a change
// was seen.
func normalizePlan(s string) string {
	s = regexp.MustCompile(`[\w.-]+@127\.0\.0\.1:\d+`).ReplaceAllString(s, "USER@127.0.0.1:PORT")
	s = regexp.MustCompile(`\(pid \d+\)`).ReplaceAllString(s, "(pid PID)")
	// Whether a file of the same size changed is seen by its mtime or, within
	// the second of the last deploy, by its content.
	s = regexp.MustCompile(`\((mtime|checksum), `).ReplaceAllString(s, "(mtime or checksum, ")
	return regexp.MustCompile(`\d{8}T\d{6}Z-[0-9a-f]{12}(-\d+)?`).ReplaceAllString(s, "RELEASE")
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
		require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run go test -run %s -update to write it", t.Name())
	assert.Equal(t, string(want), got)
}

// A plan of a fleet says what would change, and changes nothing: every
// host's tree (files, records, locks, releases) is byte for byte the same.
func TestPlanOfAFleetIsExactAndChangesNothing(t *testing.T) {
	f := newPlanFixture(t)
	conn := f.fleet.Servers[1].Dial(t)
	lock, err := ledger.Place{Host: conn, Module: "plan-static", Path: "static"}.Lock(context.Background(), ledger.Holder{By: "carol@ci", Host: "deploy@web2"})
	require.NoError(t, err)
	defer lock.Release(context.Background())

	before := []map[string]string{exactState(t, f.fleet.Servers[0].Home()), exactState(t, f.fleet.Servers[1].Home())}
	out, stderr, code := f.cli(t, "deploy", "--host", "prod", "--config", "testing", "--plan", "--diff")
	require.Equal(t, porter.ExitOK, code, stderr)
	for i := range 2 {
		assert.Equal(t, before[i], exactState(t, f.fleet.Servers[i].Home()), "host %d unchanged by the plan", i)
	}
	assert.NotContains(t, out, "correct-horse", "the new password is masked")
	assert.NotContains(t, out, "hunter2", "the old password is masked")
	checkGolden(t, "plan-fleet.txt", normalizePlan(out))

	out, stderr, code = f.cli(t, "deploy", "--host", "web1", "--config", "testing", "--plan", "--diff", "--show-secrets")
	require.Equal(t, porter.ExitOK, code, stderr)
	assert.Contains(t, out, "-password = hunter2\n")
	assert.Contains(t, out, "+password = correct-horse\n")
	assert.Equal(t, before[0], exactState(t, f.fleet.Servers[0].Home()))
}

// The plan as a value: the reasons name what changed.
func TestPlanReasonsNameWhatChanged(t *testing.T) {
	f := newPlanFixture(t)
	rep, err := porter.Plan(context.Background(), f.project(t), porter.PlanOptions{Options: porter.Options{Target: f.target(), Config: "testing"}})
	require.NoError(t, err)
	require.Len(t, rep.Hosts, 2)
	web, static := rep.Hosts[0].Modules[0], rep.Hosts[0].Modules[1]
	assert.True(t, web.Deploy)
	require.Len(t, web.Reasons, 2)
	assert.Regexp(t, `^new version sha256:[0-9a-f]{12} over sha256:[0-9a-f]{12}$`, web.Reasons[0])
	assert.Equal(t, "config file app.conf changed", web.Reasons[1])
	assert.Equal(t, []string{"setting [module] exclude changed"}, static.Reasons)
	require.Len(t, web.Configs, 1)
	assert.Equal(t, porter.ConfigPlan{Name: "app.conf", Local: "plan-web/config/testing/app.conf",
		Remote: "web/releases/NEW/app.conf", Mode: "0600", Change: "changed"}, web.Configs[0])
	assert.Equal(t, 2, web.Sync.Sent, "app.py and new.txt")
	assert.Equal(t, 1, web.Sync.Deleted, "old.txt")

	// Forced and up to date: a module deployed with nothing changed.
	_, err = porter.Deploy(context.Background(), f.project(t), porter.Options{Target: f.target(), Config: "testing"})
	require.NoError(t, err)
	rep, err = porter.Plan(context.Background(), f.project(t), porter.PlanOptions{Options: porter.Options{Target: f.target(), Config: "testing", Force: porter.ForceModules("plan-static")}})
	require.NoError(t, err)
	web, static = rep.Hosts[1].Modules[0], rep.Hosts[1].Modules[1]
	assert.False(t, web.Deploy)
	require.Len(t, web.Reasons, 1)
	assert.True(t, strings.HasPrefix(web.Reasons[0], "up to date: version sha256:"), web.Reasons[0])
	assert.True(t, static.Deploy)
	assert.Equal(t, []string{"forced"}, static.Reasons)
	assert.Empty(t, static.Files, "forced, but nothing to send")

	// A plugin's flag is part of what is deployed.
	rep, err = porter.Plan(context.Background(), f.project(t), porter.PlanOptions{Options: porter.Options{Target: f.target(), Config: "testing", Flags: map[string]string{"gate": "g1"}}})
	require.NoError(t, err)
	assert.Equal(t, []string{"plugin flag --gate changed"}, rep.Hosts[0].Modules[1].Reasons)
}

func TestMaskSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"password = hunter2":                      "password = ********",
		"  DB_PASSWORD=hunter2  ":                 "  DB_PASSWORD=********  ",
		"export API_TOKEN='abc def'":              "export API_TOKEN=********",
		`"secret_key": "xyz",`:                    `"secret_key": ********`,
		"aws_access_key_id: AKIA1234":             "aws_access_key_id: ********",
		"url = https://bob:s3cret@example.com/db": "url = https://bob:********@example.com/db",
		"workers = 4":                             "workers = 4",
		"keep_releases = 3":                       "keep_releases = 3",
		"password =":                              "password =",
	} {
		assert.Equal(t, want, porter.MaskSecrets(in), in)
	}
}

// deploy --plan --json writes one document that its schema accepts, with
// the plan's values.
func TestPlanJSONValidatesAndCarriesThePlan(t *testing.T) {
	f := newPlanFixture(t)
	out, stderr, code := f.cli(t, "deploy", "--host", "prod", "--config", "testing", "--plan", "--diff", "--json")
	require.Equal(t, porter.ExitOK, code, stderr)
	require.NoError(t, validate(compileSchema(t, "plan.v1.json"), []byte(out)), out)
	var doc struct {
		Schema string `json:"schema"`
		Hosts  []struct {
			Host    string `json:"host"`
			Modules []struct {
				Module  string   `json:"module"`
				Deploy  bool     `json:"deploy"`
				Reasons []string `json:"reasons"`
				Files   []struct {
					Op, Path, Reason string
					Size             int64
				} `json:"files"`
				Configs []struct {
					Change, Diff string
				} `json:"configs"`
				Signals []struct {
					Signal   string `json:"signal"`
					Handlers []struct {
						Owner     string   `json:"owner"`
						Described bool     `json:"described"`
						Lines     []string `json:"lines"`
					} `json:"handlers"`
				} `json:"signals"`
			} `json:"modules"`
		} `json:"hosts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, porter.PlanSchema, doc.Schema)
	require.Len(t, doc.Hosts, 2)
	web := doc.Hosts[0].Modules[0]
	assert.Equal(t, "plan-web", web.Module)
	assert.True(t, web.Deploy)
	assert.Equal(t, "config file app.conf changed", web.Reasons[1])
	var files []string
	for _, c := range web.Files {
		if c.Op != "attrs" { // the release's own mtime: set or not, by the second the test wrote the source in
			files = append(files, fmt.Sprintf("%s %s %d", c.Op, c.Path, c.Size))
		}
	}
	// Deletions first, then by path, whatever order the engine found them in.
	assert.Equal(t, []string{"delete old.txt 0", "send app.py 12", "send new.txt 9"}, files)
	require.Len(t, web.Configs, 1)
	assert.Equal(t, "changed", web.Configs[0].Change)
	assert.Contains(t, web.Configs[0].Diff, "+password = ********\n")
	assert.NotContains(t, out, "correct-horse")
	last := web.Signals[len(web.Signals)-1]
	assert.Equal(t, "deploy-finish", last.Signal)
	assert.Equal(t, "module hook", last.Handlers[0].Owner)
	assert.Equal(t, []string{"run: touch web/releases/NEW/restart.txt"}, last.Handlers[0].Lines)
	assert.False(t, last.Handlers[1].Described)
}

// normalizeReport takes the times out of a deploy report's text.
func normalizeReport(s string) string {
	s = normalizePlan(s)
	s = regexp.MustCompile(`\d+\.\d+s\b`).ReplaceAllString(s, "T")
	s = regexp.MustCompile(`\(pid \d+ on [^)]+\) since \d\d:\d\d:\d\d, [^;]+ ago; its lease runs until \d\d:\d\d:\d\d`).
		ReplaceAllString(s, "(pid PID on MACHINE) since CLOCK, AGE ago; its lease runs until CLOCK")
	s = regexp.MustCompile(`sha256:[0-9a-f]{12}`).ReplaceAllString(s, "sha256:VERSION")
	// The table's columns are as wide as the times were.
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, "  ")
}

// The report of a fleet deploy, and of one where a lock stops a module,
// as a person reads it (golden: stable order, no times).
func TestDeployReportText(t *testing.T) {
	f := newPlanFixture(t)
	out, stderr, code := f.cli(t, "deploy", "--host", "prod", "--config", "testing", "-q")
	require.Equal(t, porter.ExitOK, code, stderr)
	conn := f.fleet.Servers[1].Dial(t)
	lock, err := ledger.Place{Host: conn, Module: "plan-static", Path: "static"}.Lock(context.Background(), ledger.Holder{By: "carol@ci", Host: "deploy@web2"})
	require.NoError(t, err)
	defer lock.Release(context.Background())
	out2, stderr, code := f.cli(t, "deploy", "--host", "prod", "--config", "testing", "--force=plan-static", "--keep-going", "-q")
	require.Equal(t, porter.ExitLocked, code, stderr)
	checkGolden(t, "report-fleet.txt", normalizeReport(out+"--- a lock held on web2, --force=plan-static --keep-going:\n"+out2))
}
