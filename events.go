package porter

import (
	"sync"
	"time"

	"github.com/porter-deploy/porter/rsync"
)

// EventType names what an Event reports.
type EventType string

// The events of a deploy, in the order a host sees them: DeployStart once;
// per host HostConnected, then per module ModuleStart, StepStart and
// StepEnd for each signal sent (nested: SigDeploy's step holds those of
// the procedure), Progress during a source send, ModuleEnd; HostEnd once
// per host (also for a host that was never reached or started); DeployEnd
// once, last.
const (
	EventDeployStart   EventType = "deploy-start"
	EventHostConnected EventType = "host-connected"
	EventModuleStart   EventType = "module-start"
	EventStepStart     EventType = "step-start"
	EventStepEnd       EventType = "step-end"
	EventProgress      EventType = "progress"
	EventModuleEnd     EventType = "module-end"
	EventHostEnd       EventType = "host-end"
	EventDeployEnd     EventType = "deploy-end"
)

// Event is one moment of a deploy, for a live view or a program that
// follows it (Options.Events). Fields that do not apply to the Type are
// zero.
type Event struct {
	Type EventType
	Time time.Time
	// Host is the TargetHost.Name, "" for the deploy's own events.
	Host string
	// Address is the host's address (HostConnected, HostEnd).
	Address string
	// Module is the module, for module, step and progress events.
	Module string
	// Step is the signal of a step event.
	Step Signal
	// Version is what the module deploys (ModuleStart once known, ModuleEnd).
	Version string
	// Outcome is the module's (ModuleEnd) or the host's (HostEnd).
	Outcome Outcome
	// Err is why a step, module, host or the deploy failed.
	Err error
	// Duration is how long the step, module, host or deploy took (end events).
	Duration time.Duration
	// Progress is how far a source send is (Progress).
	Progress *rsync.Progress
	// Sync is what the source send did (StepEnd of SigSourceSend, ModuleEnd).
	Sync *rsync.Stats
	// Skipped lists the module's skipped steps (ModuleEnd).
	Skipped []Skip
	// Hosts is how many hosts the target has (DeployStart).
	Hosts int
	// Totals counts the hosts by outcome (DeployEnd).
	Totals map[Outcome]int
}

// events hands a deploy's events to Options.Events, one call at a time.
type events struct {
	mu sync.Mutex
	fn func(Event)
	// progressOnly: Progress events replace the "sending" log lines
	// (Options.QuietProgress).
	progressOnly bool
}

func newEvents(opts Options) *events {
	if opts.Events == nil {
		return nil
	}
	return &events{fn: opts.Events, progressOnly: opts.QuietProgress}
}

// emit sends e, stamped with the time; a nil *events drops it. The time is
// taken under the lock, so events reach Options.Events in time order even
// when several hosts' goroutines emit at once.
func (ev *events) emit(e Event) {
	if ev == nil {
		return
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	ev.fn(e)
}
