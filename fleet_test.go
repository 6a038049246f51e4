package porter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/testenv"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
)

// The fleet-app hook records, per run (the "run" flag), when each host
// starts and finishes, fails on the host the "fail-on" flag names, and
// waits at the gate the "gate" flag names.
var (
	fleetRuns  sync.Map // run -> *fleetLog
	fleetGates sync.Map // gate -> *gate (see state_test.go)
)

type fleetLog struct {
	mu     sync.Mutex
	events []string
}

func (l *fleetLog) add(e string) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() }
func (l *fleetLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

func init() {
	porter.RegisterDeployment("fleet-app", func(m *porter.Module) error {
		log := func(e string) {
			if v, ok := fleetRuns.Load(m.Flag("run")); ok {
				v.(*fleetLog).add(e + " " + m.HostName())
			}
		}
		m.PushSignalHandler(porter.SigDeployStart, func(ctx context.Context, m *porter.Module, _ any) error {
			log("start")
			if v, ok := fleetGates.Load(m.Flag("gate")); ok && m.HostName() == "web1" {
				g := v.(*gate)
				close(g.reached)
				<-g.release
			}
			if m.Flag("fail-on") == m.HostName() {
				return errors.New("the hook fails on " + m.HostName())
			}
			return nil
		})
		m.PushSignalHandler(porter.SigDeployFinish, func(ctx context.Context, m *porter.Module, _ any) error {
			log("finish")
			return nil
		})
		return nil
	})
	porter.RegisterPlugin("fleet-flags", func() porter.Plugin { return fleetFlags{} })
}

type fleetFlags struct{}

func (fleetFlags) RegisterSignalHandlers(*porter.Module) error { return nil }
func (fleetFlags) Flags() []porter.Flag {
	return []porter.Flag{{Name: "run"}, {Name: "fail-on"}, {Name: "gate"}}
}

// fleetHosts are the hosts of the fleet project, in [hosts] order of the
// production group: web1 has a line of its own, the others are addresses
// the group lists.
var fleetHosts = []string{"web1", "deploy@web2", "deploy@web3"}

type fleetFixture struct {
	fleet *portertest.Fleet
	local string
	hosts []string
}

// newFleetFixture starts n servers (a portertest.Fleet) and writes a
// project whose group production lists them; fleet-app is deployed to
// <login dir>/app of each, with releases.
func newFleetFixture(t *testing.T, n int) *fleetFixture {
	t.Helper()
	hosts := []string{"web1"}
	for i := 2; i <= n; i++ {
		hosts = append(hosts, fmt.Sprintf("deploy@web%d", i))
	}
	f := &fleetFixture{fleet: portertest.NewFleet(t, n), local: t.TempDir(), hosts: hosts}
	portertest.WriteFiles(t, f.local, map[string]string{
		"project.ini": "[project]\ndepends = fleet-app\n[hosts]\nweb1 = deploy@web1\nproduction = " + strings.Join(hosts, ", ") + "\n",
		"fleet-app/fleet-app.ini": "[module]\npath = app\nstrategy = releases\nkeep_releases = 3\n" +
			"[scm]\nurl = dir://src\n[plugin:fleet-flags]\n",
		"fleet-app/src/app.py": "v1\n",
	})
	return f
}

func (f *fleetFixture) project(t *testing.T) *porter.Project {
	t.Helper()
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	return p
}

func (f *fleetFixture) target(host string) porter.Target {
	return porter.Target{Host: host, Addresses: f.fleet.Addresses(f.hosts...), Dial: f.fleet.DialOptions()}
}

// deploy deploys to production with opts, logging each host's start and
// finish; it returns the report, the error and the log.
//
//lint:ignore ST1008 the log comes last: most callers drop it
func (f *fleetFixture) deploy(t *testing.T, opts porter.Options) (*porter.Report, error, []string) {
	t.Helper()
	if opts.Host == "" {
		opts.Target = f.target("production")
	}
	opts.Config = "testing"
	if opts.Flags == nil {
		opts.Flags = map[string]string{}
	}
	// The run's log: the test's, or the one the caller names (two deploys
	// at once). Flags count in the settings: a deploy with the same ones
	// finds the hosts up to date.
	id := opts.Flags["run"]
	if id == "" {
		id = t.Name()
	}
	opts.Flags["run"] = id
	run := &fleetLog{}
	fleetRuns.Store(id, run)
	defer fleetRuns.Delete(id)
	rep, err := porter.Deploy(context.Background(), f.project(t), opts)
	return rep, err, run.all()
}

func (f *fleetFixture) home(i int) string { return f.fleet.Servers[i].Home() }

// current returns the release id current points to on host i ("" none).
func (f *fleetFixture) current(t *testing.T, i int) string {
	t.Helper()
	dst, err := os.Readlink(filepath.Join(f.home(i), "app", "current"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	require.NoError(t, err)
	return filepath.Base(dst)
}

func hostOutcomes(rep *porter.Report) map[string]porter.Outcome {
	out := map[string]porter.Outcome{}
	for _, h := range rep.Hosts {
		out[h.Host] = h.Outcome()
	}
	return out
}

func TestFleetDeployEveryHostOneReleaseID(t *testing.T) {
	f := newFleetFixture(t, 3)
	rep, err, events := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Deployed, "deploy@web3": porter.Deployed}, hostOutcomes(rep))
	assert.Equal(t, fleetHosts, []string{rep.Hosts[0].Host, rep.Hosts[1].Host, rep.Hosts[2].Host}, "the report keeps the group's order")
	id := f.current(t, 0)
	require.NotEmpty(t, id)
	for i := range 3 {
		assert.Equal(t, id, f.current(t, i), "one release id on every host")
		b, err := os.ReadFile(filepath.Join(f.home(i), "app", "current", "app.py"))
		require.NoError(t, err)
		assert.Equal(t, "v1\n", string(b))
		assert.Equal(t, 1, f.fleet.Servers[i].Connections(), "one connection per host")
		assert.NoFileExists(t, filepath.Join(f.home(i), "app", ".porter", "fleet-app", "lock.json"))
	}
	assert.Len(t, events, 6)
	assert.Equal(t, map[porter.Outcome]int{porter.Deployed: 3}, rep.Totals())
	assert.Empty(t, rep.Rerun())

	// Nothing changed: every host is unchanged, and says so.
	rep, err, _ = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[porter.Outcome]int{porter.Unchanged: 3}, rep.Totals())

	// Two deploys later, a rollback of the group takes every host to the
	// same previous id.
	require.NoError(t, os.WriteFile(filepath.Join(f.local, "fleet-app", "src", "app.py"), []byte("v2\n"), 0o644))
	_, err, _ = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	id2 := f.current(t, 0)
	require.NotEqual(t, id, id2)
	rbs, err := porter.Rollback(context.Background(), f.project(t), porter.RollbackOptions{Target: f.target("production")})
	require.NoError(t, err)
	require.Len(t, rbs, 3)
	for i, rb := range rbs {
		assert.Equal(t, porter.RolledBack{Host: fleetHosts[i], Module: "fleet-app", From: id2, To: id}, rb)
		assert.Equal(t, id, f.current(t, i))
	}

	// Status and Releases cover the group, host by host.
	st, err := porter.Status(context.Background(), f.project(t), porter.StatusOptions{Target: f.target("production")})
	require.NoError(t, err)
	require.Len(t, st.Hosts, 3)
	for i, h := range st.Hosts {
		assert.Equal(t, fleetHosts[i], h.Host)
		assert.Equal(t, id, h.Modules[0].Current)
	}
	rels, err := porter.Releases(context.Background(), f.project(t), porter.ReleasesOptions{Target: f.target("web1,deploy@web3")})
	require.NoError(t, err)
	require.Len(t, rels, 2)
	assert.Equal(t, []string{"web1", "deploy@web3"}, []string{rels[0].Host, rels[1].Host})
	assert.Len(t, rels[1].Releases, 2)
}

