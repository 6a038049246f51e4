package porter

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/porter-deploy/porter/remote"
)

// Signal names a moment of a module's deploy. Handlers are kept per signal,
// in order; plugins may define their own signals, with their own payloads.
type Signal string

// The signals of the deploy procedure, in the order the default procedure
// sends them: SigDeploy runs the procedure, whose default handler sends
// SigDeployStart, checks the source out, then sends SigSourcePreSend,
// SigSourceSend, SigSourcePostSend and SigDeployFinish. SigDeployFailed is
// sent when any of them fails, so that a plugin can undo what it did.
const (
	SigDeploy         Signal = "deploy"
	SigDeployStart    Signal = "deploy-start"
	SigSourcePreSend  Signal = "source-pre-send"
	SigSourceSend     Signal = "source-send"
	SigSourcePostSend Signal = "source-post-send"
	SigDeployFinish   Signal = "deploy-finish"
	SigDeployFailed   Signal = "deploy-failed"
)

// Handler handles a signal for one module. payload is what the sender gave
// Module.Signal (nil for the procedure's own signals but SigDeployFailed,
// whose payload is a *DeployFailed). An error stops the module's deploy.
type Handler func(ctx context.Context, m *Module, payload any) error

// DeployFailed is the payload of SigDeployFailed.
type DeployFailed struct {
	// Err is the error that stopped the deploy.
	Err error
}

// SignalError is the error of a handler, with where it happened. Errors of
// nested signals are not wrapped twice: the innermost signal is named.
type SignalError struct {
	Module string
	Host   string // [hosts] name; "" when the module is not bound to a host
	Signal Signal
	Err    error
}

// Error reads "deploy MODULE to HOST: SIGNAL: the handler's error", with
// the control characters of the handler's error (which may quote a host's
// stderr) escaped as remote.Printable does.
func (e *SignalError) Error() string {
	where := "deploy " + e.Module
	if e.Host != "" {
		where += " to " + e.Host
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Signal, remote.Printable(fmt.Sprint(e.Err)))
}

// Unwrap returns the handler's error.
func (e *SignalError) Unwrap() error { return e.Err }

// PushSignalHandler appends h to the handlers of sig.
func (m *Module) PushSignalHandler(sig Signal, h Handler) {
	m.handlers[sig] = append(m.handlers[sig], h)
}

// PopSignalHandler removes the last handler of sig and returns it (nil when
// sig has none).
func (m *Module) PopSignalHandler(sig Signal) Handler {
	hs := m.handlers[sig]
	if len(hs) == 0 {
		return nil
	}
	h := hs[len(hs)-1]
	m.handlers[sig] = hs[:len(hs)-1]
	return h
}

// ReplaceSignalHandler pops the last handler of sig and pushes h: a module
// hook replaces SigSourceSend to ship the source its own way, or SigDeploy
// to change the whole procedure.
func (m *Module) ReplaceSignalHandler(sig Signal, h Handler) {
	m.PopSignalHandler(sig)
	m.PushSignalHandler(sig, h)
}

// SignalHandlers returns how many handlers sig has.
func (m *Module) SignalHandlers(sig Signal) int { return len(m.handlers[sig]) }

// Signal calls the handlers of sig in order with payload, and stops at the
// first error, which comes back as a *SignalError naming the module, the
// host and the signal. A handler that panics is an error, not a crash.
// A signal nobody handles is not an error.
func (m *Module) Signal(ctx context.Context, sig Signal, payload any) error {
	hs := append([]Handler(nil), m.handlers[sig]...)
	m.log.Debug("signal", "signal", string(sig), "handlers", len(hs))
	for _, h := range hs {
		if err := ctx.Err(); err != nil {
			return m.signalError(sig, err)
		}
		if err := m.callHandler(ctx, sig, h, payload); err != nil {
			return m.signalError(sig, err)
		}
	}
	return nil
}

func (m *Module) callHandler(ctx context.Context, sig Signal, h Handler, payload any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			m.log.Debug("handler panicked", "signal", string(sig), "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, m, payload)
}

func (m *Module) signalError(sig Signal, err error) error {
	var se *SignalError
	if errors.As(err, &se) && se.Module == m.Name() {
		return err
	}
	return &SignalError{Module: m.Name(), Host: m.hostName, Signal: sig, Err: err}
}
