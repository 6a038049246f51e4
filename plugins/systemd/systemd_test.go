package systemd_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/command"
	"github.com/porter-deploy/porter/plugins/systemd"
	"github.com/porter-deploy/porter/portertest"
)

// These tests run against the fake systemd of fake_test.go (this machine
// has no running systemd: see there), and read both records: the commands
// the portertest server was given (srv.Commands) and the argv each fake
// program got.

const command = "github.com/porter-deploy/porter/plugins/command"

// show is the command the plugin polls with, for units.
func show(units string) string {
	return "systemctl show -p Id,LoadState,ActiveState,SubState,Result -- " + units
}

// journal is the command that reads a unit's last journal lines.
func journal(prefix, unit string) string {
	return prefix + "journalctl -u " + unit + " -n 20 --no-pager 2>&1 | head -c 8192"
}

// project writes a project whose module app, deployed to a new directory,
// has the systemd section, then more ini text.
func project(t *testing.T, section, more string) *porter.Project {
	t.Helper()
	p, err := porter.LoadProject(writeProject(t, section, more))
	require.NoError(t, err)
	return p
}

// writeProject writes the project of project and returns its directory.
func writeProject(t *testing.T, section, more string) string {
	t.Helper()
	local := t.TempDir()
	// more's [module] keys go in the one [module] section.
	moduleKeys := ""
	if rest, ok := strings.CutPrefix(more, "[module]\n"); ok {
		moduleKeys, more = rest, ""
	}
	portertest.WriteFiles(t, "", map[string]string{
		filepath.Join(local, "project.ini"): "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		filepath.Join(local, "app", "app.ini"): "[module]\npath = " + filepath.Join(t.TempDir(), "app") + "\n" + moduleKeys +
			"[plugin:" + systemd.Name + "]\n" + section + more,
	})
	return local
}

func target(srv *portertest.Server) porter.Target {
	return porter.Target{Host: "test", Address: srv.Address(), Dial: srv.DialOptions()}
}

// deploy deploys p to srv with a fake clock for the plugin's waits, which
// it returns: no test waits for the time between polls.
func deploy(srv *portertest.Server, p *porter.Project, flags map[string]string) (*porter.Report, *systemd.FakeClock, error) {
	ctx, clock := systemd.WithFakeClock(context.Background())
	rep, err := porter.Deploy(ctx, p, porter.Options{Target: target(srv), Config: "testing", Flags: flags, Force: porter.ForceAll()})
	return rep, clock, err
}

func TestRestartsEveryUnitThenWaitsUntilEachIsActive(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{
		"app.service":    {States: []string{"activating/start", "activating/start", "active/running"}},
		"worker.service": {},
	})
	srv := f.server(t)
	p := project(t, "units = app, worker.service\n", "")
	_, clock, err := deploy(srv, p, nil)
	require.NoError(t, err)
	units := "app.service worker.service"
	assert.Equal(t, []string{"systemctl restart -- " + units, show(units), show(units), show(units)}, srv.Commands(),
		"one restart for all the units, then a poll until app.service is active at the third")
	assert.Equal(t, []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}, clock.Sleeps(), "polls ever further apart")
	props := []string{"systemctl", "show", "-p", "Id,LoadState,ActiveState,SubState,Result", "--", "app.service", "worker.service"}
	assert.Equal(t, [][]string{{"systemctl", "restart", "--", "app.service", "worker.service"}, props, props, props}, f.calls(t))
}