// A rollback of a group whose hosts would go back to different releases
// changes no host.
func TestFleetRollbackRefusesMixedReleases(t *testing.T) {
	f := newFleetFixture(t, 2)
	src := filepath.Join(f.local, "fleet-app", "src", "app.py")
	_, err, _ := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	// web1 alone has one release: the group cannot go back as one.
	_, err = porter.Rollback(context.Background(), f.project(t), porter.RollbackOptions{Target: f.target("production")})
	require.ErrorIs(t, err, porter.ErrNothingToRollBackTo)
	assert.Contains(t, err.Error(), "rollback: nothing rolled back: rollback fleet-app on web1: nothing to roll back to")

	v1 := f.current(t, 0)
	require.NoError(t, os.WriteFile(src, []byte("v2\n"), 0o644))
	_, err, _ = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	v2 := f.current(t, 0)
	require.NoError(t, os.WriteFile(src, []byte("v3\n"), 0o644))
	_, err, _ = f.deploy(t, porter.Options{Target: f.target("web1")})
	require.NoError(t, err)
	before := []string{f.current(t, 0), f.current(t, 1)}
	_, err = porter.Rollback(context.Background(), f.project(t), porter.RollbackOptions{Target: f.target("production")})
	require.ErrorIs(t, err, porter.ErrReleasesDiffer)
	assert.EqualError(t, err, "rollback fleet-app: the hosts would go back to different releases (web1: "+v2+", deploy@web2: "+v1+
		"): releases differ between hosts; nothing rolled back: roll back host by host, or name the release with --to")
	assert.Equal(t, before, []string{f.current(t, 0), f.current(t, 1)})
}

