// Package liveview draws the live view of a deploy at a terminal: one line
// per host with its module, its step, the files and bytes of the source
// send done of the totals, the rate and the time left, and the host's
// outcome once it ended. The lines are drawn with mpb
// (github.com/vbauerster/mpb/v8); log lines written to [View.Log] print
// above them, whole, and never into them.
//
// The view knows nothing of porter's types (porter's command line, which
// uses it, is the package that imports this one): the command line turns
// each porter.Event into a call of [View.Host], [View.Module],
// [View.Step], [View.Progress], [View.ModuleEnd] or [View.HostEnd]. It
// draws no colour.
package liveview

import (
	"io"
	"sync"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/rsync"
)

// Every is how often the view redraws itself.
const Every = 150 * time.Millisecond

// Options configure a View.
type Options struct {
	// Width is the width of the lines when the output is no terminal
	// (default 80); at a terminal, the terminal's width.
	Width int
	// ManualRedraw makes the view redraw only at Redraw and Close, not
	// every Every: the frames of a test.
	ManualRedraw bool
}

// View is the live view of one deploy. Its methods may be called from any
// goroutine; after Close they do nothing.
type View struct {
	p      *mpb.Progress
	screen *screen
	log    *logWriter
	redraw chan any      // mpb's manual refresh
	stop   chan struct{} // ends the ticker
	ticker sync.WaitGroup

	mu     sync.Mutex // guards lines and closed
	lines  map[string]*line
	closed bool
	// addMu serializes making bars and Close, which call mpb: never
	// held by what mpb calls back (the decorators take line.mu only).
	addMu sync.Mutex
	order []*line // guarded by addMu
}

// IsTerminal reports whether w is a terminal the view can draw on.
func IsTerminal(w io.Writer) bool {
	return cupwriter.New(w, false).IsTerminal()
}

// New starts a view drawing on out, a terminal.
func New(out io.Writer, opts Options) *View {
	v := &View{
		screen: newScreen(out),
		redraw: make(chan any),
		stop:   make(chan struct{}),
		lines:  map[string]*line{},
	}
	width := opts.Width
	if width <= 0 {
		width = 80
	}
	v.p = mpb.New(
		mpb.WithConsoleWriter(v.screen),
		mpb.WithWidth(width),
		mpb.WithManualRefresh(v.redraw),
		mpb.WithShutdownNotifier(v.screen.shut),
	)
	v.log = &logWriter{view: v.p, out: out}
	if !opts.ManualRedraw {
		v.ticker.Add(1)
		go v.tick()
	}
	return v
}

// tick redraws every Every until Close.
func (v *View) tick() {
	defer v.ticker.Done()
	t := time.NewTicker(Every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			select {
			case v.redraw <- nil:
			case <-v.stop:
				return
			case <-v.screen.shut:
				return
			}
		case <-v.stop:
			return
		}
	}
}

// Log is where the log lines go while the view runs: each Write, one or
// more whole lines, prints above the hosts' lines at the next redraw.
// After Close it writes straight to the output.
func (v *View) Log() io.Writer { return v.log }

// Redraw draws the view now and returns once it is drawn.
func (v *View) Redraw() {
	n := v.screen.drawn()
	select {
	case v.redraw <- nil:
	case <-v.screen.shut:
		return
	}
	v.screen.waitDrawn(n)
}

// Close draws the view a last time, with every line as it stands, and
// leaves the cursor on the line below it: what is written next (the
// report, an error) follows the view. The log lines written before Close
// are in that last drawing; those after go straight to the output.
func (v *View) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	v.mu.Unlock()
	close(v.stop)
	v.ticker.Wait()
	v.log.direct()

	v.addMu.Lock()
	defer v.addMu.Unlock()
	for _, l := range v.order {
		l.bar.Abort(false) // it stays drawn as it is
	}
	// The last bar to end asks for a drawing itself; with none, this
	// one prints the log lines still waiting.
	select {
	case v.redraw <- nil:
	case <-v.screen.shut:
	}
	v.p.Wait()
}

// line returns the line of host, made on first use; nil after Close.
func (v *View) line(host string) *line {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	if l := v.lines[host]; l != nil {
		v.mu.Unlock()
		return l
	}
	v.mu.Unlock()

	v.addMu.Lock()
	defer v.addMu.Unlock()
	v.mu.Lock()
	l, closed := v.lines[host], v.closed
	if l == nil && !closed {
		l = &line{s: state{host: remote.Printable(host)}}
		v.lines[host] = l
	}
	v.mu.Unlock()
	if closed || l.bar != nil {
		return l
	}
	// Total 0: the bar never completes by itself, it ends at Close.
	bar, err := v.p.Add(0, filler{l, mpb.BarStyle().Build()},
		mpb.BarWidth(barWidth),
		mpb.PrependDecorators(
			decor.Any(func(decor.Statistics) string { return l.get().host }, decor.WCSyncSpaceR),
			decor.Any(func(decor.Statistics) string { return l.get().doing() }, decor.WCSyncSpaceR),
		),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return l.get().figures() })),
	)
	if err != nil {
		return l // mpb shut down (it failed to draw): the line is not shown
	}
	l.bar = bar
	v.order = append(v.order, l)
	return l
}

// Host shows host, connected.
func (v *View) Host(host string) {
	v.update(host, func(s *state) { s.step = "connected" })
}

// Module shows that host deploys module.
func (v *View) Module(host, module string) {
	v.update(host, func(s *state) {
		*s = state{host: s.host, module: module}
	})
}

// Step shows that host runs step of its module.
func (v *View) Step(host, step string) {
	v.update(host, func(s *state) { s.step = step })
}

// Progress shows how far the source send of host is, at the time at.
func (v *View) Progress(host string, at time.Time, p rsync.Progress) {
	v.update(host, func(s *state) {
		if !s.sending {
			s.sending, s.sendStart = true, at
		}
		s.progress, s.at = p, at
	})
}

// ModuleEnd shows the outcome of host's module.
func (v *View) ModuleEnd(host, outcome string) {
	v.update(host, func(s *state) { s.step = outcome })
}

// HostEnd shows the outcome of host, which took took.
func (v *View) HostEnd(host, outcome string, took time.Duration) {
	v.update(host, func(s *state) { s.outcome, s.took = outcome, took })
}

func (v *View) update(host string, fn func(*state)) {
	l := v.line(host)
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s.outcome == "" {
		fn(&l.s)
	}
}

// line is a host's line: its bar and what it shows.
type line struct {
	bar *mpb.Bar // set once, under View.addMu

	mu sync.Mutex
	s  state
}

func (l *line) get() state {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s
}
