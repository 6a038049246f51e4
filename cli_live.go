package porter

import (
	"log/slog"
	"os"

	"github.com/porter-deploy/porter/internal/clilog"
	"github.com/porter-deploy/porter/internal/liveview"
)

// liveView starts the live view of a deploy on stderr and points the
// deploy's log and events at it, or does nothing when there is to be
// none: stderr is no terminal, -q, or TERM=dumb (which cannot move the
// cursor). The returned func ends the view; call it before the report.
func (r *cliRun) liveView(opts *Options) (end func()) {
	if r.quiet || os.Getenv("TERM") == "dumb" || !liveview.IsTerminal(r.Stderr) {
		return func() {}
	}
	v := liveview.New(r.Stderr, liveview.Options{})
	opts.Logger = slog.New(clilog.New(v.Log(), r.verbose))
	r.log = opts.Logger
	opts.QuietProgress = true // the view shows it
	next := opts.Events
	opts.Events = func(e Event) {
		viewEvent(v, e)
		if next != nil {
			next(e)
		}
	}
	return v.Close
}

// viewEvent shows e in v.
func viewEvent(v *liveview.View, e Event) {
	switch e.Type {
	case EventHostConnected:
		v.Host(e.Host)
	case EventModuleStart:
		v.Module(e.Host, e.Module)
	case EventStepStart:
		v.Step(e.Host, string(e.Step))
	case EventProgress:
		if e.Progress != nil {
			v.Progress(e.Host, e.Time, *e.Progress)
		}
	case EventModuleEnd:
		v.ModuleEnd(e.Host, string(e.Outcome))
	case EventHostEnd:
		v.HostEnd(e.Host, string(e.Outcome), e.Duration)
	}
}