func TestAUnitThatStaysFailedFailsWithItsStateAndJournal(t *testing.T) {
	t.Parallel()
	var journalText strings.Builder
	for i := 1; i <= 25; i++ {
		journalText.WriteString("worker[42]: line " + string(rune('a'+i-1)) + "\n")
	}
	f := newFake(t, map[string]unit{
		"app.service":    {},
		"worker.service": {States: []string{"failed/failed/exit-code"}, Journal: journalText.String()},
	})
	srv := f.server(t)
	p := project(t, "units = app, worker\n", "")
	_, _, err := deploy(srv, p, nil)
	require.Error(t, err)
	var ue *systemd.UnitError
	require.ErrorAs(t, err, &ue)
	assert.ErrorIs(t, err, systemd.ErrNotActive)

	var last20 []string
	for i := 6; i <= 25; i++ {
		last20 = append(last20, "    worker[42]: line "+string(rune('a'+i-1)))
	}
	unitLine := "worker.service is not active: failed (failed, result exit-code); its last journal lines:\n" + strings.Join(last20, "\n")
	assert.Equal(t, "deploy app to test: deploy-finish: plugin "+systemd.Name+": restart app.service worker.service: "+unitLine+
		"; and then: deploy app to test: deploy-failed: plugin "+systemd.Name+": after the failed deploy: restart app.service worker.service: "+unitLine,
		err.Error(), "the unit's state and last 20 journal lines; the undo restarted it once more, in vain")
	units := "app.service worker.service"
	assert.Equal(t, []string{
		"systemctl restart -- " + units, show(units), journal("", "worker.service"),
		"systemctl restart -- " + units, show(units), journal("", "worker.service"),
	}, srv.Commands(), "a failed unit ends the wait at once")
	assert.Equal(t, []string{"journalctl", "-u", "worker.service", "-n", "20", "--no-pager"}, f.calls(t)[2])
}

func TestAUnitStillActivatingWhenTheTimeoutRunsOutFails(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{"app.service": {States: []string{"activating/auto-restart/exit-code"}, Journal: "app[7]: bind: address already in use\n"}})
	srv := f.server(t)
	p := project(t, "units = app\ntimeout = 3s\n", "")
	_, clock, err := deploy(srv, p, nil)
	require.Error(t, err)
	first, _, _ := strings.Cut(err.Error(), "; and then: ")
	assert.Equal(t, "deploy app to test: deploy-finish: plugin "+systemd.Name+": restart app.service: "+
		"app.service is not active after 3s (timeout = 3s): activating (auto-restart, result exit-code); its last journal lines:\n"+
		"    app[7]: bind: address already in use", first)
	var ue *systemd.UnitError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, []systemd.UnitState{{Unit: "app.service", LoadState: "loaded", ActiveState: "activating", SubState: "auto-restart",
		Result: "exit-code", Journal: "app[7]: bind: address already in use"}}, ue.Units)

	// Polls at 0, 50ms, 150ms, 350ms, 750ms, 1.55s, 2.55s and the last at
	// 3s, then the journal; the undo restarts and waits the same way.
	ms := time.Millisecond
	round := []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, 450 * ms}
	assert.Equal(t, append(round, round...), clock.Sleeps())
	cmds := []string{"systemctl restart -- app.service"}
	for range 8 {
		cmds = append(cmds, show("app.service"))
	}
	cmds = append(cmds, journal("", "app.service"))
	assert.Equal(t, append(cmds, cmds...), srv.Commands())
}

func TestSkipRestartLeavesTheUnitsAlone(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{"app.service": {}})
	srv := f.server(t)
	p := project(t, "units = app\n", "")
	var stdout, stderr bytes.Buffer
	cli := &porter.CLI{
		Args:      []string{"--project", p.Dir, "deploy", "--host", "test", "--config", "testing", "--skip-restart"},
		Stdout:    &stdout,
		Stderr:    &stderr,
		Addresses: map[string]string{"test": srv.Address()},
		Dial:      srv.DialOptions(),
	}
	require.Equal(t, porter.ExitOK, cli.Run(context.Background()), stderr.String())
	assert.Contains(t, stdout.String(), "skipped app restart app.service: --skip-restart (plugin "+systemd.Name+")\n")
	assert.Empty(t, srv.Commands())
	assert.Empty(t, f.calls(t))

	// A deploy that fails after the finish starts nothing: it stopped nothing.
	p = project(t, "units = app\n", "[plugin:"+command+"]\ndeploy-finish = exit 3\n")
	rep, _, err := deploy(srv, p, map[string]string{systemd.FlagSkipRestart: "true"})
	require.Error(t, err)
	assert.Equal(t, []porter.Skip{{Owner: porter.OwnerPorter, Step: "source send", Why: "the source has no files to send"},
		{Owner: systemd.Name, Step: "restart app.service", Why: "--skip-restart"}}, rep.Hosts[0].Modules[0].Skipped)
	require.Len(t, srv.Commands(), 1, "only the failing command: %q", srv.Commands())
	assert.True(t, strings.HasSuffix(srv.Commands()[0], " && exit 3"), srv.Commands()[0])
	assert.Empty(t, f.calls(t))
}

