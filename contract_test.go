package porter_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/plugins/command"
	"github.com/porter-deploy/porter/plugins/crontab"
	"github.com/porter-deploy/porter/plugins/django"
	"github.com/porter-deploy/porter/plugins/python"
	"github.com/porter-deploy/porter/plugins/supervisor"
	"github.com/porter-deploy/porter/plugins/systemd"
	"github.com/porter-deploy/porter/plugins/uwsgi"
	"github.com/porter-deploy/porter/plugins/virtualenv"
	"github.com/porter-deploy/porter/portertest"
)

// Every bundled plugin is a SettingsValidator: a bad setting stops
// LoadProject, which has no config and no connection, with the file,
// section, key and what to write instead.
func TestLoadProjectValidatesEveryBundledPluginsSettings(t *testing.T) {
	for _, tc := range []struct {
		plugin, section, err string
	}{
		{command.Name, "deploy-finsh = x\n", `unknown key "deploy-finsh": use deploy-start, source-pre-send, source-post-send, deploy-finish or deploy-failed`},
		{crontab.Name, "file = nightly\n", "app/crontab/nightly.crontab: no such file: create it, or set file = NAME of a NAME.crontab in app/crontab"},
		{django.Name, "migrate = sometimes\n", `migrate = "sometimes": want true or false`},
		{python.Name, "path = x\n", `unknown key "path": the section takes no keys`},
		{supervisor.Name, "use_sudo = maybe\n", `use_sudo = "maybe": want true or false`},
		{supervisor.Name, "", "launcher app/supervisor/app.conf: no such file: create it, or set launcher = NAME of a file in app/supervisor"},
		{systemd.Name, "units = app\naction = stop\n", `action = "stop": want restart, reload or reload-or-restart`},
		{uwsgi.Name, "launchers = ../api.ini\n", `launchers: "../api.ini": name a file of app/uwsgi`},
		{uwsgi.Name, "emperor = 2\n", `emperor = "2": want true or false`},
		{virtualenv.Name, "requirements = --pre, django\n", `requirements: "--pre" looks like an option: put pip options in pip_options`},
	} {
		t.Run(tc.plugin+" "+tc.section, func(t *testing.T) {
			dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
				"project.ini": "[project]\ndepends = app\n[hosts]\nprod = u@p\n",
				"app/app.ini": "[module]\npath = /srv/app\n[plugin:" + tc.plugin + "]\n" + tc.section,
			})
			_, err := porter.LoadProject(dir)
			assert.EqualError(t, err, "module app: app/app.ini [plugin:"+tc.plugin+"]: "+tc.err)
		})
	}
}

// A setting that only one host's override gets wrong fails LoadProject
// too, naming that host.
func TestLoadProjectValidatesEveryHostsOverrides(t *testing.T) {
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\nstaging = u@s\nprod = u@p\n",
		"app/app.ini": "[module]\npath = /srv/app\n[plugin:" + systemd.Name + "]\nunits = app\ntimeout = 30s\ntimeout-prod = 30\n",
	})
	_, err := porter.LoadProject(dir)
	assert.EqualError(t, err, "module app on host prod: app/app.ini [plugin:"+systemd.Name+`]: timeout = "30": want a duration such as 30s or 2m`)
	var se *porter.SettingError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "timeout", se.Key)
}

// Outside a deploy a module without a connection runs no handler: the
// first Signal fails with ErrNotConnected, naming the module and signal.
func TestSignalRefusesAModuleWithoutAConnection(t *testing.T) {
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\nprod = u@p\n",
		"app/app.ini": "[module]\npath = /srv/app\n[plugin:" + python.Name + "]\n",
	})
	p, err := porter.LoadProject(dir)
	require.NoError(t, err)
	m, err := porter.LoadModule(p, "app", porter.OnHost("prod"))
	require.NoError(t, err)
	assert.False(t, m.Connected())
	err = m.Signal(context.Background(), porter.SigSourcePostSend, nil)
	require.ErrorIs(t, err, porter.ErrNotConnected)
	assert.EqualError(t, err, "deploy app to prod: source-post-send: not connected to a host: load the module WithConnection to run its handlers (a deploy does)")
	var se *porter.SignalError
	require.True(t, errors.As(err, &se))
	assert.Equal(t, porter.SigSourcePostSend, se.Signal)

	_, err = m.DescribeSignal(context.Background(), porter.SigSourcePostSend, nil)
	assert.ErrorIs(t, err, porter.ErrNotConnected)
	assert.NoError(t, m.Signal(context.Background(), "nobody-listens", nil), "a signal without handlers needs no host")
}
