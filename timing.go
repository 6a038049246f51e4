package porter

import (
	"log/slog"
	"time"
)

// Timing is how long one phase of a deploy took, for a person asking where
// the time went (-v) and for benchmarks.
//
// A module's phases, in the order they run: "checkout" (getting the source
// and naming its version: a git fetch, a dir:// tree's hash; a deploy does
// it while it dials the hosts, outside [ModuleReport.Duration]), "version" (the
// settings' hash), "record" (reading the host's record), then each signal
// the procedure sends, by name (source-send split into "list", the walk,
// the host's listing and the comparison, "send", and for a dir:// source
// "source-check", its tree looked at again once sent), with strategy =
// releases "seed" (the new release's directory) and "switch" (current),
// then "health" (a module with a health check), "record-write" and "prune"
// (old releases). A host's: "connect",
// "lock" (all its modules'), "unlock".
type Timing struct {
	Phase    string
	Duration time.Duration
}

// timed records that phase took from start until now.
func (m *Module) timed(phase string, start time.Time) {
	m.mu.Lock()
	m.timings = append(m.timings, Timing{phase, time.Since(start)})
	m.mu.Unlock()
}

// Timings returns the phases of this deploy of the module so far.
func (m *Module) Timings() []Timing {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Timing(nil), m.timings...)
}

// timingAttrs are ts as log attributes: phase=duration, rounded to a tenth
// of a millisecond, in order.
func timingAttrs(ts []Timing) []any {
	out := make([]any, 0, len(ts))
	for _, t := range ts {
		out = append(out, slog.Duration(t.Phase, t.Duration.Round(100*time.Microsecond)))
	}
	return out
}
