package porter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
)

// Strategy is how a deploy lands a module's source on the host: [module]
// strategy.
type Strategy string

// The strategies.
const (
	// StrategyInPlace syncs the source into the module's path itself (the default).
	StrategyInPlace Strategy = "inplace"
	// StrategyReleases builds each deploy in <path>/releases/<id>/, seeded on the
	// host so that only changes travel (the release keep_releases would
	// remove is recycled and brought up to date from the current one, else
	// the current one is copied), then switches the link <path>/current to
	// it atomically.
	StrategyReleases Strategy = "releases"
)

// DefaultKeepReleases is how many releases [module] keep_releases keeps by
// default.
const DefaultKeepReleases = 5

// releaseSettings are a module's [module] strategy, keep_releases and
// shared, checked.
type releaseSettings struct {
	strategy Strategy
	keep     int
	shared   []string // relative names, cleaned; a trailing "/" kept
	seed     string   // seedCopy or seedHardlink
}

// The ways a new release is seeded from the current one ([module] seed).
const (
	seedCopy     = "copy"     // a copy of every file (reflinked where the file system can)
	seedHardlink = "hardlink" // hard links: fast, but a handler that writes into a file in place changes it in every release
)

// loadReleaseSettings reads and checks them, naming the file and key of a
// bad value.
func (m *Module) loadReleaseSettings() error {
	s := m.Settings()
	rs := releaseSettings{strategy: Strategy(strings.ToLower(s.String("strategy", string(StrategyInPlace))))}
	if rs.strategy != StrategyInPlace && rs.strategy != StrategyReleases {
		return &SettingError{Where: s.Where(), Key: "strategy", Value: string(rs.strategy), Want: "inplace or releases"}
	}
	keep, err := s.Int("keep_releases", DefaultKeepReleases)
	if err != nil {
		return err
	}
	if keep < 1 {
		return &SettingError{Where: s.Where(), Key: "keep_releases", Value: fmt.Sprint(keep), Want: "a whole number of 1 or more"}
	}
	rs.keep = keep
	rs.seed = strings.ToLower(s.String("seed", seedCopy))
	if rs.seed != seedCopy && rs.seed != seedHardlink {
		return &SettingError{Where: s.Where(), Key: "seed", Value: rs.seed, Want: "copy or hardlink"}
	}
	for _, n := range s.List("shared") {
		clean := path.Clean(strings.TrimSuffix(n, "/"))
		if !filepath.IsLocal(clean) || clean == "." || strings.ContainsAny(n, "\x00\\") || clean == ledger.Dir {
			return &SettingError{Where: s.Where(), Key: "shared", Value: n, Want: "names relative to the module's path, without \"..\" (e.g. media, logs/, .env)"}
		}
		if strings.HasSuffix(n, "/") {
			clean += "/"
		}
		rs.shared = append(rs.shared, clean)
	}
	m.rel = rs
	return nil
}

// Strategy returns the module's [module] strategy.
func (m *Module) Strategy() Strategy { return m.rel.strategy }

// Base returns [module] path: where the module lives on the host. In
// place, it is the source tree itself (as Path); with strategy = releases
// it holds releases/, the link current and shared/.
func (m *Module) Base() string { return m.path }

// CurrentPath returns the path of what runs on the host: <path>/current
// with strategy = releases (a link to the live release), else the path.
func (m *Module) CurrentPath() string {
	if m.rel.strategy == StrategyReleases {
		return path.Join(m.path, ledger.CurrentLink)
	}
	return m.path
}

// releaseBuild is the release a deploy makes, or a rollback goes to.
type releaseBuild struct {
	rel      ledger.Release // as recorded when the deploy began it
	id       string
	previous string // the release current pointed to before ("" none)
	switched bool   // current was switched to id

	// For the sync: when the release the seed came from was synced (its
	// files changed at or after it are compared by content), and, for a
	// recycled release, the current one to copy unchanged files from.
	racyAfter      time.Time
	basis          string
	basisRacyAfter time.Time
}

// sharedExcludes are the sync's excludes for the shared names: they are
// links to shared/, never sent or deleted.
func (m *Module) sharedExcludes() []string {
	var out []string
	for _, n := range m.rel.shared {
		out = append(out, "/"+strings.TrimSuffix(n, "/"))
	}
	return out
}

// checkSharedNotShipped fails when the source ships one of the shared
// names.
func (m *Module) checkSharedNotShipped(srcDir string) error {
	for _, n := range m.rel.shared {
		n = strings.TrimSuffix(n, "/")
		if _, err := os.Lstat(filepath.Join(srcDir, filepath.FromSlash(n))); err == nil {
			return fmt.Errorf("[module] shared names %s, but the source ships %s too: remove it from the source or from shared", n, n)
		}
	}
	return nil
}

