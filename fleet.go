package porter

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/porter-deploy/porter/remote"
)

// Deploy deploys every module of p to every host of opts.Target, and
// returns what it did. The Report is never nil.
//
// Before anything connects it loads each host's modules (its own Modules
// and plugin instances) and makes the checks of every source that need no
// fetch (its [scm] url and release). It then checks every module's source
// out once, shared read-only by all hosts, while it dials every host (a
// checkout that fails closes those connections unused: the hosts saw a
// login, no command; see SECURITY.md), and takes every
// host's module locks in one global order (address, then module path), all
// or nothing: a lock another deploy holds stops the deploy before any host
// changes and names the holder (with KeepGoing, that host is skipped), so
// two deploys over the same hosts never interleave or deadlock.
//
// Then it deploys the hosts, Target.Parallel at once (Batch at a time for a
// rolling deploy), each over one SSH connection, its modules in dependency
// order. A module that fails runs its SigDeployFailed handlers and the
// host's later modules are not run; once MaxFailures hosts failed no new
// host starts, while those in flight finish. Every host of a deploy gets
// the same release id (strategy = releases).
//
// The error is nil when every host went through; for a target of one host
// it is that host's error, else a *FleetError.
func Deploy(ctx context.Context, p *Project, opts Options) (_ *Report, err error) {
	start := time.Now()
	rep := &Report{}
	defer func() { rep.Duration = time.Since(start) }()
	fl, err := newFleet(p, opts, rep)
	if err != nil {
		return rep, err
	}
	fl.ev.emit(Event{Type: EventDeployStart, Hosts: len(fl.hosts)})
	defer func() {
		fl.hostsEnd()
		fl.ev.emit(Event{Type: EventDeployEnd, Err: err, Duration: time.Since(start), Totals: rep.Totals()})
	}()
	for _, fh := range fl.hosts {
		for _, m := range fh.mods {
			m.releaseAt = start
		}
	}
	if err := fl.checkSources(); err != nil {
		return rep, err
	}
	defer fl.close()
	// The hosts are dialled while the sources are checked out: a checkout
	// that fails closes the connections unused (no session, nothing
	// written), bad input having stopped the deploy before the dial.
	connected := fl.startConnect(ctx)
	defer connected(false) // a checkout that failed, or panicked
	if err := fl.checkout(ctx); err != nil {
		return rep, err
	}
	connected(true)
	if fl.lockAll(ctx) {
		fl.rollout(ctx)
	}
	fl.unlockAll(ctx) // hosts that never started
	return rep, fleetError(rep)
}

// fleet is one deploy (or rollback) over its hosts.
type fleet struct {
	opts  Options
	hosts []*fleetHost
	verb  string // "rollback" for a rollback's errors; "" = deploy
	ev    *events

	mu       sync.Mutex
	failures int
}

type fleetHost struct {
	th       TargetHost
	mods     []*Module
	rep      *HostReport
	conn     *remote.Host
	locks    []func(*error) // releases of the locks taken, in order
	started  bool
	ended    bool          // its HostEnd event is sent
	lockTook time.Duration // the time its locks took to take
}

func newFleet(p *Project, opts Options, rep *Report) (*fleet, error) {
	if err := opts.defaults(p, true); err != nil {
		return nil, err
	}
	hs, err := opts.Target.hosts(p)
	if err != nil {
		return nil, err
	}
	fl := &fleet{opts: opts, ev: newEvents(opts)}
	reports := make([]HostReport, len(hs))
	sources := newSourceCache()
	for i, h := range hs {
		mods, err := loadHost(p, h, &fl.opts, true)
		if err != nil {
			return nil, err
		}
		reports[i] = HostReport{Host: h.Name, Address: h.Address}
		for _, m := range mods {
			m.sources, m.events = sources, fl.ev
			reports[i].Modules = append(reports[i].Modules, ModuleReport{Module: m.Name(), Outcome: NotStarted})
		}
		fl.hosts = append(fl.hosts, &fleetHost{th: h, mods: mods, rep: &reports[i]})
	}
	rep.Hosts = reports // whole or not at all: a load error reports no host
	return fl, nil
}