func TestFleetUnreachableHost(t *testing.T) {
	for _, keepGoing := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep-going=%v", keepGoing), func(t *testing.T) {
			f := newFleetFixture(t, 3)
			tg := f.target("production")
			tg.Addresses["deploy@web2"] = "deploy@127.0.0.1:1" // nothing listens
			rep, err, events := f.deploy(t, porter.Options{Target: tg, KeepGoing: keepGoing})
			var fe *porter.FleetError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, []string{"deploy@web2"}, fe.Failed)
			assert.Contains(t, err.Error(), "deploy to deploy@web2: ")
			h := rep.Host("deploy@web2")
			require.NotNil(t, h)
			assert.Equal(t, porter.Failed, h.Outcome())
			if !keepGoing {
				assert.Equal(t, []string{"web1", "deploy@web3"}, fe.NotStarted)
				assert.Empty(t, events, "no host started")
				assert.Equal(t, "", f.current(t, 0))
				assert.Equal(t, "", f.current(t, 2))
				assert.Equal(t, fleetHosts, rep.Rerun())
				return
			}
			assert.Empty(t, fe.NotStarted)
			assert.Equal(t, map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Failed, "deploy@web3": porter.Deployed}, hostOutcomes(rep))
			assert.NotEmpty(t, f.current(t, 0))
			assert.Equal(t, []string{"deploy@web2"}, rep.Rerun())
		})
	}
}

func TestFleetHostRefusesAuth(t *testing.T) {
	f := newFleetFixture(t, 2)
	tg := f.target("production")
	tg.Addresses["deploy@web2"] = "nobody@" + f.fleet.Servers[1].Addr() // a user the server refuses
	rep, err, _ := f.deploy(t, porter.Options{Target: tg, KeepGoing: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 of 2 hosts failed (deploy@web2): deploy to deploy@web2: ")
	assert.Contains(t, err.Error(), "unable to authenticate")
	assert.Zero(t, f.fleet.Servers[1].Connections())
	assert.Equal(t, map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Failed}, hostOutcomes(rep))
}

// One host's handler fails: the hosts in flight finish; no new host starts
// once MaxFailures hosts failed, unless KeepGoing.
func TestFleetHandlerFailsOnOneHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts porter.Options
		want map[string]porter.Outcome
	}{
		{"all at once: the others finish", porter.Options{},
			map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Failed, "deploy@web3": porter.Deployed}},
		{"one at a time: the next does not start", porter.Options{Target: porter.Target{Parallel: 1}},
			map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Failed, "deploy@web3": porter.NotStarted}},
		{"max failures 2", porter.Options{Target: porter.Target{Parallel: 1}, MaxFailures: 2},
			map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Failed, "deploy@web3": porter.Deployed}},
		{"batches of 1", porter.Options{Batch: 1},
			map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Failed, "deploy@web3": porter.NotStarted}},
		{"batches of 1, keep going", porter.Options{Batch: 1, KeepGoing: true},
			map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Failed, "deploy@web3": porter.Deployed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleetFixture(t, 3)
			opts := tc.opts
			tg := f.target("production")
			tg.Parallel = opts.Parallel
			opts.Target = tg
			opts.Flags = map[string]string{"fail-on": "deploy@web2"}
			rep, err, _ := f.deploy(t, opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "the hook fails on deploy@web2")
			assert.Equal(t, tc.want, hostOutcomes(rep))
			assert.Equal(t, "", f.current(t, 1), "the failed host has no current release")
			var rerun []string
			for _, h := range fleetHosts {
				if tc.want[h] != porter.Deployed {
					rerun = append(rerun, h)
				}
			}
			assert.Equal(t, rerun, rep.Rerun())
			if tc.want["deploy@web3"] == porter.NotStarted {
				assert.Equal(t, []porter.Outcome{porter.NotStarted}, []porter.Outcome{rep.Hosts[2].Modules[0].Outcome})
				assert.EqualError(t, rep.Hosts[2].Err, "not started: 1 host(s) failed, and max failures is 1")
			}
		})
	}
}

