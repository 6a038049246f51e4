package porter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lazyPlugin pushes, from its handler, a handler for a later signal, and
// skips a step: both are its own.
type lazyPlugin struct{}

func (lazyPlugin) RegisterSignalHandlers(m *Module) error {
	m.PushSignalHandler("first", func(_ context.Context, m *Module, _ any) error {
		m.Skip("warm the cache", "--no-warm")
		m.PushSignalHandler("later", func(context.Context, *Module, any) error { return errors.New("later failed") })
		return nil
	})
	m.PushSignalHandler("panics", func(context.Context, *Module, any) error { panic("boom") })
	return nil
}

func init() { RegisterPlugin("test/lazy", func() Plugin { return lazyPlugin{} }) }

func TestHandlersKnowTheirOwners(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini":       "[project]\ndepends = hooked\n[hosts]\nvbox = u@v\n",
		"hooked/hooked.ini": "[module]\npath = /srv/h\nconfig = a.conf\n[plugin:test/two]\n[plugin:test/lazy]\n",
	})
	m, err := LoadModule(p, "hooked", OnHost("vbox"), WithConfig("testing"), connected(t))
	require.NoError(t, err)
	assert.Equal(t, []HandlerInfo{{Owner: OwnerPorter, Described: true}}, m.SignalHandlerInfo(SigDeploy))
	assert.Equal(t, []HandlerInfo{{Owner: OwnerPorter, Described: true}}, m.SignalHandlerInfo(SigSourceSend))
	assert.Equal(t, []HandlerInfo{{Owner: OwnerPorter, Described: true}}, m.SignalHandlerInfo(SigSourcePostSend), "the config copy")
	assert.Equal(t, []HandlerInfo{{Owner: OwnerHook}, {Owner: "test/two"}}, m.SignalHandlerInfo("order"))

	m.PushSignalHandler("order", func(context.Context, *Module, any) error { return nil })
	assert.Equal(t, "", m.SignalHandlerInfo("order")[2].Owner, "pushed by the caller after loading: no owner")

	ctx := context.Background()
	require.NoError(t, m.Signal(ctx, "first", nil))
	assert.Equal(t, []HandlerInfo{{Owner: "test/lazy"}}, m.SignalHandlerInfo("later"), "pushed by the plugin's running handler")
	assert.Equal(t, []Skip{{Owner: "test/lazy", Step: "warm the cache", Why: "--no-warm"}}, m.Skips())

	err = m.Signal(ctx, "later", nil)
	var se *SignalError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "test/lazy", se.Owner)
	assert.EqualError(t, err, "deploy hooked to vbox: later: plugin test/lazy: later failed")

	err = m.Signal(ctx, "panics", nil)
	assert.EqualError(t, err, "deploy hooked to vbox: panics: plugin test/lazy: handler panicked: boom")
}

func TestOwnerLabel(t *testing.T) {
	assert.Equal(t, "porter", OwnerLabel(OwnerPorter))
	assert.Equal(t, "module hook", OwnerLabel(OwnerHook))
	assert.Equal(t, "plugin github.com/acme/cdn", OwnerLabel("github.com/acme/cdn"))
	assert.Equal(t, "", OwnerLabel(""))
}

func TestSkipsAreInTheReportAndItsText(t *testing.T) {
	rep := &Report{Hosts: []HostReport{{Host: "web1", Modules: []ModuleReport{{
		Module: "app", Outcome: Deployed,
		Skipped: []Skip{{Owner: OwnerPorter, Step: "source send", Why: "use_rsync = false"},
			{Owner: "test/lazy", Step: "warm\x1b[2J", Why: "--no-warm"}},
	}}}}}
	var out bytes.Buffer
	printReport(&out, rep, nil)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4, out.String())
	assert.Equal(t, "skipped app source send: use_rsync = false (porter)", lines[2])
	assert.Equal(t, `skipped app warm\x1b[2J: --no-warm (plugin test/lazy)`, lines[3], "what a plugin says is escaped")
}

func TestDescribeSignalCallsDescribersAndRunsNoHandler(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini":     "[project]\ndepends = plain\n[hosts]\nvbox = u@v\n",
		"plain/plain.ini": "[module]\npath = /srv/p\n",
	})
	m, err := LoadModule(p, "plain", OnHost("vbox"), connected(t))
	require.NoError(t, err)
	ran := 0
	m.PushSignalHandler("x", func(context.Context, *Module, any) error { ran++; return nil })
	m.PushSignalHandler("x", func(context.Context, *Module, any) error { ran++; return nil },
		Describe(func(_ context.Context, _ *Module, payload any) ([]string, error) {
			return []string{fmt.Sprint("run: thing ", payload)}, nil
		}))
	got, err := m.DescribeSignal(context.Background(), "x", 7)
	require.NoError(t, err)
	assert.Equal(t, 0, ran)
	assert.Equal(t, []HandlerPlan{{}, {Described: true, Lines: []string{"run: thing 7"}}}, got)
	assert.Equal(t, []HandlerInfo{{}, {Described: true}}, m.SignalHandlerInfo("x"))

	m.PushSignalHandler("y", nil, Describe(func(context.Context, *Module, any) ([]string, error) {
		panic("boom")
	}))
	_, err = m.DescribeSignal(context.Background(), "y", nil)
	var se *SignalError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, Signal("y"), se.Signal)
	assert.EqualError(t, err, "deploy plain to vbox: y: describing panicked: boom")
}
