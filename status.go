package porter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
)

// State says whether a deploy would deploy a module.
type State string

// The states of a module in a StatusReport.
const (
	StateUpToDate      State = "up to date"
	StateWouldDeploy   State = "would deploy"
	StateNeverDeployed State = "never deployed"
	StateLocked        State = "locked"
)

// StatusOptions says which host Status asks.
type StatusOptions struct {
	Host    string // [hosts] name; required
	Address string // replaces the [hosts] address
	Release string // default "stable"
	// Config is the config to compare with; default: the one the host's
	// record names (what a redeploy of the same config would ship).
	Config string
	Dial   []remote.Option
	Logger *slog.Logger
}

// ModuleStatus is what a host runs for one module and what a deploy would do.
type ModuleStatus struct {
	Module    string
	Path      string
	State     State
	Record    *ledger.Record   // nil when never deployed (or the record is corrupt)
	RecordErr error            // a *ledger.CorruptRecordError, if any
	Lock      *ledger.LockInfo // non-nil when a deploy holds the module
	LockErr   error            // why Lock says nothing: the lock file is too large (ledger.ErrTooLarge)
	Version   string           // what would be deployed now
	Current   string           // with strategy = releases: the release current points to ("" none)
}

// StatusReport is Status's answer, in deploy order.
type StatusReport struct {
	Host    string
	Modules []ModuleStatus
}

// Status reads each module's record and lock from the host and compares
// them with what a deploy would ship now, without changing the host.
func Status(ctx context.Context, p *Project, opts StatusOptions) (*StatusReport, error) {
	dopts := Options{Host: opts.Host, Address: opts.Address, Release: opts.Release, Config: opts.Config,
		Dial: opts.Dial, Logger: opts.Logger}
	mods, err := prepare(p, &dopts, false)
	if err != nil {
		return nil, err
	}
	host, err := dial(ctx, dopts.Address, dopts.Logger, dopts.Dial)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", opts.Host, err)
	}
	defer host.Close()
	rep := &StatusReport{Host: opts.Host}
	for _, m := range mods {
		m.host = host
		st, err := moduleStatus(ctx, m, opts.Config)
		if err != nil {
			return rep, fmt.Errorf("status of %s on %s: %w", m.Name(), opts.Host, err)
		}
		rep.Modules = append(rep.Modules, st)
	}
	return rep, nil
}

func moduleStatus(ctx context.Context, m *Module, config string) (ModuleStatus, error) {
	st := ModuleStatus{Module: m.Name(), Path: m.Path()}
	pl := m.place()
	rec, err := pl.Record(ctx)
	var corrupt *ledger.CorruptRecordError
	if errors.As(err, &corrupt) {
		st.RecordErr = err
	} else if err != nil {
		return st, err
	}
	if rec != nil && config == "" && !validConfigName(rec.Config) {
		// Never walk a path a foreign record names.
		st.RecordErr = &ledger.CorruptRecordError{Path: pl.File("state.json"),
			Err: fmt.Errorf("config %q is not a config name", rec.Config)}
		rec = nil
	}
	st.Record = rec
	if config == "" && rec != nil {
		m.config = rec.Config
	}
	want, err := m.wantRecord(ctx, "")
	if err != nil {
		return st, err
	}
	st.Version = want.Version
	if m.Strategy() == StrategyReleases {
		if st.Current, err = pl.Current(ctx); err != nil {
			return st, err
		}
	}
	st.Lock, err = pl.ReadLock(ctx)
	if errors.Is(err, ledger.ErrTooLarge) {
		// Not porter's lock, but a deploy would stop at it all the same.
		st.Lock, st.LockErr, err = &ledger.LockInfo{}, err, nil
	}
	if err != nil {
		return st, err
	}
	switch {
	case st.Lock != nil:
		st.State = StateLocked
	case rec == nil:
		st.State = StateNeverDeployed
	case upToDate(rec, want):
		st.State = StateUpToDate
	default:
		st.State = StateWouldDeploy
	}
	return st, nil
}

// oneLine returns text that comes from a host made safe to show on one
// line (see ledger.OneLine).
func oneLine(s string) string { return ledger.OneLine(s) }
