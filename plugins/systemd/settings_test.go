package systemd_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/systemd"
	"github.com/porter-deploy/porter/portertest"
)

func TestBadSettingsFailAtLoad(t *testing.T) {
	where := "module app: app/app.ini [plugin:" + systemd.Name + "]: "
	for _, tc := range []struct{ section, err string }{
		{"", "units is not set: name the units to restart, such as units = app.service, worker.service"},
		{"units = , ,\n", "units is not set: name the units to restart, such as units = app.service, worker.service"},
		{"units = /etc/systemd/system/app.service\n", `units: "/etc/systemd/system/app.service" has a slash: name a unit (app.service), not its file`},
		{"units = app, --all\n", `units: "--all" starts with a dash: name a unit (app.service)`},
		{"units = app-*.service\n", `units: "app-*.service" is a pattern: name each unit`},
		{"units = app service\n", `units: "app service" has ' ', which no unit name has: a unit name is made of letters, digits and :-_.\@`},
		{"units = app;reboot\n", `units: "app;reboot" has ';', which no unit name has: a unit name is made of letters, digits and :-_.\@`},
		{"units = getty@.service\n", `units: "getty@.service" is a template: name an instance of it, such as getty@1.service`},
		{"units = .service\n", `units: ".service" has no name before its suffix: name a unit (app.service)`},
		{"units = sda.device\n", `units: "sda.device" is a unit systemctl cannot restart: name the service that runs it`},
		{"units = app, app.service\n", "units: app.service is named twice: name each unit once"},
		{"units = app\naction = stop\n", `action = "stop": want restart, reload or reload-or-restart`},
		{"units = app\nuser = maybe\n", `user = "maybe": want true or false`},
		{"units = app\nuse_sudo = sometimes\n", `use_sudo = "sometimes": want true or false`},
		{"units = app\nuser = true\nuse_sudo = true\n", "user = true and use_sudo = true: systemctl --user acts on the SSH user's own units, which needs no sudo: remove one of them"},
		{"units = app\ntimeout = 30\n", `timeout = "30": want a duration such as 30s or 2m`},
		{"units = app\ntimeout = -1s\n", `timeout = "-1s": want a duration such as 30s or 2m`},
		{"units = app\nunit = app\n", `unknown key "unit": use units, action, user, use_sudo or timeout`},
	} {
		t.Run(tc.section, func(t *testing.T) {
			_, err := porter.LoadProject(writeProject(t, tc.section, ""))
			assert.EqualError(t, err, where+tc.err)
		})
	}
	// The error of a value of the wrong form is a *porter.SettingError.
	_, err := porter.LoadProject(writeProject(t, "units = app\ntimeout = soon\n", ""))
	var se *porter.SettingError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "timeout", se.Key)
}

func TestUnitsGetTheirSuffix(t *testing.T) {
	p := project(t, "units = app, web.socket, nightly.timer, app.worker, getty@tty1, multi-user.target\n", "")
	m, err := porter.LoadModule(p, "app", porter.OnHost("test"))
	require.NoError(t, err)
	units, err := systemd.UnitsOf(m.Section("plugin:" + systemd.Name))
	require.NoError(t, err)
	assert.Equal(t, []string{"app.service", "web.socket", "nightly.timer", "app.worker.service", "getty@tty1.service", "multi-user.target"},
		units)
}

func TestAPlanSaysWhatEachHandlerWouldDo(t *testing.T) {
	for _, tc := range []struct {
		name, section string
		flags         map[string]string
		finish, undo  []string
	}{
		{"default", "units = app, worker\n", nil,
			[]string{"restart app.service worker.service (systemctl)", "wait up to 30s until each is active"},
			[]string{"if deploy-finish acted on the units: restart app.service worker.service again (systemctl), and wait up to 30s until each is active"}},
		{"user", "units = app, worker\nuser = true\ntimeout = 1m30s\n", nil,
			[]string{"restart app.service worker.service (systemctl --user)", "wait up to 1m30s until each is active"},
			[]string{"if deploy-finish acted on the units: restart app.service worker.service again (systemctl --user), and wait up to 1m30s until each is active"}},
		{"sudo reload", "units = app\nuse_sudo = true\naction = reload\n", nil,
			[]string{"reload app.service (sudo -n systemctl)", "wait up to 30s until each is active"},
			[]string{"if deploy-finish acted on the units: start those of app.service that are not active, reload the others (sudo -n systemctl), and wait up to 30s until each is active"}},
		{"skip", "units = app\n", map[string]string{systemd.FlagSkipRestart: "true"},
			[]string{"skip restart app.service (--skip-restart)"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := project(t, tc.section, "")
			m, err := porter.LoadModule(p, "app", porter.OnHost("test"), porter.WithFlags(tc.flags),
				porter.WithConnection(portertest.NewServer(t).Dial(t))) // a plan is connected; these read nothing
			require.NoError(t, err)
			ctx := context.Background()
			finish, err := m.DescribeSignal(ctx, porter.SigDeployFinish, nil)
			require.NoError(t, err)
			assert.Equal(t, []porter.HandlerPlan{{Owner: systemd.Name, Described: true, Lines: tc.finish}}, finish)
			undo, err := m.DescribeSignal(ctx, porter.SigDeployFailed, porter.DeployFailed{})
			require.NoError(t, err)
			assert.Equal(t, []porter.HandlerPlan{{Owner: systemd.Name, Described: true, Lines: tc.undo}}, undo)
			rollback, err := m.DescribeSignal(ctx, porter.SigRollbackFinish, porter.RollbackInfo{})
			require.NoError(t, err)
			want := tc.finish
			if tc.flags != nil { // a rollback takes no plugin flags: it always acts
				want = []string{"restart app.service (systemctl)", "wait up to 30s until each is active"}
			}
			assert.Equal(t, []porter.HandlerPlan{{Owner: systemd.Name, Described: true, Lines: want}}, rollback)
		})
	}
}

func TestTheFlagIsSkipRestart(t *testing.T) {
	flags := systemd.New().(porter.FlagProvider).Flags()
	assert.Equal(t, []porter.Flag{{Name: "skip-restart", Bool: true, Default: "false",
		Usage: "leave the systemd units of plugin systemd alone (no restart or reload)"}}, flags)
}
