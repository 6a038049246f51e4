package porter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/porter-deploy/porter/rsync"
	"github.com/porter-deploy/porter/scm"
)

// deployProcedure is the default handler of SigDeploy: it sends
// SigDeployStart, checks the source out, then sends SigSourcePreSend,
// SigSourceSend, SigSourcePostSend and SigDeployFinish; with strategy =
// releases it starts the release after the checkout, links the shared
// names before SigSourcePostSend and switches current before
// SigDeployFinish.
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
		t := time.Now()
		if err := m.beginRelease(ctx, co.Version, m.who); err != nil {
			return err
		}
		m.timed("seed", t)
	}
	for _, sig := range []Signal{SigSourcePreSend, SigSourceSend, SigSourcePostSend, SigDeployFinish} {
		if sig == SigSourcePostSend && releases {
			if err := m.linkShared(ctx); err != nil {
				return err
			}
		}
		if sig == SigDeployFinish && releases {
			t := time.Now()
			if err := m.activateRelease(ctx); err != nil {
				return err
			}
			m.timed("switch", t)
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
	m.mu.Lock()
	m.srcCheck = 0 // set again once this send is checked
	m.mu.Unlock()
	src, opts, skip, err := m.sourceSync(ctx)
	if err != nil {
		return err
	}
	if skip != "" {
		m.Skip("source send", skip)
		return nil
	}
	if m.host == nil {
		return fmt.Errorf("module %s is not connected to a host", m.Name())
	}
	opts.Logger = m.log
	opts.Progress = progressLog(m.log, time.Now)
	// progressLog logs once a second: no need for rsync's 10 calls.
	opts.ProgressInterval = progressEvery
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
	stats, err := rsync.Sync(ctx, m.host, src, m.Path(), opts)
	m.recordSync(stats)
	if err != nil {
		return err
	}
	if err := m.checkSourceUnchanged(ctx, src); err != nil {
		return err
	}
	m.log.Info("source sent", "path", m.Path(), "files", stats.Sent, "bytes", stats.BytesSent, "deleted", stats.Deleted, "unchanged", stats.Unchanged)
	return nil
}

// checkSourceUnchanged fails the send when the source tree src changed
// since it was checked out (a build writing into a dir:// source, a file
// removed): what was sent would then not be the version the record names.
// Its time is the source-check timing, after list and send (see signal).
func (m *Module) checkSourceUnchanged(ctx context.Context, src string) error {
	co, err := m.Checkout(ctx)
	if err != nil || co.Stamp == "" {
		return err
	}
	t := time.Now()
	now, err := scm.StatDir(ctx, src)
	m.mu.Lock()
	m.srcCheck = time.Since(t)
	m.mu.Unlock()
	if err == nil && now == co.Stamp {
		return nil
	}
	if err == nil {
		err = errors.New("files were added, removed or written")
	}
	return fmt.Errorf("the source %s changed while it was deployed (%w): the host may have a mix of old and new files; deploy again once nothing writes to it", src, err)
}

// checkSyncSettings checks the [module] switches of the source sync when
// the module is loaded, so that a bad one stops the deploy before anything
// connects rather than at the send, with the module's lock taken.
func (m *Module) checkSyncSettings() error {
	s := m.Settings()
	for _, key := range []string{"use_rsync", "delete"} {
		if _, err := s.Bool(key, false); err != nil {
			return fmt.Errorf("module %s: %w", m.Name(), err)
		}
	}
	return nil
}

// sourceSync returns the checkout's directory and the options of the
// source sync, or why the send is skipped: one recipe for the send and
// for a plan of it.
func (m *Module) sourceSync(ctx context.Context) (src string, opts rsync.Options, skip string, err error) {
	s := m.Settings()
	use, err := s.Bool("use_rsync", true)
	if err != nil {
		return "", opts, "", err
	}
	if !use {
		return "", opts, "use_rsync = false", nil
	}
	del, err := s.Bool("delete", false)
	if err != nil {
		return "", opts, "", err
	}
	// The files of [module] config are the config's: never sent from the
	// source, never deleted.
	configs, err := m.configExcludes()
	if err != nil {
		return "", opts, "", err
	}
	co, err := m.Checkout(ctx)
	if err != nil {
		return "", opts, "", err
	}
	if co.Dir == "" {
		return "", opts, "the source has no files to send", nil
	}
	opts = rsync.Options{
		Exclude: append(append([]string{".git*"}, s.List("exclude")...), configs...),
		Delete:  del,
		// The host's last module that runs no command wants no shell
		// once it is sent.
		NoShellAfter: m.lastOnHost && !m.mayRunCommands(),
	}
	if m.build != nil {
		// A release is exactly the source: what the seed copied from the
		// current release and the source no longer has goes. The shared
		// names are links to shared/, never sent or deleted.
		if err := m.checkSharedNotShipped(co.Dir); err != nil {
			return "", opts, "", err
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
		// Nothing runs from the release before current is switched to it,
		// and a failed one is discarded: copies go straight into place.
		opts.NotLive = true
		// A release seeded with hard links (now or when it was made, if
		// it is recycled) shares its files' inodes with older ones.
		opts.LinkedDst = m.rel.seed == seedHardlink
	}
	return co.Dir, opts, "", nil
}