func TestUserUnitsUseSystemctlUser(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{"app.service": {States: []string{"failed/failed/exit-code"}, Journal: "boom\n"}})
	srv := f.server(t)
	p := project(t, "units = app\nuser = true\naction = reload-or-restart\n", "")
	_, _, err := deploy(srv, p, nil)
	require.ErrorIs(t, err, systemd.ErrNotActive)
	userShow := "systemctl --user show -p Id,LoadState,ActiveState,SubState,Result -- app.service"
	round := []string{"systemctl --user reload-or-restart -- app.service", userShow, "journalctl --user -u app.service -n 20 --no-pager 2>&1 | head -c 8192"}
	assert.Equal(t, append(round, round...), srv.Commands(), "the finish, then the undo")
	assert.Equal(t, []string{"journalctl", "--user", "-u", "app.service", "-n", "20", "--no-pager"}, f.calls(t)[2])
}

func TestUseSudoRunsTheActionsAndTheJournalWithSudo(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{
		"app.service": {States: []string{"failed/failed/core-dump"}, Journal: "segfault\n"},
	})
	srv := f.server(t)
	p := project(t, "units = app\nuse_sudo = true\n", "")
	_, _, err := deploy(srv, p, nil)
	require.ErrorIs(t, err, systemd.ErrNotActive)
	first, _, _ := strings.Cut(err.Error(), "; and then: ")
	assert.Equal(t, "deploy app to test: deploy-finish: plugin "+systemd.Name+": restart app.service: "+
		"app.service is not active: failed (failed, result core-dump); its last journal lines:\n    segfault", first)
	round := []string{"sudo -n systemctl restart -- app.service", show("app.service"), journal("sudo -n ", "app.service")}
	assert.Equal(t, append(round, round...), srv.Commands(), "systemctl show needs no sudo")
	assert.Equal(t, [][]string{
		{"sudo", "-n", "systemctl", "restart", "--", "app.service"},
		{"systemctl", "restart", "--", "app.service"},
		{"systemctl", "show", "-p", "Id,LoadState,ActiveState,SubState,Result", "--", "app.service"},
		{"sudo", "-n", "journalctl", "-u", "app.service", "-n", "20", "--no-pager"},
		{"journalctl", "-u", "app.service", "-n", "20", "--no-pager"},
	}, f.calls(t)[:5])
}

func TestAFailureAfterTheFinishStartsTheUnitsAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		action string
		worker []string // the worker's states at each show
		undo   []string // the undo's commands
	}{
		{"restart", nil, []string{"systemctl restart -- app.service worker.service", show("app.service worker.service")}},
		{"reload-or-restart", nil, []string{"systemctl reload-or-restart -- app.service worker.service", show("app.service worker.service")}},
		{"reload", []string{"active/running", "failed/failed/signal", "active/running"}, []string{
			show("app.service worker.service"), // which are down
			"systemctl start -- worker.service", "systemctl reload -- app.service", show("app.service worker.service"),
		}},
	} {
		t.Run(tc.action, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, map[string]unit{"app.service": {}, "worker.service": {States: tc.worker}})
			srv := f.server(t)
			p := project(t, "units = app, worker\naction = "+tc.action+"\n", "[plugin:"+command+"]\ndeploy-finish = exit 3\n")
			_, _, err := deploy(srv, p, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "plugin "+command+": command \"exit 3\": ")
			assert.NotContains(t, err.Error(), "and then", "the undo went through")
			cmds := srv.Commands()
			require.Len(t, cmds, 3+len(tc.undo), "%q", cmds)
			assert.Equal(t, []string{"systemctl " + tc.action + " -- app.service worker.service", show("app.service worker.service")}, cmds[:2])
			assert.True(t, strings.HasSuffix(cmds[2], " && exit 3"), cmds[2])
			assert.Equal(t, tc.undo, cmds[3:])
		})
	}
}

func TestAFailureBeforeTheFinishTouchesNoUnit(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{"app.service": {}})
	srv := f.server(t)
	p := project(t, "units = app\n", "[plugin:"+command+"]\ndeploy-start = exit 3\n")
	_, _, err := deploy(srv, p, nil)
	require.Error(t, err)
	assert.Len(t, srv.Commands(), 1, "only the failing command: %q", srv.Commands())
	assert.Empty(t, f.calls(t))
}

