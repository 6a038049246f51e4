package porter

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func simpleModule(t *testing.T) *Module {
	t.Helper()
	p := newProject(t, map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\nvbox = u@v\n",
		"app/app.ini": "[module]\npath = /srv/app\n",
	})
	m, err := LoadModule(p, "app", OnHost("vbox"), connected(t))
	require.NoError(t, err)
	return m
}

func recorder(calls *[]string, name string) Handler {
	return func(_ context.Context, _ *Module, payload any) error {
		*calls = append(*calls, fmt.Sprint(name, ":", payload))
		return nil
	}
}

func TestSignalHandlersRunInOrderWithPayload(t *testing.T) {
	m := simpleModule(t)
	var calls []string
	m.PushSignalHandler("custom", recorder(&calls, "a"))
	m.PushSignalHandler("custom", recorder(&calls, "b"))
	m.PushSignalHandler("custom", recorder(&calls, "c"))
	require.NoError(t, m.Signal(context.Background(), "custom", 42))
	assert.Equal(t, []string{"a:42", "b:42", "c:42"}, calls)
}

func TestPopAndReplaceSignalHandler(t *testing.T) {
	m := simpleModule(t)
	var calls []string
	m.PushSignalHandler("s", recorder(&calls, "a"))
	m.PushSignalHandler("s", recorder(&calls, "b"))
	require.NotNil(t, m.PopSignalHandler("s"))
	m.ReplaceSignalHandler("s", recorder(&calls, "z"))
	require.NoError(t, m.Signal(context.Background(), "s", nil))
	assert.Equal(t, []string{"z:<nil>"}, calls, "pop removed b, replace = pop a + push z")
	assert.Nil(t, m.PopSignalHandler("none"))
	assert.NoError(t, m.Signal(context.Background(), "nobody-listens", nil))
}

func TestDefaultHandlersAreRegistered(t *testing.T) {
	m := simpleModule(t)
	assert.Equal(t, 1, m.SignalHandlers(SigDeploy))
	assert.Equal(t, 1, m.SignalHandlers(SigSourceSend))
}

func TestSignalErrorStopsAndNamesModuleHostSignal(t *testing.T) {
	m := simpleModule(t)
	var calls []string
	boom := errors.New("boom")
	m.PushSignalHandler(SigSourcePostSend, recorder(&calls, "first"))
	m.PushSignalHandler(SigSourcePostSend, func(context.Context, *Module, any) error { return boom })
	m.PushSignalHandler(SigSourcePostSend, recorder(&calls, "never"))
	err := m.Signal(context.Background(), SigSourcePostSend, nil)
	assert.EqualError(t, err, "deploy app to vbox: source-post-send: boom")
	assert.ErrorIs(t, err, boom)
	var se *SignalError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, SigSourcePostSend, se.Signal)
	assert.Equal(t, []string{"first:<nil>"}, calls)
}

func TestNestedSignalErrorIsWrappedOnce(t *testing.T) {
	m := simpleModule(t)
	m.PushSignalHandler("outer", func(ctx context.Context, m *Module, _ any) error {
		return m.Signal(ctx, "inner", nil)
	})
	m.PushSignalHandler("inner", func(context.Context, *Module, any) error { return errors.New("deep") })
	err := m.Signal(context.Background(), "outer", nil)
	assert.EqualError(t, err, "deploy app to vbox: inner: deep")
}

func TestSignalHandlerPanicBecomesError(t *testing.T) {
	m := simpleModule(t)
	m.PushSignalHandler("s", func(context.Context, *Module, any) error { panic("oops") })
	err := m.Signal(context.Background(), "s", nil)
	assert.EqualError(t, err, "deploy app to vbox: s: handler panicked: oops")
}

func TestSignalStopsWhenContextEnds(t *testing.T) {
	m := simpleModule(t)
	var calls []string
	ctx, cancel := context.WithCancel(context.Background())
	m.PushSignalHandler("s", func(context.Context, *Module, any) error { cancel(); return nil })
	m.PushSignalHandler("s", recorder(&calls, "after-cancel"))
	err := m.Signal(ctx, "s", nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, calls)
}