// checkSources makes the checks of every module's checkout that need
// neither the network nor a read of the tree: a bad [scm] url or release
// stops the deploy before anything connects.
func (fl *fleet) checkSources() error {
	for _, fh := range fl.hosts {
		for _, m := range fh.mods {
			err := m.checkSource()
			if err == nil && m.sources != nil {
				_, err = m.sources.claim(m)
			}
			if err != nil {
				return fmt.Errorf("deploy %s to %s: %w", m.Name(), fh.th.Name, err)
			}
		}
	}
	return nil
}

// checkout gets every module's source before any host is locked: a source
// that cannot be fetched stops the deploy before any host changes.
func (fl *fleet) checkout(ctx context.Context) error {
	for _, fh := range fl.hosts {
		for _, m := range fh.mods {
			co, err := m.Checkout(ctx)
			if err == nil {
				err = m.checkConfigParents(co.Dir)
			}
			if err != nil {
				return fmt.Errorf("deploy %s to %s: %w", m.Name(), fh.th.Name, err)
			}
		}
	}
	return nil
}

// connect dials every host, Parallel at once; a host that cannot be
// reached fails (and counts towards MaxFailures).
func (fl *fleet) connect(ctx context.Context) { fl.startConnect(ctx)(true) }

// startConnect dials every host in the background, Parallel at once, and
// returns the call that waits for the dials. Given true, a host that could
// not be reached fails (and counts towards MaxFailures) and the others are
// the fleet's connections: each is reported (its EventHostConnected, or
// its failure) once the call is made and its dial has ended. Given false
// (the checkout made meanwhile failed), no dial starts any more, those
// still running are stopped and every connection made is closed unused.
// Only the first call counts.
func (fl *fleet) startConnect(ctx context.Context) func(keep bool) {
	dctx, cancel := context.WithCancel(ctx)
	gate := make(chan struct{}) // closed once keep is known
	var keep bool
	sem := make(chan struct{}, fl.opts.Target.parallel(len(fl.hosts)))
	var wg sync.WaitGroup
	wg.Add(len(fl.hosts))
	go func() {
		for _, fh := range fl.hosts {
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				var conn *remote.Host
				var took time.Duration
				err := dctx.Err() // stopped: no dial starts
				if err == nil {
					fl.opts.Logger.Info("connecting", "host", fh.th.Name, "address", fh.th.Address)
					t := time.Now()
					conn, err = dial(dctx, fh.th.Address, fl.opts.Logger, fl.opts.Dial)
					took = time.Since(t)
				}
				<-sem
				<-gate
				if !keep {
					if conn != nil {
						conn.Close()
					}
					return
				}
				fh.rep.Timings = append(fh.rep.Timings, Timing{"connect", took})
				if err != nil {
					fl.fail(fh, fmt.Errorf("%s %s: %w", fl.what("", "to"), fh.th.Name, err))
					fl.hostEnd(fh)
					return
				}
				fh.conn = conn
				for _, m := range fh.mods {
					m.host = conn
				}
				fl.ev.emit(Event{Type: EventHostConnected, Host: fh.th.Name, Address: fh.th.Address})
			}()
		}
	}()
	var once sync.Once
	return func(k bool) {
		once.Do(func() {
			keep = k
			if !keep {
				cancel()
			}
			close(gate)
			wg.Wait()
			cancel()
		})
	}
}

func (fl *fleet) fail(fh *fleetHost, err error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fh.rep.Err = err
	fl.failures++
}

// stopping reports whether no new host may start.
func (fl *fleet) stopping() bool {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return !fl.opts.KeepGoing && fl.failures >= fl.opts.MaxFailures
}