// A rolling deploy starts a batch only once the one before has finished.
func TestFleetBatchOrder(t *testing.T) {
	f := newFleetFixture(t, 5)
	_, err, events := f.deploy(t, porter.Options{Batch: 2})
	require.NoError(t, err)
	require.Len(t, events, 10)
	at := func(e string) int { i := slices.Index(events, e); require.GreaterOrEqual(t, i, 0, e); return i }
	batches := [][]string{{"web1", "deploy@web2"}, {"deploy@web3", "deploy@web4"}, {"deploy@web5"}}
	for b := 1; b < len(batches); b++ {
		for _, prev := range batches[b-1] {
			for _, next := range batches[b] {
				assert.Less(t, at("finish "+prev), at("start "+next), "%s of batch %d finished before %s of batch %d started: %v", prev, b, next, b+1, events)
			}
		}
	}
}

// Two fleet deploys at once: the one that takes the first lock wins whole,
// the other changes nothing on any host.
func TestFleetConcurrentDeploysOneWinsWhole(t *testing.T) {
	f := newFleetFixture(t, 3)
	name, g := newFleetGate(t)
	type result struct {
		rep *porter.Report
		err error
	}
	first := make(chan result, 1)
	go func() {
		rep, err, _ := f.deploy(t, porter.Options{Who: "alice@laptop", Flags: map[string]string{"gate": name, "run": "alice"}})
		first <- result{rep, err}
	}()
	<-g.reached // alice holds every lock, and web1 waits in deploy-start

	rep, err, events := f.deploy(t, porter.Options{Who: "bob@desk"})
	var le *ledger.LockedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "alice@laptop", le.Lock.By)
	assert.Empty(t, events, "bob started no host")
	for _, h := range rep.Hosts {
		assert.NotEqual(t, porter.Deployed, h.Outcome())
	}
	close(g.release)
	res := <-first
	require.NoError(t, res.err)
	assert.Equal(t, map[porter.Outcome]int{porter.Deployed: 3}, res.rep.Totals())

	// Without a gate, many times: never both, never interleaved.
	require.NoError(t, os.WriteFile(filepath.Join(f.local, "fleet-app", "src", "app.py"), []byte("v2\n"), 0o644))
	for range 5 {
		var wg sync.WaitGroup
		var reps [2]*porter.Report
		var errs [2]error
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reps[i], errs[i] = porter.Deploy(context.Background(), f.project(t), porter.Options{
					Target: f.target("production"), Config: "testing", Force: porter.ForceAll(), Who: fmt.Sprint("deployer", i)})
			}()
		}
		wg.Wait()
		for i := range 2 {
			if errs[i] == nil {
				assert.Equal(t, 3, reps[i].Totals()[porter.Deployed], "the winner deployed every host")
				continue
			}
			assert.ErrorIs(t, errs[i], ledger.ErrLocked)
			assert.Zero(t, reps[i].Totals()[porter.Deployed], "the loser changed nothing")
		}
		assert.False(t, errs[0] != nil && errs[1] != nil, "one of them wins: %v / %v", errs[0], errs[1])
	}
}

func newFleetGate(t *testing.T) (string, *gate) {
	g := &gate{reached: make(chan struct{}), release: make(chan struct{})}
	fleetGates.Store(t.Name(), g)
	t.Cleanup(func() { fleetGates.Delete(t.Name()) })
	return t.Name(), g
}

