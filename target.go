package porter

import (
	"context"
	"fmt"
	"sync"

	"github.com/porter-deploy/porter/remote"
)

// MaxParallel is the most hosts a call works on at once, and the default:
// every host of a target at once up to this many. Each host costs one SSH
// connection (a few goroutines and buffers) while it is worked on.
const MaxParallel = 64

// Target says which hosts a call acts on and how it reaches them. Deploy,
// Status, Releases, Rollback and Unlock take the same one.
type Target struct {
	// Host names the hosts: a [hosts] name (a host or a group), an address
	// a group lists, or a comma list of these ("web1,db"). Required.
	Host string
	// Address replaces the address of Host when Host names one host (a
	// test server, say).
	Address string
	// Addresses replace addresses by host (TargetHost.Name): test servers
	// for a group's hosts, say.
	Addresses map[string]string
	// Dial configures every SSH connection (known_hosts, keys, ...).
	Dial []remote.Option
	// Parallel is the most hosts worked on at once (default and cap
	// MaxParallel).
	Parallel int
}

// hosts resolves t in p, with its addresses replaced.
func (t Target) hosts(p *Project) ([]TargetHost, error) {
	if t.Host == "" {
		return nil, fmt.Errorf("no host given (Target.Host): %w; %s", ErrUnknownHost, p.validHosts())
	}
	hs, err := p.Resolve(t.Host)
	if err != nil {
		return nil, err
	}
	if t.Address != "" {
		if len(hs) != 1 {
			return nil, fmt.Errorf("%s names %d hosts: Address replaces the address of one; use Addresses for several", t.Host, len(hs))
		}
		hs[0].Address = t.Address
	}
	at := map[string]string{}
	for i, h := range hs {
		if a, ok := t.Addresses[h.Name]; ok && a != "" {
			hs[i].Address = a
		}
		// The [hosts] addresses are checked at load; these replace them.
		if err := remote.CheckAddress(hs[i].Address); err != nil {
			return nil, fmt.Errorf("host %s: %w: give user@host[:port]", h.Name, err)
		}
		// One machine under two names would be deployed twice at once.
		if other, dup := at[hs[i].Address]; dup {
			return nil, fmt.Errorf("%s: %s and %s are both %s: name the host once", t.Host, other, h.Name, hs[i].Address)
		}
		at[hs[i].Address] = h.Name
	}
	return hs, nil
}

// parallel is how many hosts of n are worked on at once.
func (t Target) parallel(n int) int {
	p := t.Parallel
	if p <= 0 || p > MaxParallel {
		p = MaxParallel
	}
	return max(1, min(p, n))
}

// eachHost runs fn for every host, at most t.parallel at once, each with
// its own connection, closed when fn returns. fn gets a nil connection and
// the dial error when a host cannot be reached.
func (t Target) eachHost(ctx context.Context, hs []TargetHost, dialFn func(context.Context, TargetHost) (*remote.Host, error),
	fn func(i int, h TargetHost, conn *remote.Host, err error)) {
	sem := make(chan struct{}, t.parallel(len(hs)))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			conn, err := dialFn(ctx, h)
			if conn != nil {
				defer conn.Close()
			}
			fn(i, h, conn, err)
		}()
	}
	wg.Wait()
}

// hostCall is one host of a read or rollback call: its modules, and its
// connection once connected.
type hostCall struct {
	TargetHost
	mods []*Module
	conn *remote.Host
}

// loadHosts resolves opts.Target and loads each host's modules.
func loadHosts(p *Project, opts *Options, needConfig bool) ([]*hostCall, error) {
	if err := opts.defaults(p, needConfig); err != nil {
		return nil, err
	}
	hs, err := opts.Target.hosts(p)
	if err != nil {
		return nil, err
	}
	out := make([]*hostCall, len(hs))
	for i, h := range hs {
		mods, err := loadHost(p, h, opts, needConfig)
		if err != nil {
			return nil, err
		}
		out[i] = &hostCall{TargetHost: h, mods: mods}
	}
	return out, nil
}

// onHosts connects to each host, Parallel at once, and runs fn with the
// host's modules bound to the connection; verb ("status of") prefixes the
// error of a host that cannot be reached. It returns each host's error
// (nil when it went through), each naming its host. The connections are
// closed when onHosts returns.
func onHosts(ctx context.Context, opts Options, hs []*hostCall, verb string, fn func(i int, hc *hostCall) error) []error {
	tg := opts.Target
	hosts := make([]TargetHost, len(hs))
	for i, hc := range hs {
		hosts[i] = hc.TargetHost
	}
	errs := make([]error, len(hs))
	tg.eachHost(ctx, hosts, func(ctx context.Context, h TargetHost) (*remote.Host, error) {
		return dial(ctx, h.Address, opts.Logger, tg.Dial)
	}, func(i int, h TargetHost, conn *remote.Host, err error) {
		if err != nil {
			errs[i] = fmt.Errorf("%s %s: %w", verb, h.Name, err)
			return
		}
		hs[i].conn = conn
		for _, m := range hs[i].mods {
			m.host = conn
		}
		errs[i] = fn(i, hs[i])
	})
	return errs
}
