package porter_test

import (
	"bytes"
	"context"
	"github.com/porter-deploy/porter/portertest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/django"
)

func TestOverrideOfTheLongestHostName(t *testing.T) {
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\nprod = u@p\neast-prod = u@e\n",
		"a/a.ini": "[module]\npath = /srv/a\n[plugin:github.com/porter-deploy/porter/plugins/command]\n" +
			"deploy-finish = echo all\ndeploy-finish-east-prod = echo east\n",
	})
	p, err := porter.LoadProject(dir)
	require.NoError(t, err)
	prod, err := porter.LoadModule(p, "a", porter.OnHost("prod"))
	require.NoError(t, err, "deploy-finish-east-prod is not deploy-finish-east on prod")
	east, err := porter.LoadModule(p, "a", porter.OnHost("east-prod"))
	require.NoError(t, err)
	const cmd = "github.com/porter-deploy/porter/plugins/command"
	assert.Equal(t, map[string]string{"deploy-finish": "echo all"}, prod.Section("plugin:"+cmd).Map())
	assert.Equal(t, map[string]string{"deploy-finish": "echo east"}, east.Section("plugin:"+cmd).Map())
}

func TestDottedReleaseSectionsDoNotInherit(t *testing.T) {
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = a\n",
		"a/a.ini":     "[module]\npath = /srv/a\n[release:2]\ncommit = abc123\n[release:2.1]\ntag = v2.1\n",
	})
	p, err := porter.LoadProject(dir)
	require.NoError(t, err)
	m, err := porter.LoadModule(p, "a", porter.WithRelease("2.1"))
	require.NoError(t, err)
	assert.Equal(t, "v2.1", m.Release().String("tag", ""))
	assert.Equal(t, "", m.Release().String("commit", ""), "[release:2.1] does not read [release:2]")
}

func TestSymlinkedConfigFileChangeRedeploys(t *testing.T) {
	files := twoModules()
	delete(files, "a/config/testing/settings.ini")
	files["shared/settings.ini"] = "v1\n"
	f := newFixture(t, files)
	require.NoError(t, os.MkdirAll(filepath.Join(f.local, "a/config/testing"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(f.local, "shared/settings.ini"), filepath.Join(f.local, "a/config/testing/settings.ini")))
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	portertest.WriteFiles(t, f.local, map[string]string{"shared/settings.ini": "v2\n"})
	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"a": porter.Deployed, "b": porter.Unchanged}, outcomes(rep))
}

func TestTwoModulesInOnePathKeepTheirOwnRecords(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini":   "[project]\ndepends = code, conf\n[hosts]\ntest = x@y\n",
		"code/code.ini": "[module]\npath = $REMOTE/app\n[scm]\nurl = dir://src\n",
		"code/src/f":    "code",
		"conf/conf.ini": "[module]\npath = $REMOTE/app\nuse_rsync = false\n",
	})
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	rep, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]porter.Outcome{"code": porter.Unchanged, "conf": porter.Unchanged}, outcomes(rep))
}

func TestStatusWithoutConfigLoadsPluginsThatCheckConfigFiles(t *testing.T) {
	files := twoModules()
	files["a/a.ini"] += "[plugin:github.com/porter-deploy/porter/plugins/django]\nmigrate = 0\n"
	files["a/config/testing/local_settings.py"] = "DEBUG = True\n"
	f := newFixture(t, files)
	_, err := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	st, err := porter.Status(context.Background(), p, porter.StatusOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}})
	require.NoError(t, err)
	assert.Equal(t, porter.StateUpToDate, st.Hosts[0].Modules[0].State)
}

func TestStatusNeverWalksAPathAForeignRecordNames(t *testing.T) {
	f := newFixture(t, twoModules())
	portertest.WriteFiles(t, f.remote, map[string]string{"a/.porter/a/state.json": `{"module":"a","version":"x","config":"../../../../.."}`})
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	st, err := porter.Status(context.Background(), p, porter.StatusOptions{Target: porter.Target{Host: "test", Address: f.srv.Address(), Dial: f.srv.DialOptions()}})
	require.NoError(t, err)
	assert.Equal(t, porter.StateNeverDeployed, st.Hosts[0].Modules[0].State)
	assert.ErrorContains(t, st.Hosts[0].Modules[0].RecordErr, `config "../../../../.." is not a config name`)
}

// flagClash declares a flag deploy already has.
type flagClash struct{ nopPlugin }

func (flagClash) Flags() []porter.Flag { return []porter.Flag{{Name: "config", Usage: "oops"}} }

type nopPlugin struct{}

func (nopPlugin) RegisterSignalHandlers(*porter.Module) error { return nil }

func init() {
	porter.RegisterPlugin("test/flag-clash", func() porter.Plugin { return flagClash{} })
}

func TestCLIFlagMistakes(t *testing.T) {
	f := newFixture(t, twoModules())
	run := func(dir string, args ...string) (int, string) {
		var out, errb bytes.Buffer
		cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: dir,
			Addresses: map[string]string{"test": f.srv.Address()}, Dial: f.srv.DialOptions()}
		return cli.Run(context.Background()), errb.String()
	}
	code, errOut := run(f.local, "deploy", "--host", "test", "--config", "testing", "--force=")
	assert.Equal(t, porter.ExitUsage, code)
	assert.Contains(t, errOut, "no module named: use --force for all, or --force=a,b")
	code, errOut = run(f.local, "deploy", "--host", "test", "--config", "testing", "--force", "a")
	assert.Equal(t, porter.ExitUsage, code)
	assert.Contains(t, errOut, `unexpected argument "a" (to force a module, write --force=a)`)
	assert.Empty(t, f.srv.Commands())

	clash := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = a\n",
		"a/a.ini":     "[module]\npath = /srv/a\n[plugin:test/flag-clash]\n",
	})
	code, errOut = run(clash, "deploy", "--help")
	assert.Equal(t, porter.ExitError, code)
	assert.Contains(t, errOut, `plugin test/flag-clash declares the flag "config", which deploy has already`)

	var help bytes.Buffer
	cli := &porter.CLI{Args: []string{"deploy", "--help"}, Stdout: &help, Stderr: &help, ProjectDir: t.TempDir()}
	assert.Equal(t, porter.ExitOK, cli.Run(context.Background()))
	assert.Contains(t, help.String(), "to see the plugins' flags")
	assert.Contains(t, help.String(), "      --host NAME ", "deploy's own flags, without a project")
}