// lockAll takes the module locks of every reachable host, in one global
// order. It reports whether the rollout may start: false when a lock was
// held (without KeepGoing: every lock taken is then released) or when the
// failures so far already reach MaxFailures.
func (fl *fleet) lockAll(ctx context.Context) bool {
	if fl.stopping() {
		fl.notStarted("a host could not be reached", nil)
		return false
	}
	type want struct {
		fh *fleetHost
		m  *Module
	}
	var order []want
	for _, fh := range fl.hosts {
		if fh.conn != nil {
			for _, m := range fh.mods {
				order = append(order, want{fh, m})
			}
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.fh.th.Address != b.fh.th.Address {
			return a.fh.th.Address < b.fh.th.Address
		}
		if a.m.path != b.m.path {
			return a.m.path < b.m.path
		}
		return a.m.Name() < b.m.Name()
	})
	for _, w := range order {
		if w.fh.rep.Err != nil {
			continue // KeepGoing: this host is skipped already
		}
		t := time.Now()
		unlock, err := w.m.lock(ctx, fl.opts.Who)
		w.fh.lockTook += time.Since(t)
		if err == nil {
			w.fh.locks = append(w.fh.locks, unlock)
			continue
		}
		err = fmt.Errorf("%s %s: %w", fl.what(w.m.Name(), "to"), w.fh.th.Name, err)
		for i, m := range w.fh.mods {
			if m == w.m {
				w.fh.rep.Modules[i].Outcome, w.fh.rep.Modules[i].Err = Failed, err
			}
		}
		w.fh.release(ctx, &err)
		fl.fail(w.fh, err)
		if !fl.opts.KeepGoing {
			fl.unlockAll(ctx)
			fl.notStarted("the lock of "+w.m.Name()+" on "+w.fh.th.Name+" is held", nil)
			return false
		}
		w.m.log.Warn("skipping the host: a module is locked", "error", err)
	}
	return true
}

// notStarted marks every host that has not started and not failed; cause,
// if any, is what errors.Is finds in their Err (context.Canceled).
func (fl *fleet) notStarted(why string, cause error) {
	for _, fh := range fl.hosts {
		if !fh.started && fh.rep.Err == nil {
			fh.rep.Err = &errNotStarted{why: why, err: cause}
		}
	}
}

// rollout deploys the locked hosts, batch by batch, Parallel at once.
func (fl *fleet) rollout(ctx context.Context) {
	var ready []*fleetHost
	for _, fh := range fl.hosts {
		if fh.rep.Err == nil {
			ready = append(ready, fh)
		}
	}
	batch := fl.opts.Batch
	if batch <= 0 || batch > len(ready) {
		batch = len(ready)
	}
	sem := make(chan struct{}, fl.opts.Target.parallel(batch))
	for lo := 0; lo < len(ready); lo += batch {
		var wg sync.WaitGroup
		for _, fh := range ready[lo:min(lo+batch, len(ready))] {
			sem <- struct{}{}
			if fl.stopping() || ctx.Err() != nil {
				<-sem
				break
			}
			fh.started = true
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				fl.deployHost(ctx, fh)
			}()
		}
		wg.Wait()
		if fl.stopping() || ctx.Err() != nil {
			break
		}
	}
	fl.mu.Lock()
	why := fmt.Sprintf("%d host(s) failed, and max failures is %d", fl.failures, fl.opts.MaxFailures)
	fl.mu.Unlock()
	var cause error
	if ctx.Err() != nil {
		why, cause = "the deploy was stopped", ctx.Err()
	}
	fl.notStarted(why, cause)
}

// deployHost deploys the host's modules in order, then releases its locks.
func (fl *fleet) deployHost(ctx context.Context, fh *fleetHost) {
	start := time.Now()
	var err error
	for i := range fh.mods {
		fh.rep.Modules[i].Outcome = NotRun
	}
	fh.rep.Timings = append(fh.rep.Timings, Timing{"lock", fh.lockTook})
	for i, m := range fh.mods {
		m.lastOnHost = i == len(fh.mods)-1
		if err = deployModule(ctx, m, fl.opts, &fh.rep.Modules[i]); err != nil {
			break
		}
	}
	t := time.Now()
	fh.release(ctx, &err)
	fh.rep.Timings = append(fh.rep.Timings, Timing{"unlock", time.Since(t)})
	fh.rep.Duration = time.Since(start)
	fl.opts.Logger.Debug("timings", append([]any{"host", fh.th.Name}, timingAttrs(fh.rep.Timings)...)...)
	if err != nil {
		fl.fail(fh, err)
	}
	fl.hostEnd(fh)
}