// A lock another deploy holds on one host stops the deploy before any host
// changes and names the holder; with KeepGoing that host is skipped.
func TestFleetLockHeldOnOneHost(t *testing.T) {
	for _, keepGoing := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep-going=%v", keepGoing), func(t *testing.T) {
			f := newFleetFixture(t, 3)
			conn := f.fleet.Servers[2].Dial(t)
			lock, err := ledger.Place{Host: conn, Module: "fleet-app", Path: "app"}.Lock(context.Background(), ledger.Holder{By: "carol@ci", Host: "deploy@web3"})
			require.NoError(t, err)
			defer lock.Release(context.Background())

			rep, err, events := f.deploy(t, porter.Options{KeepGoing: keepGoing})
			var le *ledger.LockedError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, "carol@ci", le.Lock.By)
			assert.Contains(t, err.Error(), "deploy fleet-app to deploy@web3: fleet-app is locked by carol@ci")
			h := rep.Host("deploy@web3")
			assert.Equal(t, porter.Failed, h.Outcome())
			assert.Equal(t, porter.Failed, h.Modules[0].Outcome)
			if !keepGoing {
				assert.Empty(t, events)
				for i := range 3 {
					assert.Equal(t, "", f.current(t, i), "no host changed")
				}
				for i := range 2 {
					assert.NoFileExists(t, filepath.Join(f.home(i), "app", ".porter", "fleet-app", "lock.json"), "the locks taken were released")
				}
				assert.Equal(t, map[string]porter.Outcome{"web1": porter.NotStarted, "deploy@web2": porter.NotStarted, "deploy@web3": porter.Failed}, hostOutcomes(rep))
				return
			}
			assert.Equal(t, map[string]porter.Outcome{"web1": porter.Deployed, "deploy@web2": porter.Deployed, "deploy@web3": porter.Failed}, hostOutcomes(rep))
			assert.Equal(t, "", f.current(t, 2))
			info, err := ledger.Place{Host: conn, Module: "fleet-app", Path: "app"}.ReadLock(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "carol@ci", info.By, "carol's lock is still hers")
		})
	}
}

// The CLI prints the host x module table, the totals, and the command line
// that re-runs the hosts that failed or did not start.
func TestFleetCLIReportAndRerunLine(t *testing.T) {
	f := newFleetFixture(t, 3)
	run := &fleetLog{}
	fleetRuns.Store(t.Name(), run)
	defer fleetRuns.Delete(t.Name())
	var out, errb bytes.Buffer
	args := []string{"deploy", "--host", "production", "--config", "testing", "--parallel", "1", "--fail-on", "deploy@web2", "--run", t.Name()}
	cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
		Addresses: f.fleet.Addresses(f.hosts...), Dial: f.fleet.DialOptions()}
	require.Equal(t, porter.ExitError, cli.Run(context.Background()))
	assert.Regexp(t, `(?m)^HOST\s+MODULE\s+STATUS\s+VERSION`, out.String())
	assert.Regexp(t, `(?m)^web1\s+fleet-app\s+deployed\s`, out.String())
	assert.Regexp(t, `(?m)^deploy@web2\s+fleet-app\s+failed\s`, out.String())
	assert.Regexp(t, `(?m)^deploy@web3\s+fleet-app\s+not started\s`, out.String())
	assert.Contains(t, out.String(), "deploy@web2: failed: deploy fleet-app to deploy@web2: ")
	assert.Contains(t, out.String(), "deploy@web3: not started: not started: 1 host(s) failed, and max failures is 1\n")
	assert.Regexp(t, `(?m)^3 hosts: 1 deployed, 1 failed, 1 not started \(\d+\.\ds\)$`, out.String())
	want := "to re-run the hosts that failed or did not start: porter.test deploy --host=deploy@web2,deploy@web3 --config=testing --fail-on=deploy@web2 --parallel=1 --run=" + t.Name() + "\n"
	assert.Contains(t, out.String(), want)
	assert.Regexp(t, `^porter.test: 1 of 3 hosts failed \(deploy@web2\), 1 not started: deploy fleet-app to deploy@web2: deploy-start: module hook: the hook fails on deploy@web2\n$`, lastLine(errb.String()))

	// The printed line, run as printed, deploys only those.
	line := strings.TrimSpace(strings.TrimPrefix(out.String()[strings.Index(out.String(), want):], "to re-run the hosts that failed or did not start: porter.test "))
	out.Reset()
	errb.Reset()
	rerun := slices.DeleteFunc(strings.Fields(line), func(a string) bool { return strings.HasPrefix(a, "--fail-on=") })
	cli.Args = rerun
	require.Equal(t, porter.ExitOK, cli.Run(context.Background()), errb.String())
	assert.Regexp(t, `(?m)^deploy@web2\s+fleet-app\s+deployed\s`, out.String())
	assert.Regexp(t, `(?m)^deploy@web3\s+fleet-app\s+deployed\s`, out.String())
	assert.NotContains(t, out.String(), "web1 ")
	assert.Contains(t, out.String(), "2 hosts: 2 deployed")
}