// beginRelease removes what earlier deploys left half-built or failed,
// records the new release as building, and seeds its directory on the
// host: from the release keep_releases would remove once this one is good
// (renamed, nothing copied: the sync then copies on the host, from the
// current release, what changed since, and sends only what the current
// release lacks), else from a copy of the current release (never hard
// links unless seed = hardlink: a handler that appends to a file of the
// new release must leave the older ones untouched). From here on m.Path()
// is the new release.
func (m *Module) beginRelease(ctx context.Context, version, who string) error {
	pl := m.place()
	cur, err := pl.Current(ctx)
	if err != nil {
		return err
	}
	rels, err := pl.Releases(ctx)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	var kept []ledger.Release // oldest first
	for _, r := range rels {
		taken[r.ID] = true
		if r.State != ledger.Good && !r.Current {
			m.log.Info("removing a release an earlier deploy left", "release", r.ID, "state", r.State)
			if err := pl.RemoveRelease(ctx, r.ID); err != nil {
				return err
			}
			continue
		}
		kept = append(kept, r)
	}
	// One id on every host of a deploy: it is named by the deploy's start.
	at := m.releaseAt
	if at.IsZero() {
		at = time.Now()
	}
	id := ledger.NewReleaseID(at, version)
	for i := 2; taken[id]; i++ {
		id = fmt.Sprintf("%s-%d", ledger.NewReleaseID(at, version), i)
	}
	rel := ledger.Release{ID: id, Version: version, State: ledger.Building, Started: time.Now().UTC(), By: who}
	b := &releaseBuild{rel: rel, id: id, previous: cur}
	var live *ledger.Release
	for i := range kept {
		if kept[i].ID == cur {
			live = &kept[i]
		}
	}
	if r := recyclable(kept, m.rel.keep); r != nil && live != nil && !live.Started.IsZero() {
		if err := pl.RecycleRelease(ctx, r.ID, rel); err != nil {
			return err
		}
		m.build = b
		b.racyAfter, b.basis, b.basisRacyAfter = r.Started, pl.ReleasePath(cur), live.Started
		m.log.Info("release started", "release", id, "from", r.ID+" (recycled, brought up to date from "+cur+")")
		return nil
	}
	if err := pl.SaveRelease(ctx, rel); err != nil {
		return err
	}
	m.build = b
	q := remote.Quote
	cmd := "cd -P -- " + q(m.path) + " && mkdir -p -- " + ledger.ReleasesDir + " && mkdir -- " + q(ledger.ReleasesDir+"/"+id)
	if cur != "" {
		from, to := q(ledger.ReleasesDir+"/"+cur+"/."), q(ledger.ReleasesDir+"/"+id+"/")
		if m.rel.seed == seedHardlink {
			cmd += " && cp -al -- " + from + " " + to
		} else {
			cmd += " && { cp -a --reflink=auto -- " + from + " " + to + " 2>/dev/null || cp -a -- " + from + " " + to + "; }"
		}
		if live != nil {
			b.racyAfter = live.Started
		}
	}
	if _, err := m.host.Run(ctx, cmd); err != nil {
		if errors.Is(err, remote.ErrShellBroken) {
			// An SFTP-only account, a login shell that fails: inplace
			// needs no shell, releases do.
			return fmt.Errorf("make release %s from %s: strategy = releases makes, seeds, switches and removes releases with commands in a remote shell, which this host did not give (strategy = inplace needs none): %w", id, orNone(cur), err)
		}
		return fmt.Errorf("make release %s from %s: %w", id, orNone(cur), err)
	}
	m.log.Info("release started", "release", id, "from", orNone(cur))
	return nil
}

