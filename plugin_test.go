package porter

import (
	"context"
	"github.com/porter-deploy/porter/portertest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// orderPlugin records when its handler runs relative to the others.
type orderPlugin struct{ tag string }

func (p orderPlugin) RegisterSignalHandlers(m *Module) error {
	m.PushSignalHandler("order", func(_ context.Context, m *Module, payload any) error {
		*payload.(*[]string) = append(*payload.(*[]string), p.tag+":"+m.PluginSettings().String("value", ""))
		return nil
	})
	return nil
}

func (p orderPlugin) Flags() []Flag {
	return []Flag{{Name: p.tag + "-switch", Bool: true, Default: "false", Usage: "a switch"}}
}

func init() {
	RegisterDeployment("badhook", func(*Module) error { return assert.AnError })
	RegisterPlugin("test/one", func() Plugin { return orderPlugin{tag: "one"} })
	RegisterPlugin("test/two", func() Plugin { return orderPlugin{tag: "two"} })
	RegisterDeployment("hooked", func(m *Module) error {
		m.PushSignalHandler("order", func(_ context.Context, _ *Module, payload any) error {
			*payload.(*[]string) = append(*payload.(*[]string), "hook")
			return nil
		})
		return nil
	})
}

func TestHandlersRegisterDefaultsThenHookThenPluginsInIniOrder(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini":       "[project]\ndepends = hooked\n[hosts]\nvbox = u@v\n",
		"hooked/hooked.ini": "[module]\npath = /srv/h\n[plugin:test/two]\nvalue = 2\nvalue-vbox = v2\n[plugin:test/one]\nvalue = 1\n",
	})
	m, err := LoadModule(p, "hooked", OnHost("vbox"), WithFlags(map[string]string{"two-switch": "true"}), connected(t))
	require.NoError(t, err)
	var got []string
	require.NoError(t, m.Signal(context.Background(), "order", &got))
	assert.Equal(t, []string{"hook", "two:v2", "one:1"}, got)
	assert.Equal(t, []string{"test/two", "test/one"}, m.Plugins())
	assert.Equal(t, []string{"test/one", "test/two"}, p.PluginsUsed())
	assert.True(t, m.FlagBool("two-switch"))
	assert.False(t, m.FlagBool("one-switch"), "default of the flag")
	assert.Equal(t, "false", m.Flag("one-switch"))
}

func TestUnregisteredPluginTellsWhichImportToAdd(t *testing.T) {
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = app\n",
		"app/app.ini": "[module]\npath = /srv/app\n[plugin:github.com/acme/deploy/plugins/cdn]\n",
	})
	_, err := LoadProject(dir)
	var pe *PluginNotRegisteredError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "github.com/acme/deploy/plugins/cdn", pe.Name)
	assert.EqualError(t, err, `module app: app/app.ini [plugin:github.com/acme/deploy/plugins/cdn]: plugin "github.com/acme/deploy/plugins/cdn" is not registered: add  import _ "github.com/acme/deploy/plugins/cdn"  to your deploy program`)
}

func TestRegisterPluginPanicsOnMisuse(t *testing.T) {
	f := func() Plugin { return nopPlugin{} }
	assert.PanicsWithValue(t, "porter: RegisterPlugin with an empty name", func() { RegisterPlugin("", f) })
	assert.PanicsWithValue(t, "porter: RegisterPlugin x with a nil factory", func() { RegisterPlugin("x", nil) })
	assert.PanicsWithValue(t, "porter: RegisterPlugin called twice for test/one", func() { RegisterPlugin("test/one", f) })
	assert.PanicsWithValue(t, "porter: RegisterDeployment called twice for module hooked", func() {
		RegisterDeployment("hooked", func(*Module) error { return nil })
	})
	assert.Contains(t, Plugins(), "test/one")
}

func TestHookErrorStopsLoadModule(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini":         "[project]\ndepends = badhook\n",
		"badhook/badhook.ini": "[module]\npath = /srv/b\n",
	})
	_, err := LoadModule(p, "badhook")
	assert.ErrorIs(t, err, assert.AnError)
	assert.Contains(t, err.Error(), "module badhook: deployment hook: ")
}
