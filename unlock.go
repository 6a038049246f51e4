package porter

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
)

// UnlockOptions says which modules' locks Unlock removes, on which host.
type UnlockOptions struct {
	Host    string   // [hosts] name; required
	Address string   // replaces the [hosts] address
	Modules []string // the modules to unlock; required
	Dial    []remote.Option
	Logger  *slog.Logger
}

// Unlocked is one lock Unlock removed: Held is who held it, nil when the
// module was not locked.
type Unlocked struct {
	Module string
	Held   *ledger.LockInfo
}

// Unlock removes the deploy locks of the named modules on a host, whoever
// holds them, and says who did. A deploy takes over by itself a lock whose
// holder is provably gone (see ledger.Place.Lock): Unlock is for the rest,
// when a person knows the holder is dead. Only the modules' paths are
// loaded, so it works when a module's hook or plugin cannot load.
func Unlock(ctx context.Context, p *Project, opts UnlockOptions) ([]Unlocked, error) {
	if len(opts.Modules) == 0 {
		return nil, fmt.Errorf("unlock on %s: no module named", opts.Host)
	}
	addr, err := p.HostAddress(opts.Host)
	if err != nil {
		return nil, err
	}
	if opts.Address != "" {
		addr = opts.Address
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	paths := map[string]string{}
	for _, name := range opts.Modules {
		if paths[name], err = p.ModulePath(name, opts.Host); err != nil {
			return nil, err
		}
	}
	h, err := dial(ctx, addr, opts.Logger, opts.Dial)
	if err != nil {
		return nil, fmt.Errorf("unlock on %s: %w", opts.Host, err)
	}
	defer h.Close()
	var out []Unlocked
	for _, name := range opts.Modules {
		held, err := ledger.Place{Host: h, Module: name, Path: paths[name]}.Unlock(ctx)
		if err != nil {
			return out, fmt.Errorf("unlock %s on %s: %w", name, opts.Host, err)
		}
		out = append(out, Unlocked{Module: name, Held: held})
	}
	return out, nil
}