// recyclable returns the release that keep_releases would remove once a
// new one is good (the oldest that is not current, when keeping the new
// one would make more than keep), or nil. kept holds the current release
// and good ones only.
func recyclable(kept []ledger.Release, keep int) *ledger.Release {
	if len(kept)+1 <= keep {
		return nil
	}
	for i := range kept {
		if !kept[i].Current && !kept[i].Started.IsZero() {
			return &kept[i]
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// linkShared links each shared name of the new release to <path>/shared/,
// making what shared/ lacks: a directory for a name ending in "/" or
// without a "." in its last element, else an empty file (mode 0600).
func (m *Module) linkShared(ctx context.Context) error {
	if len(m.rel.shared) == 0 {
		return nil
	}
	q := remote.Quote
	var b strings.Builder
	b.WriteString("set -e; cd -P -- " + q(m.path) + "; mkdir -p -- " + ledger.SharedDir)
	for _, n := range m.rel.shared {
		dir := strings.HasSuffix(n, "/") || !strings.Contains(path.Base(n), ".")
		n = strings.TrimSuffix(n, "/")
		shared := ledger.SharedDir + "/" + n
		link := ledger.ReleasesDir + "/" + m.build.id + "/" + n
		target := strings.Repeat("../", strings.Count(n, "/")+2) + shared
		b.WriteString("; if [ ! -e " + q(shared) + " ] && [ ! -h " + q(shared) + " ]; then mkdir -p -- " + q(path.Dir(shared)))
		if dir {
			b.WriteString("; mkdir -- " + q(shared))
		} else {
			b.WriteString("; (umask 077; : > " + q(shared) + ")")
		}
		b.WriteString("; fi; mkdir -p -- " + q(path.Dir(link)) + "; rm -rf -- " + q(link) + "; ln -s -- " + q(target) + " " + q(link))
	}
	if _, err := m.host.Run(ctx, b.String()); err != nil {
		return fmt.Errorf("link the shared names into release %s: %w", m.build.id, err)
	}
	return nil
}

// activateRelease switches current to the new release.
func (m *Module) activateRelease(ctx context.Context) error {
	if err := m.place().Activate(ctx, m.build.id); err != nil {
		return err
	}
	m.build.switched = true
	m.log.Info("current switched", "release", m.build.id, "was", orNone(m.build.previous))
	return nil
}

// abortRelease puts current back where it was when the new release had
// been switched to, and marks the release failed. It runs before the
// SigDeployFailed handlers, so that they restart services on the old code.
func (m *Module) abortRelease(ctx context.Context) error {
	b := m.build
	if b == nil {
		return nil
	}
	pl := m.place()
	var err error
	if b.switched {
		if b.previous != "" {
			err = pl.Activate(ctx, b.previous)
		} else if c, serr := m.host.SFTP(ctx); serr != nil {
			err = serr
		} else if rerr := c.Remove(pl.CurrentPath()); rerr != nil {
			err = fmt.Errorf("remove %s: %w", pl.CurrentPath(), rerr)
		}
		if err == nil {
			b.switched = false
			m.log.Info("current switched back", "release", orNone(b.previous))
		}
	}
	return also(err, m.saveBuild(ctx, ledger.Failed))
}

// rollBackFinished goes back from the new release, which is live and
// finished but failed its health check, to the release current pointed to
// before, sending SigRollbackStart and SigRollbackFinish as Rollback does
// (so that services restart on the old code); abortRelease then marks the
// new release failed. A first deploy has nothing to go back to:
// abortRelease removes current.
func (m *Module) rollBackFinished(ctx context.Context) error {
	b := m.build
	if b == nil || !b.switched || b.previous == "" {
		return nil
	}
	rels, err := m.place().Releases(ctx)
	if err != nil {
		return err
	}
	to := ledger.Release{ID: b.previous}
	for _, r := range rels {
		if r.ID == b.previous {
			to = r
		}
	}
	from := b.rel
	from.State = ledger.Failed
	return m.rollbackTo(ctx, &RollbackInfo{From: from, To: to}, func(context.Context) error {
		b.switched = false
		m.log.Info("current switched back", "release", b.previous)
		return nil
	})
}

// removeFailedRelease removes the failed release's directory after the
// SigDeployFailed handlers ran; where it cannot, the next deploy does.
func (m *Module) removeFailedRelease(ctx context.Context) {
	b := m.build
	if b == nil || b.switched {
		return
	}
	if err := m.place().RemoveRelease(ctx, b.id); err != nil {
		m.log.Warn("could not remove the failed release: the next deploy removes it", "release", b.id, "error", err)
	}
}

// saveBuild records the new release's state.
func (m *Module) saveBuild(ctx context.Context, st ledger.ReleaseState) error {
	r := m.build.rel
	r.State, r.Finished = st, time.Now().UTC().Truncate(time.Second)
	return m.place().SaveRelease(ctx, r)
}

// pruneReleases removes the oldest releases beyond keep_releases, never
// the current one nor the one just built.
func (m *Module) pruneReleases(ctx context.Context) error {
	pl := m.place()
	rels, err := pl.Releases(ctx)
	if err != nil {
		return err
	}
	extra := len(rels) - m.rel.keep
	for _, r := range rels {
		if extra <= 0 {
			break
		}
		if r.Current || r.ID == m.build.id {
			continue
		}
		if err := pl.DiscardRelease(ctx, r.ID); err != nil {
			return err
		}
		m.log.Info("old release removed", "release", r.ID)
		extra--
	}
	return nil
}