func TestAnUnknownUnitFailsWithSystemctlsWords(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{"app.service": {}})
	srv := f.server(t)
	p := project(t, "units = app, nope\n", "")
	_, _, err := deploy(srv, p, nil)
	require.Error(t, err)
	first, _, _ := strings.Cut(err.Error(), "; and then: ")
	assert.Equal(t, "deploy app to test: deploy-finish: plugin "+systemd.Name+": restart app.service nope.service: "+
		`run "systemctl restart -- app.service nope.service" on `+srv.Address()+`: exit status 5: Failed to restart nope.service: Unit nope.service not found.`+
		": check that the units exist, and set use_sudo = true if only root may act on them (user = true for units of systemctl --user)\n"+
		"nope.service is not active: not loaded (not-found); its last journal lines:\n    -- No entries --", first)
	assert.Equal(t, []string{"systemctl restart -- app.service nope.service", show("app.service nope.service"), journal("", "nope.service")},
		srv.Commands()[:3])
}

func TestUnitNamesAreQuoted(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{`foo\x2dbar.service`: {}, "getty@tty1.service": {}})
	srv := f.server(t)
	p := project(t, `units = foo\x2dbar, getty@tty1.service`+"\n", "")
	_, _, err := deploy(srv, p, nil)
	require.NoError(t, err)
	assert.Equal(t, `systemctl restart -- 'foo\x2dbar.service' getty@tty1.service`, srv.Commands()[0])
	assert.Equal(t, []string{"systemctl", "restart", "--", `foo\x2dbar.service`, "getty@tty1.service"}, f.calls(t)[0])
}

func TestTheJournalIsBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 20000)
	f := newFake(t, map[string]unit{"app.service": {States: []string{"failed/failed/exit-code"}, Journal: long + "\n"}})
	srv := f.server(t)
	p := project(t, "units = app\n", "")
	_, _, err := deploy(srv, p, nil)
	var ue *systemd.UnitError
	require.ErrorAs(t, err, &ue)
	require.Len(t, ue.Units, 1)
	assert.Equal(t, strings.Repeat("x", 8192), ue.Units[0].Journal, "8 KiB, cut on the host")
}

func TestRollbackRestartsTheUnits(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{"app.service": {States: []string{"active/running", "active/running", "activating/start", "active/running"}}})
	srv := f.server(t)
	p := project(t, "units = app\n", "[module]\nstrategy = releases\n")
	_, _, err := deploy(srv, p, nil)
	require.NoError(t, err)
	_, _, err = deploy(srv, p, nil)
	require.NoError(t, err)
	n := len(srv.Commands())
	// With the real clock: the wait sleeps 50 ms between the two polls.
	rolled, err := porter.Rollback(context.Background(), p, porter.RollbackOptions{Target: target(srv)})
	require.NoError(t, err)
	require.Len(t, rolled, 1)
	cmds := srv.Commands()[n:]
	require.Len(t, cmds, 4, "%q", cmds)
	assert.Contains(t, cmds[0], "ln -s -- releases/", "current switched first")
	assert.Equal(t, []string{"systemctl restart -- app.service", show("app.service"), show("app.service")}, cmds[1:],
		"then the units restarted on the old release, and waited for")
}

// A health check that fails after the finish rolls back: the units restart
// on the old release at SigRollbackFinish, and SigDeployFailed does not
// restart them a third time.
func TestAFailedHealthCheckRestartsTheUnitsOnceMore(t *testing.T) {
	t.Parallel()
	f := newFake(t, map[string]unit{"app.service": {States: []string{"active/running"}}})
	srv := f.server(t)
	broken := filepath.Join(t.TempDir(), "broken")
	p := project(t, "units = app\n", "[module]\nstrategy = releases\nhealth_command = test ! -e "+broken+"\nhealth_retries = 1\n")
	_, _, err := deploy(srv, p, nil)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(broken, nil, 0o644))
	n := len(srv.Commands())
	_, _, err = deploy(srv, p, nil)
	require.ErrorContains(t, err, "health check")
	var restarts []string
	for _, c := range srv.Commands()[n:] {
		if strings.HasPrefix(c, "systemctl restart") {
			restarts = append(restarts, c)
		}
	}
	assert.Equal(t, []string{"systemctl restart -- app.service", "systemctl restart -- app.service"}, restarts,
		"at the finish, then on the old release after the automatic rollback")
}