// A module's source is checked out once per deploy, however many hosts it
// goes to: a git stand-in on PATH (the real git behind it) counts the
// fetches. Two hosts that want different sources of one working copy stop
// the deploy before anything connects.
func TestFleetChecksOutEachSourceOnce(t *testing.T) {
	realGit, err := exec.LookPath("git")
	require.NoError(t, err)
	bin, calls := t.TempDir(), filepath.Join(t.TempDir(), "calls")
	testenv.WriteExecutable(t, filepath.Join(bin, "git"), "#!/bin/sh\necho \"$*\" >> "+calls+"\nexec "+realGit+" \"$@\"\n")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	repo := t.TempDir()
	git := func(args ...string) {
		// The real git, not the stand-in: these calls are not the deploy's.
		cmd := exec.Command(realGit, append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	git("init", "-q")
	portertest.WriteFiles(t, repo, map[string]string{"app.py": "from git\n"})
	git("add", ".")
	git("commit", "-q", "-m", "one")
	git("branch", "other")

	f := newFleetFixture(t, 3)
	ini := "[module]\npath = app\n[scm]\nurl = git://" + repo + "\n[release:stable]\nbranch = main\n[plugin:fleet-flags]\n"
	portertest.WriteFiles(t, f.local, map[string]string{"fleet-app/fleet-app.ini": ini})
	_, err, _ = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	b, err := os.ReadFile(calls)
	require.NoError(t, err)
	var fetches int
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "fetch") {
			fetches++
		}
	}
	assert.Equal(t, 1, fetches, "one fetch for three hosts:\n%s", b)
	for i := range 3 {
		got, err := os.ReadFile(filepath.Join(f.home(i), "app", "app.py"))
		require.NoError(t, err)
		assert.Equal(t, "from git\n", string(got))
	}

	portertest.WriteFiles(t, f.local, map[string]string{"fleet-app/fleet-app.ini": strings.Replace(ini, "branch = main\n", "branch = main\nbranch-web1 = other\n", 1)})
	rep, err, _ := f.deploy(t, porter.Options{Force: porter.ForceAll()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hosts web1 and deploy@web2 want different sources of fleet-app (an [scm] or [release] override), and a module has one working copy: deploy them separately")
	assert.Equal(t, map[porter.Outcome]int{porter.NotStarted: 3}, rep.Totals())
	for i := range 3 {
		assert.Equal(t, 1, f.fleet.Servers[i].Connections(), "nothing connected for the refused deploy")
	}
}

// A module path relative to the login directory, with releases recycled
// and unchanged files copied on the host from the current release.
func TestFleetRelativePathRecycledReleases(t *testing.T) {
	f := newFleetFixture(t, 2)
	src := filepath.Join(f.local, "fleet-app", "src")
	for i := range 6 {
		portertest.WriteFiles(t, src, map[string]string{fmt.Sprintf("f%d.txt", i): "new\n", "app.py": fmt.Sprintf("v%d\n", i)})
		// Written hours ago, each version at its own time: a file written
		// in the second of a deploy is racy, and sent rather than copied.
		at := time.Now().Add(time.Duration(i-10) * time.Hour)
		for _, name := range []string{fmt.Sprintf("f%d.txt", i), "app.py"} {
			require.NoError(t, os.Chtimes(filepath.Join(src, name), at, at))
		}
		rep, err, _ := f.deploy(t, porter.Options{})
		require.NoError(t, err, "deploy %d", i)
		if i >= 3 { // keep_releases = 3: the oldest is recycled, the others' files copied from current
			for _, h := range rep.Hosts {
				assert.Positive(t, h.Modules[0].Sync.Copied, "deploy %d to %s", i, h.Host)
			}
		}
	}
	for i := range 2 {
		b, err := os.ReadFile(filepath.Join(f.home(i), "app", "current", "app.py"))
		require.NoError(t, err)
		assert.Equal(t, "v5\n", string(b))
	}
}

// status, releases, rollback and unlock take a group on the command line
// and add a HOST column (or prefix).
func TestFleetCLIReadCommandsCoverTheGroup(t *testing.T) {
	f := newFleetFixture(t, 2)
	_, err, _ := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
			Addresses: f.fleet.Addresses(f.hosts...), Dial: f.fleet.DialOptions()}
		code := cli.Run(context.Background())
		return out.String() + errb.String(), code
	}
	out, code := run("status", "--host", "production", "--config", "testing")
	require.Equal(t, porter.ExitOK, code, out)
	assert.Regexp(t, `(?m)^HOST\s+MODULE\s+STATE`, out)
	assert.Regexp(t, `(?m)^web1\s+fleet-app\s+would deploy`, out, "the run flag differs: the settings hash does")
	assert.Regexp(t, `(?m)^deploy@web2\s+fleet-app\s+`, out)

	out, code = run("releases", "--host", "production")
	require.Equal(t, porter.ExitOK, code, out)
	assert.Regexp(t, `(?m)^HOST\s+MODULE\s+RELEASE`, out)
	assert.Regexp(t, `(?m)^deploy@web2\s+fleet-app\s+\S+\s+.*current$`, out)

	out, code = run("unlock", "--host", "production", "fleet-app")
	require.Equal(t, porter.ExitOK, code, out)
	assert.Contains(t, out, "fleet-app on web1 was not locked\nfleet-app on deploy@web2 was not locked\n")

	out, code = run("hosts")
	require.Equal(t, porter.ExitOK, code, out)
	assert.Equal(t, "web1        deploy@web1\nproduction  group of 2: web1, deploy@web2\n", out)

	out, code = run("status", "--host", "web1")
	require.Equal(t, porter.ExitOK, code, out)
	assert.Regexp(t, `(?m)^MODULE\s+STATE`, out, "one host: no HOST column")
}

