package porter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/porter-deploy/porter/ledger"
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

// StatusOptions says which hosts Status asks.
type StatusOptions struct {
	Target         // the hosts; Host is required
	Release string // default "stable"
	// Config is the config to compare with; default: the one the host's
	// record names (what a redeploy of the same config would ship).
	Config string
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

// StatusReport is Status's answer, host by host in the target's order.
type StatusReport struct {
	Hosts []HostStatus
}

// HostStatus is what one host runs, module by module in deploy order. Err
// is why the host could not be asked (or not about every module).
type HostStatus struct {
	Host    string
	Address string
	Modules []ModuleStatus
	Err     error
}

// Status reads each module's record and lock from every host of the
// target and compares them with what a deploy would ship now, without
// changing any host. The error joins every host's (each names its host);
// the report holds what the others said.
func Status(ctx context.Context, p *Project, opts StatusOptions) (*StatusReport, error) {
	dopts := Options{Target: opts.Target, Release: opts.Release, Config: opts.Config, Logger: opts.Logger}
	hs, err := loadHosts(p, &dopts, false)
	if err != nil {
		return nil, err
	}
	rep := &StatusReport{Hosts: make([]HostStatus, len(hs))}
	for i, hc := range hs {
		rep.Hosts[i] = HostStatus{Host: hc.Name, Address: hc.Address}
	}
	errs := onHosts(ctx, dopts, hs, "status of", func(i int, hc *hostCall) error {
		for _, m := range hc.mods {
			st, err := moduleStatus(ctx, m, opts.Config)
			if err != nil {
				return fmt.Errorf("status of %s on %s: %w", m.Name(), hc.Name, err)
			}
			rep.Hosts[i].Modules = append(rep.Hosts[i].Modules, st)
		}
		return nil
	})
	for i, err := range errs {
		rep.Hosts[i].Err = err
	}
	return rep, errors.Join(errs...)
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
