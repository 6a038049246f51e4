package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
)

// The wait's polls: the first this long after the action, each next one
// twice as long after the last, at most maxPoll apart.
const (
	firstPoll = 50 * time.Millisecond
	maxPoll   = time.Second
)

// Bounds of what the plugin reads from the host.
const (
	journalLines = 20      // journalctl -n
	maxJournal   = 8 << 10 // bytes of journal kept per unit (cut on the host)
	maxShow      = 64 << 10
	// diagnoseTimeout bounds the calls that explain a failure (show,
	// journalctl), which run after the wait's own time ran out.
	diagnoseTimeout = 10 * time.Second
)

// properties are what the wait reads of each unit.
const properties = "Id,LoadState,ActiveState,SubState,Result"

// step is one systemctl call: a verb and the units it acts on.
type step struct {
	verb  Action
	units []string
}

// systemctl builds a systemctl command line; sudo adds sudo -n when the
// settings ask for it.
func (p *Plugin) systemctl(sudo bool, args ...string) string {
	return p.command(sudo, "systemctl", args...)
}

// command builds the command line of prog (systemctl or journalctl) with
// --user when the settings ask for it, every argument quoted.
func (p *Plugin) command(sudo bool, prog string, args ...string) string {
	parts := []string{}
	if sudo && p.cfg.useSudo {
		parts = append(parts, "sudo", "-n")
	}
	parts = append(parts, prog)
	if p.cfg.user {
		parts = append(parts, "--user")
	}
	for _, a := range args {
		parts = append(parts, remote.Quote(a))
	}
	//porter:quoted every part is a literal or passed through remote.Quote above
	return strings.Join(parts, " ")
}

// actAndWait runs the steps (those with units), then waits until every
// one of units is active, all within the timeout.
func (p *Plugin) actAndWait(ctx context.Context, m *porter.Module, steps []step, units []string) error {
	clk := clockOf(ctx)
	deadline := clk.Now().Add(p.cfg.timeout)
	actx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
	defer cancel()
	var did []string
	for _, s := range steps {
		if len(s.units) == 0 {
			continue
		}
		what := string(s.verb) + " " + strings.Join(s.units, " ")
		did = append(did, what)
		cmd := p.systemctl(true, append([]string{string(s.verb), "--"}, s.units...)...)
		m.Log().Info("acting on systemd units", "action", string(s.verb), "units", strings.Join(s.units, " "), "command", cmd)
		if _, err := m.Host().Run(actx, cmd); err != nil {
			if actx.Err() != nil && ctx.Err() == nil {
				err = fmt.Errorf("systemctl did not return within %s (timeout = %s): %w", p.cfg.timeout, p.cfg.timeout, err)
			}
			return p.explain(ctx, m, &UnitError{What: what, Err: fmt.Errorf("%w%s", err, p.hint())}, s.units)
		}
	}
	return p.wait(ctx, m, strings.Join(did, ", "), units, clk, deadline)
}

// hint says what to check when systemctl itself failed.
func (p *Plugin) hint() string {
	switch {
	case p.cfg.user:
		return ": check that the SSH user's systemd manager runs (loginctl enable-linger USER) and has the units"
	case p.cfg.useSudo:
		return ": check that the units exist and that the deploy user may sudo systemctl without a password"
	}
	return ": check that the units exist, and set use_sudo = true if only root may act on them (user = true for units of systemctl --user)"
}

// wait polls the units' states, after what acted on them, until each is
// active, one is down for good (failed, inactive, not loaded), or the
// deadline passed: the last poll is at the deadline. Each poll is bounded
// by diagnoseTimeout.
func (p *Plugin) wait(ctx context.Context, m *porter.Module, what string, units []string, clk clock, deadline time.Time) error {
	interval := firstPoll
	for {
		pctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
		states, err := p.states(pctx, m, units)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		notActive, down := judge(states)
		if len(notActive) == 0 {
			m.Log().Info("systemd units active", "units", strings.Join(units, " "))
			return nil
		}
		if down {
			return p.withJournal(ctx, m, &UnitError{What: what, Units: notActive})
		}
		left := deadline.Sub(clk.Now())
		if left <= 0 {
			return p.withJournal(ctx, m, &UnitError{What: what, Units: notActive, Timeout: p.cfg.timeout})
		}
		if err := clk.Sleep(ctx, min(interval, left)); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		interval = min(2*interval, maxPoll)
	}
}