// A rollback of a group takes every lock first: one held on one host
// changes no host.
func TestFleetRollbackLockHeldChangesNoHost(t *testing.T) {
	f := newFleetFixture(t, 3)
	src := filepath.Join(f.local, "fleet-app", "src", "app.py")
	_, err, _ := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(src, []byte("v2\n"), 0o644))
	_, err, _ = f.deploy(t, porter.Options{})
	require.NoError(t, err)
	before := []string{f.current(t, 0), f.current(t, 1), f.current(t, 2)}

	conn := f.fleet.Servers[2].Dial(t)
	lock, err := ledger.Place{Host: conn, Module: "fleet-app", Path: "app"}.Lock(context.Background(), ledger.Holder{By: "carol@ci", Host: "deploy@web3"})
	require.NoError(t, err)
	_, err = porter.Rollback(context.Background(), f.project(t), porter.RollbackOptions{Target: f.target("production")})
	require.ErrorIs(t, err, ledger.ErrLocked)
	assert.Contains(t, err.Error(), "rollback: nothing rolled back: rollback fleet-app on deploy@web3: fleet-app is locked by carol@ci")
	assert.Equal(t, before, []string{f.current(t, 0), f.current(t, 1), f.current(t, 2)})
	for i := range 2 {
		assert.NoFileExists(t, filepath.Join(f.home(i), "app", ".porter", "fleet-app", "lock.json"))
	}
	require.NoError(t, lock.Release(context.Background()))

	rbs, err := porter.Rollback(context.Background(), f.project(t), porter.RollbackOptions{Target: f.target("production")})
	require.NoError(t, err)
	assert.Len(t, rbs, 3)
	for i := range 3 {
		assert.NotEqual(t, before[i], f.current(t, i))
		assert.NoFileExists(t, filepath.Join(f.home(i), "app", ".porter", "fleet-app", "lock.json"))
	}
}
