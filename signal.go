package porter

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

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
//
// Payloads are values of a named type, never pointers (see Plugin): each
// signal's payload is the one named here. The procedure's signals carry
// nil, but SigDeployFailed, whose payload is a DeployFailed.
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
// Module.Signal: a value of the type the signal's doc names (nil for the
// procedure's own signals but SigDeployFailed, whose payload is a
// DeployFailed). m.Host() is never nil in a handler. An error stops the
// module's deploy.
type Handler func(ctx context.Context, m *Module, payload any) error

// DeployFailed is the payload of SigDeployFailed, passed as a value:
//
//	f := payload.(porter.DeployFailed)
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
	Owner  string // who pushed the failing handler (see HandlerInfo.Owner); "" when none ran
	Err    error
}

// Error reads "deploy MODULE to HOST: SIGNAL: OWNER: the handler's error"
// (the owner left out when it is porter itself), with the control
// characters of the handler's error (which may quote a host's stderr)
// escaped as remote.Printable does.
func (e *SignalError) Error() string {
	where := "deploy " + e.Module
	if e.Host != "" {
		where += " to " + e.Host
	}
	by := ""
	if e.Owner != "" && e.Owner != OwnerPorter {
		by = OwnerLabel(e.Owner) + ": "
	}
	return fmt.Sprintf("%s: %s: %s%s", where, e.Signal, by, remote.Printable(fmt.Sprint(e.Err)))
}

// Unwrap returns the handler's error.
func (e *SignalError) Unwrap() error { return e.Err }

// The owners of handlers that are not a plugin's (a plugin's handlers are
// owned by its registered name, its import path).
const (
	OwnerPorter = "porter"      // the default procedure, source send and config copy
	OwnerHook   = "module hook" // the module's Deployment (RegisterDeployment)
)

// OwnerLabel names an owner for people: "plugin IMPORT/PATH", "module hook"
// or "porter".
func OwnerLabel(owner string) string {
	switch owner {
	case OwnerPorter, OwnerHook, "":
		return owner
	}
	return "plugin " + owner
}

// HandlerInfo says who pushed a handler.
type HandlerInfo struct {
	// Owner is the plugin's registered name (its import path) when a
	// plugin's RegisterSignalHandlers pushed it, OwnerHook for the module's
	// Deployment, OwnerPorter for porter's defaults. A handler pushed by a
	// running handler has that handler's owner.
	Owner string
	// Described reports whether the handler says what it would do in a
	// plan (see Describe).
	Described bool
}

type handlerEntry struct {
	h        Handler
	owner    string
	describe Describer
}

// Describer says what a handler would do, without doing it: one line per
// action, such as "run: python manage.py migrate --noinput" or "install
// crontab from crontab/production". A plan (see Plan) calls it in place of
// the handler. It may read from the host (m.Host() is connected), but must
// change nothing there, and it must not push or pop handlers. No lines
// means the handler would do nothing.
type Describer func(ctx context.Context, m *Module, payload any) ([]string, error)

// HandlerOption adds to a handler what PushSignalHandler records with it.
type HandlerOption func(*handlerEntry)

// Describe gives the handler d, which says what it would do during a plan.
// A handler without one is listed by its owner in a plan, as "not
// described", and never called.
func Describe(d Describer) HandlerOption {
	return func(e *handlerEntry) { e.describe = d }
}

// PushSignalHandler appends h to the handlers of sig, owned by whoever is
// registering handlers now (see HandlerInfo.Owner).
func (m *Module) PushSignalHandler(sig Signal, h Handler, opts ...HandlerOption) {
	e := handlerEntry{h: h, owner: m.owner}
	for _, o := range opts {
		o(&e)
	}
	m.handlers[sig] = append(m.handlers[sig], e)
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
	return h.h
}

// ReplaceSignalHandler pops the last handler of sig and pushes h: a module
// hook replaces SigSourceSend to ship the source its own way, or SigDeploy
// to change the whole procedure.
func (m *Module) ReplaceSignalHandler(sig Signal, h Handler, opts ...HandlerOption) {
	m.PopSignalHandler(sig)
	m.PushSignalHandler(sig, h, opts...)
}

// mayRunCommands reports whether the deploy may run a command on the host
// besides what the sync needs: a handler that is not porter's own (a
// plugin's, the module hook's), shared names to link into a release, or a
// health_command. A release recycled from the oldest one and switched to
// takes SFTP requests only; one seeded with a copy of the current release,
// or an earlier deploy's leftovers to remove, start the shell when they
// come to it.
func (m *Module) mayRunCommands() bool {
	if m.Strategy() == StrategyReleases && len(m.rel.shared) > 0 || m.health != nil && m.health.kind == healthCommand {
		return true
	}
	for _, hs := range m.handlers {
		for _, e := range hs {
			if e.owner != OwnerPorter {
				return true
			}
		}
	}
	return false
}

// SignalHandlers returns how many handlers sig has.
func (m *Module) SignalHandlers(sig Signal) int { return len(m.handlers[sig]) }

// SignalHandlerInfo returns who owns each handler of sig, in the order they
// run.
func (m *Module) SignalHandlerInfo(sig Signal) []HandlerInfo {
	out := make([]HandlerInfo, len(m.handlers[sig]))
	for i, e := range m.handlers[sig] {
		out[i] = HandlerInfo{Owner: e.owner, Described: e.describe != nil}
	}
	return out
}

// ErrNotConnected is wrapped by the error of Signal and DescribeSignal on a
// module loaded without WithConnection: they run no handler, so that no
// handler ever sees a nil Module.Host.
var ErrNotConnected = errors.New("not connected to a host")

