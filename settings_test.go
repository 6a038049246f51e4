package porter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const overrideINI = `[module]
path = /srv/app
path-vbox = /vagrant/app
use_rsync = yes
use_rsync-vbox = off
workers = 4
workers-vbox = many
group-name = web
exclude = *.log , tmp/ ,, cache
Upper = kept ; a comment

[plugin:example.com/cdn]
bucket = prod-assets
bucket-vbox = dev-assets
`

func overrideProject(t *testing.T) *Project {
	return newProject(t, map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\nvbox = u@v\nprod = u@p\n",
		"app/app.ini": overrideINI,
	})
}

func TestSettingsHostOverrideInEverySection(t *testing.T) {
	p := overrideProject(t)
	vbox, err := LoadModule(p, "app", OnHost("vbox"))
	require.NoError(t, err)
	prod, err := LoadModule(p, "app", OnHost("prod"))
	require.NoError(t, err)

	assert.Equal(t, "/vagrant/app", vbox.Path())
	assert.Equal(t, "/srv/app", prod.Path())
	assert.Equal(t, "dev-assets", vbox.Section("plugin:example.com/cdn").String("bucket", ""))
	assert.Equal(t, "prod-assets", prod.Section("plugin:example.com/cdn").String("bucket", ""))

	b, err := vbox.Settings().Bool("use_rsync", true)
	require.NoError(t, err)
	assert.False(t, b)
	b, err = prod.Settings().Bool("use_rsync", false)
	require.NoError(t, err)
	assert.True(t, b)

	n, err := prod.Settings().Int("workers", 1)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	_, err = vbox.Settings().Int("workers", 1)
	assert.EqualError(t, err, `app/app.ini [module]: workers = "many": want a whole number`)
	var se *SettingError
	assert.ErrorAs(t, err, &se)

	assert.Equal(t, []string{"*.log", "tmp/", "cache"}, prod.Settings().List("exclude"))
	assert.Nil(t, prod.Settings().List("nothing"))
	assert.Equal(t, "fallback", prod.Settings().String("nothing", "fallback"))
	assert.Equal(t, "kept", prod.Settings().String("upper", ""), "keys are case-insensitive, inline comments dropped")
}

func TestSettingsMapAppliesOnlyThisHostsOverrides(t *testing.T) {
	p := overrideProject(t)
	m, err := LoadModule(p, "app", OnHost("vbox"))
	require.NoError(t, err)
	got := m.Settings().Map()
	assert.Equal(t, map[string]string{
		"path": "/vagrant/app", "use_rsync": "off", "workers": "many",
		"group-name": "web", "exclude": "*.log , tmp/ ,, cache", "upper": "kept",
	}, got)
}

func TestSettingsMissingSection(t *testing.T) {
	p := overrideProject(t)
	m, err := LoadModule(p, "app")
	require.NoError(t, err)
	s := m.Section("nope")
	assert.False(t, s.Exists())
	v, ok := s.Lookup("x")
	assert.False(t, ok)
	assert.Empty(t, v)
	b, err := s.Bool("x", true)
	require.NoError(t, err)
	assert.True(t, b)
}

func init() { RegisterPlugin("example.com/cdn", func() Plugin { return nopPlugin{} }) }

type nopPlugin struct{}

func (nopPlugin) RegisterSignalHandlers(*Module) error { return nil }

func TestOnlyKeysNamesTheTypoAndTheKeys(t *testing.T) {
	p := overrideProject(t)
	m, err := LoadModule(p, "app", OnHost("vbox"))
	require.NoError(t, err)
	s := m.Section("plugin:example.com/cdn")
	assert.NoError(t, s.OnlyKeys("bucket"), "bucket-vbox is an override of bucket, not a key")
	assert.EqualError(t, s.OnlyKeys("region", "acl"), `app/app.ini [plugin:example.com/cdn]: unknown key "bucket": use region or acl`)
	assert.EqualError(t, s.OnlyKeys("region"), `app/app.ini [plugin:example.com/cdn]: unknown key "bucket": the only key is region`)
	assert.EqualError(t, s.OnlyKeys(), `app/app.ini [plugin:example.com/cdn]: unknown key "bucket": the section takes no keys`)
}