// clock is the wait's time: the real one, or the one a test puts in the
// context (see export_test.go).
type clock interface {
	Now() time.Time
	// Sleep returns after d, or with ctx's error when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

type clockKey struct{}

func clockOf(ctx context.Context) clock {
	if c, ok := ctx.Value(clockKey{}).(clock); ok {
		return c
	}
	return realClock{}
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// judge returns the units that are not active, and whether one of them is
// down for good rather than on its way.
func judge(states []UnitState) (notActive []UnitState, down bool) {
	for _, s := range states {
		if s.LoadState == "loaded" && s.ActiveState == "active" {
			continue
		}
		notActive = append(notActive, s)
		switch {
		case s.LoadState != "loaded":
			down = true
		case s.ActiveState == "activating", s.ActiveState == "reloading", s.ActiveState == "refreshing":
		default: // failed, inactive, deactivating, maintenance
			down = true
		}
	}
	return notActive, down
}

// explain completes e, the error of a systemctl call, with the states of
// the units that are not active and their journals.
func (p *Plugin) explain(ctx context.Context, m *porter.Module, e *UnitError, units []string) error {
	if ctx.Err() != nil {
		return e
	}
	dctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	states, err := p.states(dctx, m, units)
	if err != nil {
		m.Log().Warn("could not read the units' states", "error", err)
		return e
	}
	e.Units, _ = judge(states)
	return p.withJournal(ctx, m, e)
}

// withJournal adds to e the last journal lines of each unit it names.
func (p *Plugin) withJournal(ctx context.Context, m *porter.Module, e *UnitError) error {
	for i := range e.Units {
		if ctx.Err() != nil {
			break
		}
		e.Units[i].Journal = p.journal(ctx, m, e.Units[i].Unit)
	}
	return e
}

// journal returns the last lines of unit's journal, at most maxJournal
// bytes (cut on the host), or what went wrong reading them.
func (p *Plugin) journal(ctx context.Context, m *porter.Module, unit string) string {
	dctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	cmd := p.command(true, "journalctl", "-u", unit, "-n", fmt.Sprint(journalLines), "--no-pager") +
		fmt.Sprintf(" 2>&1 | head -c %d", maxJournal)
	out, err := m.Host().Run(dctx, cmd)
	if err != nil {
		return fmt.Sprintf("(no journal lines: %v)", err)
	}
	return strings.TrimRight(string(bound(out.Stdout, maxJournal)), "\n")
}

// split returns the units that are not active and those that are.
func (p *Plugin) split(ctx context.Context, m *porter.Module, units []string) (down, up []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	states, err := p.states(ctx, m, units)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range states {
		if s.LoadState == "loaded" && s.ActiveState == "active" {
			up = append(up, s.Unit)
		} else {
			down = append(down, s.Unit)
		}
	}
	return down, up, nil
}

// states asks systemctl show for the units' states, in the order of units.
func (p *Plugin) states(ctx context.Context, m *porter.Module, units []string) ([]UnitState, error) {
	cmd := p.systemctl(false, append([]string{"show", "-p", properties, "--"}, units...)...)
	out, err := m.Host().Run(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("read the units' states: %w%s", err, p.hint())
	}
	return parseShow(out.Stdout, units)
}

// parseShow reads the output of systemctl show: for each unit in order, a
// block of KEY=VALUE lines, the blocks separated by a blank line.
func parseShow(out []byte, units []string) ([]UnitState, error) {
	if len(out) > maxShow {
		return nil, fmt.Errorf("systemctl show printed more than %d bytes for %d units", maxShow, len(units))
	}
	blocks := strings.Split(strings.Trim(string(out), "\n"), "\n\n")
	if len(blocks) != len(units) {
		return nil, fmt.Errorf("systemctl show printed %d units' states for %d units: %q", len(blocks), len(units), bound(out, 300))
	}
	states := make([]UnitState, len(units))
	for i, b := range blocks {
		s := UnitState{Unit: units[i]}
		for _, line := range strings.Split(b, "\n") {
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "LoadState":
				s.LoadState = v
			case "ActiveState":
				s.ActiveState = v
			case "SubState":
				s.SubState = v
			case "Result":
				s.Result = v
			}
		}
		states[i] = s
	}
	return states, nil
}

func bound(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// UnitState is what systemd said of a unit.
type UnitState struct {
	Unit        string
	LoadState   string // loaded, not-found, masked...
	ActiveState string // active, activating, failed, inactive...
	SubState    string // running, exited, auto-restart, dead...
	Result      string // success, exit-code, timeout... ("" for units without one)
	Journal     string // its last journal lines, when the error reads them
}

// String reads "failed (failed, result exit-code)", "active (running)" or
// "not loaded (not-found)".
func (s UnitState) String() string {
	if s.LoadState != "loaded" {
		return "not loaded (" + s.LoadState + ")"
	}
	var more []string
	if s.SubState != "" {
		more = append(more, s.SubState)
	}
	if s.Result != "" && s.Result != "success" {
		more = append(more, "result "+s.Result)
	}
	if len(more) == 0 {
		return s.ActiveState
	}
	return s.ActiveState + " (" + strings.Join(more, ", ") + ")"
}

// UnitError reports units that are not active after the plugin acted on
// them: systemctl failed (Err), a unit went down, or the wait ran out of
// time (Timeout). Units are the units that are not active, with their
// states and journals as far as they could be read.
type UnitError struct {
	What    string // what acted on the units: "restart app.service worker.service"
	Err     error  // systemctl's error, when the action itself failed
	Timeout time.Duration
	Units   []UnitState
}

// ErrNotActive is wrapped by a *UnitError that names units that are not
// active.
var ErrNotActive = errors.New("not active")

// Error reads "restart app.service worker.service: worker.service is not
// active: failed (failed, result exit-code); its last journal lines:"
// followed by the lines, indented, one unit a line; text from the host is
// made printable.
func (e *UnitError) Error() string {
	var b bytes.Buffer
	b.WriteString(e.What)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	after := ""
	if e.Timeout > 0 && e.Err == nil {
		after = fmt.Sprintf(" after %s (timeout = %s)", e.Timeout, e.Timeout)
		if len(e.Units) == 0 {
			b.WriteString(": no answer" + after)
		}
	}
	for i, u := range e.Units {
		sep := ": "
		if i > 0 || e.Err != nil {
			sep = "\n"
		}
		b.WriteString(sep + u.Unit + " is not active" + after + ": " + u.String())
		if u.Journal == "" {
			continue
		}
		b.WriteString("; its last journal lines:")
		for _, l := range strings.Split(u.Journal, "\n") {
			b.WriteString("\n    " + l)
		}
	}
	return remote.Printable(b.String())
}

// Unwrap returns systemctl's error and ErrNotActive when units are not
// active.
func (e *UnitError) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if len(e.Units) > 0 {
		errs = append(errs, ErrNotActive)
	}
	return errs
}