// Signal calls the handlers of sig in order with payload, and stops at the
// first error, which comes back as a *SignalError naming the module, the
// host, the signal and the handler's owner. A handler that panics is an
// error, not a crash. A signal nobody handles is not an error. On a module
// without a connection it runs no handler: the error is a *SignalError
// that wraps ErrNotConnected.
func (m *Module) Signal(ctx context.Context, sig Signal, payload any) (err error) {
	hs := append([]handlerEntry(nil), m.handlers[sig]...)
	if err := m.needConnection(sig, len(hs)); err != nil {
		return err
	}
	m.log.Debug("signal", "signal", string(sig), "handlers", len(hs))
	start := time.Now()
	m.events.emit(Event{Type: EventStepStart, Host: m.hostName, Module: m.Name(), Step: sig})
	defer func() {
		e := Event{Type: EventStepEnd, Host: m.hostName, Module: m.Name(), Step: sig, Err: err, Duration: time.Since(start)}
		if sig == SigSourceSend {
			st := m.SentStats()
			e.Sync = &st
		}
		switch {
		case sig == SigSourceSend && e.Sync.PlanTook > 0:
			m.mu.Lock()
			m.timings = append(m.timings, Timing{"list", e.Sync.PlanTook}, Timing{"send", e.Sync.ApplyTook})
			if m.srcCheck > 0 {
				m.timings = append(m.timings, Timing{"source-check", m.srcCheck})
			}
			m.mu.Unlock()
		case sig != SigDeploy:
			m.timed(string(sig), start) // SigDeploy's are the others
		}
		m.events.emit(e)
	}()
	for _, e := range hs {
		if err := ctx.Err(); err != nil {
			return m.signalError(sig, "", err)
		}
		m.log.Debug("handler", "signal", string(sig), "owner", e.owner)
		if err := m.callHandler(ctx, sig, e, payload); err != nil {
			return m.signalError(sig, e.owner, err)
		}
	}
	return nil
}

func (m *Module) callHandler(ctx context.Context, sig Signal, e handlerEntry, payload any) (err error) {
	defer func(owner string) {
		m.owner = owner
		if r := recover(); r != nil {
			m.log.Debug("handler panicked", "signal", string(sig), "owner", e.owner, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}(m.owner)
	m.owner = e.owner // what it pushes is its owner's
	return e.h(ctx, m, payload)
}

// needConnection refuses n handlers of sig on a module without a connection.
func (m *Module) needConnection(sig Signal, n int) error {
	if n == 0 || m.host != nil {
		return nil
	}
	return &SignalError{Module: m.Name(), Host: m.hostName, Signal: sig,
		Err: fmt.Errorf("%w: load the module WithConnection to run its handlers (a deploy does)", ErrNotConnected)}
}

func (m *Module) signalError(sig Signal, owner string, err error) error {
	var se *SignalError
	if errors.As(err, &se) && se.Module == m.Name() {
		return err
	}
	return &SignalError{Module: m.Name(), Host: m.hostName, Signal: sig, Owner: owner, Err: err}
}

// Skip records that a step of the deploy did not run and why: the report
// lists it (ModuleReport.Skipped) and the log says it. step names what was
// skipped ("migrate", "source send"); the owner is the running handler's.
func (m *Module) Skip(step, why string) {
	sk := Skip{Owner: m.owner, Step: step, Why: why}
	m.mu.Lock()
	m.skips = append(m.skips, sk)
	m.mu.Unlock()
	m.log.Info("skipped", "step", step, "why", why, "owner", sk.Owner)
}

// Skip is a step of a deploy that did not run, and why.
type Skip struct {
	Owner string // as in HandlerInfo
	Step  string
	Why   string
}

// Skips returns the steps skipped so far in this deploy of the module.
func (m *Module) Skips() []Skip {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Skip(nil), m.skips...)
}

// HandlerPlan is what one handler of a signal would do (see
// Module.DescribeSignal).
type HandlerPlan struct {
	Owner     string   // as in HandlerInfo
	Described bool     // false: the handler has no Describer, and Lines is empty
	Lines     []string // what it would do, in its own words
}

// DescribeSignal asks each handler of sig, in order, what it would do, and
// runs none: it calls the Describers given with Describe, and lists a
// handler without one as not described. A Describer's error comes back as
// a *SignalError naming its owner; a panic is an error. Like Signal, it
// refuses a module without a connection (ErrNotConnected).
func (m *Module) DescribeSignal(ctx context.Context, sig Signal, payload any) ([]HandlerPlan, error) {
	hs := append([]handlerEntry(nil), m.handlers[sig]...)
	if err := m.needConnection(sig, len(hs)); err != nil {
		return nil, err
	}
	out := make([]HandlerPlan, 0, len(hs))
	for _, e := range hs {
		hp := HandlerPlan{Owner: e.owner, Described: e.describe != nil}
		if e.describe != nil {
			lines, err := m.callDescriber(ctx, e, payload)
			if err != nil {
				return out, m.signalError(sig, e.owner, err)
			}
			hp.Lines = lines
		}
		out = append(out, hp)
	}
	return out, nil
}

func (m *Module) callDescriber(ctx context.Context, e handlerEntry, payload any) (lines []string, err error) {
	defer func(owner string) {
		m.owner = owner
		if r := recover(); r != nil {
			err = fmt.Errorf("describing panicked: %v", r)
		}
	}(m.owner)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.owner = e.owner // its PluginSettings are its owner's
	return e.describe(ctx, m, payload)
}
