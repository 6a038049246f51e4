package porter

import (
	"errors"
	"github.com/porter-deploy/porter/portertest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func moduleINI(deps string) string {
	return "[module]\npath = /srv/x\ndepends = " + deps + "\n"
}

func TestOrderDiamondDeploysSharedModuleOnceFirst(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini":       "[project]\nname = shop\ndepends = web, worker\n[hosts]\nvbox = u@h\n",
		"web/web.ini":       moduleINI("api, static"),
		"worker/worker.ini": moduleINI("db"),
		"api/api.ini":       moduleINI("db"),
		"static/static.ini": moduleINI(""),
		"db/db.ini":         moduleINI(""),
	})
	order, err := p.Order("vbox")
	require.NoError(t, err)
	assert.Equal(t, []string{"db", "api", "static", "web", "worker"}, order)
}

func TestOrderHostOverrideOfDepends(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini":           "[project]\ndepends = app\n[hosts]\nvbox = u@h\nprod = u@p\n",
		"app/app.ini":           "[module]\npath = /srv/app\ndepends = db\ndepends-vbox = db, fixtures\n",
		"db/db.ini":             moduleINI(""),
		"fixtures/fixtures.ini": moduleINI(""),
	})
	order, err := p.Order("vbox")
	require.NoError(t, err)
	assert.Equal(t, []string{"db", "fixtures", "app"}, order)
	order, err = p.Order("prod")
	require.NoError(t, err)
	assert.Equal(t, []string{"db", "app"}, order)
}

func TestLoadProjectCycleIsAnErrorThatPrintsTheCycle(t *testing.T) {
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = a\n",
		"a/a.ini":     moduleINI("b"),
		"b/b.ini":     moduleINI("c"),
		"c/c.ini":     moduleINI("a"),
	})
	_, err := LoadProject(dir)
	var ce *CycleError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, []string{"a", "b", "c", "a"}, ce.Path)
	assert.EqualError(t, err, "dependency cycle: a -> b -> c -> a: remove one of these depends")
}

func TestLoadProjectSelfCycle(t *testing.T) {
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = a\n",
		"a/a.ini":     moduleINI("a"),
	})
	_, err := LoadProject(dir)
	assert.EqualError(t, err, "dependency cycle: a -> a: remove one of these depends")
}

func TestLoadProjectModuleDirsFromModulesSection(t *testing.T) {
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini":                 "[project]\ndepends = module1\n[modules]\nmodule1 = workers/module1\n",
		"workers/module1/module1.ini": moduleINI(""),
	})
	p, err := LoadProject(dir)
	require.NoError(t, err)
	assert.Equal(t, dir, p.Dir)
	m, err := LoadModule(p, "module1")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "workers", "module1"), m.Dir())
}

func TestLoadProjectErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
		is    error
	}{
		{"no project.ini", map[string]string{"x": ""}, "not a porter project", os.ErrNotExist},
		{"no depends", map[string]string{"project.ini": "[project]\nname = x\n"}, "depends is empty", nil},
		{"missing module ini", map[string]string{"project.ini": "[project]\ndepends = ghost\n"},
			"module ghost: ghost/ghost.ini: no such file", ErrUnknownModule},
		{"no module section", map[string]string{"project.ini": "[project]\ndepends = a\n", "a/a.ini": "[scm]\nurl = none://\n"},
			"a/a.ini has no [module] section", nil},
		{"bad module name", map[string]string{"project.ini": "[project]\ndepends = ../etc\n"}, "not valid", nil},
		{"host without address", map[string]string{"project.ini": "[project]\ndepends = a\n[hosts]\nvbox =\n", "a/a.ini": moduleINI("")},
			"[hosts] vbox has no address", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadProject(portertest.WriteFiles(t, t.TempDir(), tc.files))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			if tc.is != nil {
				assert.True(t, errors.Is(err, tc.is), "errors.Is(%v, %v)", err, tc.is)
			}
		})
	}
}

func TestHostAddressUnknownListsValidHosts(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\ntesting = u@t\nvbox = u@v\n",
		"a/a.ini":     moduleINI(""),
	})
	addr, err := p.HostAddress("vbox")
	require.NoError(t, err)
	assert.Equal(t, "u@v", addr)
	_, err = p.HostAddress("prod")
	assert.ErrorIs(t, err, ErrUnknownHost)
	assert.EqualError(t, err, `unknown host "prod": valid hosts: testing, vbox`)
	assert.Equal(t, []string{"testing", "vbox"}, p.HostNames())
}
