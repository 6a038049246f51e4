package porter

import (
	"fmt"
	"strings"
	"time"

	"github.com/porter-deploy/porter/rsync"
)

// Outcome is what a deploy did with one module on one host.
type Outcome string

// The outcomes of a module in a Report.
const (
	Deployed   Outcome = "deployed"
	Unchanged  Outcome = "unchanged" // the host's record says it runs this already
	Failed     Outcome = "failed"
	NotRun     Outcome = "not run"     // an earlier module of the host failed
	NotStarted Outcome = "not started" // the host was never started (see HostReport.Err)
)

// Report is what Deploy did, host by host in the target's order.
type Report struct {
	Hosts    []HostReport
	Duration time.Duration
}

// HostReport is what Deploy did on one host, module by module in deploy
// order. Err is why the host failed or was not started (nil when every
// module deployed or was unchanged).
type HostReport struct {
	Host     string // TargetHost.Name
	Address  string
	Modules  []ModuleReport
	Err      error
	Duration time.Duration
	Timings  []Timing // connect, lock, unlock (see Timing)
}

// ModuleReport is what Deploy did with one module.
type ModuleReport struct {
	Module   string
	Outcome  Outcome
	Version  string
	Err      error
	Duration time.Duration
	Sync     rsync.Stats
	Skipped  []Skip        // steps that did not run, and why (see Module.Skip)
	Timings  []Timing      // where the time went, phase by phase
	Health   *HealthResult // what the health check found; nil when none ran
}

// Outcome sums up the host: Failed when a module failed or the host could
// not be reached or locked, NotStarted when it never started, else
// Deployed (some module deployed) or Unchanged.
func (h HostReport) Outcome() Outcome {
	out := Unchanged
	for _, m := range h.Modules {
		switch m.Outcome {
		case Failed:
			return Failed
		case NotStarted:
			if h.Err != nil && !isNotStarted(h.Err) {
				return Failed
			}
			return NotStarted
		case Deployed:
			out = Deployed
		}
	}
	if h.Err != nil {
		if isNotStarted(h.Err) {
			return NotStarted
		}
		return Failed
	}
	return out
}

// Host returns the report of the host named name, or nil.
func (r *Report) Host(name string) *HostReport {
	for i := range r.Hosts {
		if r.Hosts[i].Host == name {
			return &r.Hosts[i]
		}
	}
	return nil
}

// Totals counts the hosts by outcome.
func (r *Report) Totals() map[Outcome]int {
	n := map[Outcome]int{}
	for _, h := range r.Hosts {
		n[h.Outcome()]++
	}
	return n
}

// Rerun returns the hosts a re-run must cover: those that failed or never
// started, in the target's order (none when everything went through).
func (r *Report) Rerun() []string {
	var out []string
	for _, h := range r.Hosts {
		if o := h.Outcome(); o == Failed || o == NotStarted {
			out = append(out, h.Host)
		}
	}
	return out
}

// errNotStarted is a host's Err when it never started because of other
// hosts: the failures reached MaxFailures, or a lock elsewhere was held.
type errNotStarted struct {
	why string
	err error // the cause, when there is one (context.Canceled)
}

func (e *errNotStarted) Error() string {
	if e.err != nil {
		return "not started: " + e.why + ": " + e.err.Error()
	}
	return "not started: " + e.why
}

func (e *errNotStarted) Unwrap() error { return e.err }

func isNotStarted(err error) bool { _, ok := err.(*errNotStarted); return ok }

// FleetError is Deploy's error when a target of several hosts did not
// deploy whole: the hosts that failed and those that never started.
// errors.Is and As see every failed host's error (each names its host);
// the Report has them all too.
type FleetError struct {
	Hosts      int      // in the target
	Failed     []string // in the target's order
	NotStarted []string
	Errs       []error // the failed hosts' errors, in the same order
	Why        error   // why the hosts not started did not, when none failed
}

// Error says how many hosts failed and which, and the first one's error.
func (e *FleetError) Error() string {
	var b strings.Builder
	if len(e.Failed) == 0 {
		fmt.Fprintf(&b, "%d of %d hosts not started (%s)", len(e.NotStarted), e.Hosts, strings.Join(e.NotStarted, ", "))
		if e.Why != nil {
			b.WriteString(": " + e.Why.Error())
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%d of %d hosts failed (%s)", len(e.Failed), e.Hosts, strings.Join(e.Failed, ", "))
	if len(e.NotStarted) > 0 {
		fmt.Fprintf(&b, ", %d not started", len(e.NotStarted))
	}
	if len(e.Errs) > 0 {
		b.WriteString(": " + e.Errs[0].Error())
	}
	if len(e.Errs) > 1 {
		fmt.Fprintf(&b, " (and %d more)", len(e.Errs)-1)
	}
	return b.String()
}

// Unwrap returns the failed hosts' errors, or why the hosts did not start
// when none failed.
func (e *FleetError) Unwrap() []error {
	if len(e.Errs) == 0 && e.Why != nil {
		return []error{e.Why}
	}
	return e.Errs
}

// fleetError is the error of a deploy that made rep: nil when every host
// went through, the one host's error for a target of one host, else a
// *FleetError.
func fleetError(rep *Report) error {
	fe := &FleetError{Hosts: len(rep.Hosts)}
	for _, h := range rep.Hosts {
		switch h.Outcome() {
		case Failed:
			fe.Failed = append(fe.Failed, h.Host)
			fe.Errs = append(fe.Errs, h.Err)
		case NotStarted:
			fe.NotStarted = append(fe.NotStarted, h.Host)
			if fe.Why == nil {
				fe.Why = h.Err
			}
		}
	}
	switch {
	case len(fe.Failed) == 0 && len(fe.NotStarted) == 0:
		return nil
	case len(rep.Hosts) == 1 && len(fe.Errs) == 1:
		return fe.Errs[0]
	case len(rep.Hosts) == 1 && fe.Why != nil:
		return fe.Why
	}
	return fe
}
