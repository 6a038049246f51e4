package porter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
)

// UnlockOptions says which modules' locks Unlock removes, on which hosts.
type UnlockOptions struct {
	Target           // the hosts; Host is required
	Modules []string // the modules to unlock; required
	Logger  *slog.Logger
}

// Unlocked is one lock Unlock removed: Held is who held it, nil when the
// module was not locked.
type Unlocked struct {
	Host   string
	Module string
	Held   *ledger.LockInfo
}

// Unlock removes the deploy locks of the named modules on every host of
// the target, whoever holds them, and says who did. A deploy takes over by
// itself a lock whose holder is provably gone (see ledger.Place.Lock):
// Unlock is for the rest, when a person knows the holder is dead. Only the
// modules' paths are loaded, so it works when a module's hook or plugin
// cannot load.
func Unlock(ctx context.Context, p *Project, opts UnlockOptions) ([]Unlocked, error) {
	if len(opts.Modules) == 0 {
		return nil, fmt.Errorf("unlock on %s: no module named", opts.Host)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	hs, err := opts.Target.hosts(p)
	if err != nil {
		return nil, err
	}
	paths := make([]map[string]string, len(hs))
	for i, h := range hs {
		paths[i] = map[string]string{}
		for _, name := range opts.Modules {
			if paths[i][name], err = p.ModulePath(name, h.Override); err != nil {
				return nil, err
			}
		}
	}
	per := make([][]Unlocked, len(hs))
	errs := make([]error, len(hs))
	opts.Target.eachHost(ctx, hs, func(ctx context.Context, h TargetHost) (*remote.Host, error) {
		return dial(ctx, h.Address, opts.Logger, opts.Dial)
	}, func(i int, h TargetHost, conn *remote.Host, err error) {
		if err != nil {
			errs[i] = fmt.Errorf("unlock on %s: %w", h.Name, err)
			return
		}
		for _, name := range opts.Modules {
			held, err := ledger.Place{Host: conn, Module: name, Path: paths[i][name]}.Unlock(ctx)
			if err != nil {
				errs[i] = fmt.Errorf("unlock %s on %s: %w", name, h.Name, err)
				return
			}
			per[i] = append(per[i], Unlocked{Host: h.Name, Module: name, Held: held})
		}
	})
	var out []Unlocked
	for _, u := range per {
		out = append(out, u...)
	}
	return out, errors.Join(errs...)
}
