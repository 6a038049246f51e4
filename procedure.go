package porter

import (
	"context"
	"fmt"
	"time"

	"github.com/porter-deploy/porter/rsync"
)

// deployProcedure is the default handler of SigDeploy: the original's
// deploy procedure.
func deployProcedure(ctx context.Context, m *Module, _ any) error {
	if err := m.Signal(ctx, SigDeployStart, nil); err != nil {
		return err
	}
	co, err := m.Checkout(ctx)
	if err != nil {
		return err
	}
	m.log.Info("source", "version", co.Version, "ref", co.Ref)
	releases := m.Strategy() == StrategyReleases
	if releases {
		if err := m.beginRelease(ctx, co.Version, m.who); err != nil {
			return err
		}
	}
	for _, sig := range []Signal{SigSourcePreSend, SigSourceSend, SigSourcePostSend, SigDeployFinish} {
		if sig == SigSourcePostSend && releases {
			if err := m.linkShared(ctx); err != nil {
				return err
			}
		}
		if sig == SigDeployFinish && releases {
			if err := m.activateRelease(ctx); err != nil {
				return err
			}
		}
		if err := m.Signal(ctx, sig, nil); err != nil {
			return err
		}
	}
	return nil
}

// sendSource is the default handler of SigSourceSend: sync the checkout to
// the module's path, skipping .git*, [module] exclude and the files of
// [module] config, deleting what the source no longer has only when
// [module] delete is true. [module] use_rsync = false skips it.
func sendSource(ctx context.Context, m *Module, _ any) error {
	s := m.Settings()
	use, err := s.Bool("use_rsync", true)
	if err != nil {
		return err
	}
	if !use {
		m.Skip("source send", "use_rsync = false")
		return nil
	}
	del, err := s.Bool("delete", false)
	if err != nil {
		return err
	}
	// The files of [module] config are the config's: never sent from the
	// source, never deleted.
	configs, err := m.configExcludes()
	if err != nil {
		return err
	}
	co, err := m.Checkout(ctx)
	if err != nil {
		return err
	}
	if co.Dir == "" {
		m.Skip("source send", "the source has no files to send")
		return nil
	}
	if m.host == nil {
		return fmt.Errorf("module %s is not connected to a host", m.Name())
	}
	opts := rsync.Options{
		Exclude:  append(append([]string{".git*"}, s.List("exclude")...), configs...),
		Delete:   del,
		Logger:   m.log,
		Progress: progressLog(m.log, time.Now),
		// progressLog logs once a second: no need for rsync's 10 calls.
		ProgressInterval: progressEvery,
	}
	if m.events != nil {
		logp := opts.Progress
		if m.events.progressOnly {
			logp = func(rsync.Progress) {}
		}
		opts.Progress = func(p rsync.Progress) {
			logp(p)
			m.events.emit(Event{Type: EventProgress, Host: m.hostName, Module: m.Name(), Step: SigSourceSend, Progress: &p})
		}
		opts.ProgressInterval = progressEventEvery
	}
	if m.build != nil {
		// A release is exactly the source: what the seed copied from the
		// current release and the source no longer has goes. The shared
		// names are links to shared/, never sent or deleted.
		if err := m.checkSharedNotShipped(co.Dir); err != nil {
			return err
		}
		opts.Delete = true
		opts.Exclude = append(opts.Exclude, m.sharedExcludes()...)
	}
	if m.previous != nil {
		// Files changed within the second the last deploy read them look
		// unchanged by size and mtime: compare those by content.
		opts.RacyAfter = m.previous.StartedAt
	}
	if m.build != nil {
		// The same, for the release the new one was seeded from; a
		// recycled release takes what changed since from the current one.
		if !m.build.racyAfter.IsZero() {
			opts.RacyAfter = m.build.racyAfter
		}
		opts.Basis, opts.BasisRacyAfter = m.build.basis, m.build.basisRacyAfter
	}
	stats, err := rsync.Sync(ctx, m.host, co.Dir, m.Path(), opts)
	m.recordSync(stats)
	if err != nil {
		return err
	}
	m.log.Info("source sent", "path", m.Path(), "files", stats.Sent, "bytes", stats.BytesSent, "deleted", stats.Deleted, "unchanged", stats.Unchanged)
	return nil
}