// hostEnd sends the host's HostEnd event, once.
func (fl *fleet) hostEnd(fh *fleetHost) {
	fl.mu.Lock()
	ended := fh.ended
	fh.ended = true
	out, err := fh.rep.Outcome(), fh.rep.Err
	fl.mu.Unlock()
	if !ended {
		fl.ev.emit(Event{Type: EventHostEnd, Host: fh.th.Name, Address: fh.th.Address, Outcome: out, Err: err, Duration: fh.rep.Duration})
	}
}

// hostsEnd sends the HostEnd events of the hosts that have none yet: those
// that were never started, in the target's order.
func (fl *fleet) hostsEnd() {
	for _, fh := range fl.hosts {
		fl.hostEnd(fh)
	}
}

// release releases the host's locks, last taken first, adding what fails to *err.
func (fh *fleetHost) release(ctx context.Context, err *error) {
	for i := len(fh.locks) - 1; i >= 0; i-- {
		fh.locks[i](err)
	}
	fh.locks = nil
}

// unlockAll releases the locks of every host not deploying.
func (fl *fleet) unlockAll(ctx context.Context) {
	for _, fh := range fl.hosts {
		if fh.started || len(fh.locks) == 0 {
			continue
		}
		var err error
		fh.release(ctx, &err)
		if err != nil {
			fh.rep.Err = errors.Join(fh.rep.Err, err)
		}
	}
}

func (fl *fleet) close() {
	for _, fh := range fl.hosts {
		if fh.conn != nil {
			fh.conn.Close()
		}
	}
}

// what names the fleet's work in an error: "deploy api to", "rollback api
// on" (module "" for the host itself).
func (fl *fleet) what(module, to string) string {
	verb := "deploy"
	if fl.verb != "" {
		verb, to = fl.verb, "on"
	}
	if module == "" {
		return verb + " " + to
	}
	return verb + " " + module + " " + to
}

// lockedFleet connects to every host of hs and takes every module lock in
// the global order, all or nothing, as Deploy does, for a rollback. The
// error joins those of the hosts that could not be reached or locked. The
// caller closes the fleet and releases its locks (unlockAll).
func lockedFleet(ctx context.Context, opts Options, hs []*hostCall) (*fleet, error) {
	reports := make([]HostReport, len(hs))
	fl := &fleet{opts: opts, verb: "rollback"}
	for i, hc := range hs {
		reports[i] = HostReport{Host: hc.Name, Address: hc.Address, Modules: make([]ModuleReport, len(hc.mods))}
		fl.hosts = append(fl.hosts, &fleetHost{th: hc.TargetHost, mods: hc.mods, rep: &reports[i]})
	}
	fl.connect(ctx)
	fl.lockAll(ctx)
	var errs []error
	for _, fh := range fl.hosts {
		if fh.rep.Err != nil && !isNotStarted(fh.rep.Err) {
			errs = append(errs, fh.rep.Err)
		}
	}
	return fl, errors.Join(errs...)
}

// each runs fn for every connected host, Parallel at once, and returns
// each host's error.
func (fl *fleet) each(fn func(i int, fh *fleetHost) error) []error {
	errs := make([]error, len(fl.hosts))
	sem := make(chan struct{}, fl.opts.Target.parallel(len(fl.hosts)))
	var wg sync.WaitGroup
	for i, fh := range fl.hosts {
		if fh.conn == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i, fh)
		}()
	}
	wg.Wait()
	return errs
}
