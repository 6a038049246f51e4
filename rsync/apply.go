package rsync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/remote"
)

func quote(s string) string { return remote.Quote(s) }

// ErrApplied is returned by Apply on a plan that was applied already.
var ErrApplied = errors.New("rsync: plan already applied: make a new one with Plan")

// maxArgs bounds the arguments of one remote rm command.
const maxArgs = 96 << 10

// Apply makes the changes of the plan on the host: it removes what must go,
// writes new directories, files and links under a staging directory and
// renames each over its final name (a new directory is renamed into place
// whole, with all it holds), then sets modes and mtimes. It returns the
// counts of what it did (the plan's Stats when it succeeds), and how long
// it took (ApplyTook).
//
// Apply trusts the plan: a remote file changed since Plan is overwritten or
// kept as the plan says. On error or cancellation, what was renamed stays
// (each file whole), the rest is removed with the staging directory (with
// Options.NotLive, files are written in place: see there).
func (c *Changes) Apply(ctx context.Context) (out Stats, _ error) {
	if c.applied.Swap(true) {
		return Stats{}, ErrApplied
	}
	st := Stats{Files: c.stats.Files, Dirs: c.stats.Dirs, Symlinks: c.stats.Symlinks, BytesTotal: c.stats.BytesTotal,
		Unchanged: c.stats.Unchanged, PlanTook: c.stats.PlanTook}
	start := time.Now()
	defer func() { out.ApplyTook = time.Since(start) }()
	a := &applier{c: c, st: &st, last: start}
	if c.basis == nil {
		a.progress() // the totals are known (else see run: copies may turn into sends)
	}
	defer func() {
		a.progress() // if Apply stopped before run
		a.prog.finish()
	}()
	if c.Empty() {
		c.dropAgent()
		c.log.Info("sync: up to date", "dst", c.dst, "host", c.hostName(), "files", st.Files)
		return st, nil
	}
	for _, ch := range c.list {
		c.log.Debug("sync "+ch.Op.String(), "path", ch.Path, "reason", ch.Reason)
	}
	var ag *agent
	var err, shellErr error
	hooks := c.opts.testHooks()
	if c.pa == nil && !hooks.noShell && !hooks.useShell && c.sharedOK() {
		a.sharedAg = c.idleAgent(ctx, hooks.shared)
	}
	a.noShell = a.sharedAg == nil && c.shellFreeOK() && !hooks.useShell && (hooks.noShell || c.small() && (c.pa == nil || !c.pa.ready()))
	switch {
	case a.sharedAg != nil:
		c.dropAgent()
	case a.noShell:
		c.dropAgent() // not worth waiting for the host's login shell
		if !hooks.noShell && !c.opts.NoShellAfter && c.sharedOK() {
			c.h.PrewarmShell() // for the next syncs to this host
		}
	default:
		ag, err = c.agent(ctx)
		a.mark("wait for the shell")
		if err != nil && ctx.Err() == nil && !hooks.useShell {
			// No remote shell on this host (an SFTP-only account, a
			// login shell that fails): SFTP requests alone apply the
			// plan, the copies from Basis sent unless the SFTP server
			// makes them (see run).
			c.log.Debug("sync transport: no remote shell, SFTP requests only", "dst", c.dst, "err", err)
			c.dropAgent()
			ag, shellErr, err, a.noShell = nil, err, nil, true
		}
	}
	defer c.dropAgent()
	if err == nil {
		err = a.run(ctx, ag)
		if err != nil && shellErr != nil {
			err = fmt.Errorf("%w (with SFTP requests alone, as there was no usable remote shell: %v)", err, shellErr)
		}
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return st, fmt.Errorf("sync %s to %s:%s: %w", c.src, c.hostName(), c.dst, err)
	}
	c.log.Info("sync done", "dst", c.dst, "host", c.hostName(), "took", time.Since(start).Round(time.Millisecond), "stats", st.String())
	return st, nil
}

// sharedBytes bounds the content of a change set sent as one archive
// through an idle pooled shell (it is held in memory).
const sharedBytes = 16 << 20

// idleAgent returns an agent on an idle pooled shell of the host whose
// tar is known, or nil; with wait (tests), it waits for a shell.
func (c *Changes) idleAgent(ctx context.Context, wait bool) *agent {
	var sh *remote.Shell
	if wait {
		sh, _ = c.h.Shell(ctx)
	} else {
		sh = c.h.IdleShell()
	}
	if sh == nil {
		return nil
	}
	ag := newAgent(ctx, sh, c.dst)
	caps, ok := knownCaps(c.h)
	if !ok { // one round trip, once per host
		if err := ag.send(listScript(c.dst, false)); err != nil {
			ag.abort()
			return nil
		}
		got, _, _, _, err := ag.readListing("probe "+c.hostName(), 0)
		if err != nil {
			ag.abort()
			return nil
		}
		caps = got
		rememberCaps(c.h, caps)
	}
	ag.caps = caps
	if !caps.tar {
		ag.release()
		return nil
	}
	return ag
}

// sharedOK reports whether the plan may be applied as one archive through
// an idle pooled shell (see sendTarShared).
func (c *Changes) sharedOK() bool {
	return c.needsStage() && !c.opts.SFTPOnly && !c.opts.Compress && len(c.send) <= smallFiles && c.stats.BytesSent <= sharedBytes
}

// needsStage reports whether Apply writes anything under a staging
// directory: new files, links or directories.
func (c *Changes) needsStage() bool {
	return len(c.send) > 0 || len(c.links) > 0 || len(c.mkdirs) > 1 || len(c.mkdirs) == 1 && c.mkdirs[0].path != ""
}

type applier struct {
	c     *Changes
	st    *Stats
	caps  hostCaps
	last  time.Time
	stage string // staging directory name, relative to dst ("" when none)
	sc    *sftp.Client

	staged   []entry  // files then links
	stagedAt []string // where staged[i] is written, relative to dst
	dirAt    map[string]string
	newDirs  []entry // the new directories but dst itself, parents first
	subRoot  map[string]bool
	renames  []renameItem

	noShell  bool // everything over SFTP: no remote shell at all
	copySFTP bool // the copies from Basis made by the SFTP server (copy-data), in noShell

	sharedAg *agent // an idle pooled shell, for sendTarShared

	basisDirs []string // stage/r<k>: the files copied from Basis, in rounds of distinct names

	// inPlace: dst is not live (Options.NotLive) and tar writes: every new
	// file, link and directory is written at its final name, and the
	// archive ends with the directories whose mode or mtime is set.
	inPlace   bool
	basisSeen map[string]int // name -> rounds that hold it

	treeEntries atomic.Int64 // entries listed by removeTree, against Options.MaxEntries

	renamed atomic.Int64 // files and links in place
	sent    atomic.Int64 // content bytes
	written atomic.Int64 // files and links written in the staging directory (sent, copied or made)
	prog    *reporter    // Options.Progress, once started (nil: none)
}

// renameItem is one rename from the staging directory to the final place:
// a file, a link, or a new directory with everything it holds.
type renameItem struct {
	from, to string // relative to dst
	n        int    // files and links it carries
}

// layout decides where each new directory, file and link is written: the
// top of each new subtree goes to stage/t<i> and is renamed into place
// whole; a file or link in a directory that exists goes to stage/<i> and is
// renamed alone. In place (Options.NotLive, with tar), each is written at
// its final name.
func (a *applier) layout() {
	c := a.c
	a.staged = append(append(a.staged, c.send...), c.links...)
	if !c.needsStage() {
		return
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	a.stage = stagePrefix + hex.EncodeToString(b[:])
	a.dirAt = map[string]string{}
	a.subRoot = map[string]bool{}
	if a.inPlace {
		for _, e := range c.mkdirs {
			if e.path != "" {
				a.newDirs = append(a.newDirs, e)
				a.dirAt[e.path] = e.path
			}
		}
		a.stagedAt = make([]string, len(a.staged))
		for i, e := range a.staged {
			a.stagedAt[i] = e.path
		}
		return
	}
	rootIdx := map[string]int{}
	for _, e := range c.mkdirs {
		if e.path == "" {
			continue
		}
		a.newDirs = append(a.newDirs, e)
		parent := parentDir(e.path)
		if at, ok := a.dirAt[parent]; ok {
			a.dirAt[e.path] = at + "/" + path.Base(e.path)
			rootIdx[e.path] = rootIdx[parent]
			continue
		}
		at := fmt.Sprintf("%s/t%x", a.stage, len(a.renames))
		a.dirAt[e.path] = at
		a.subRoot[e.path] = true
		rootIdx[e.path] = len(a.renames)
		a.renames = append(a.renames, renameItem{from: at, to: e.path})
	}
	a.stagedAt = make([]string, len(a.staged))
	for i, e := range a.staged {
		parent := parentDir(e.path)
		if at, ok := a.dirAt[parent]; ok {
			a.stagedAt[i] = at + "/" + path.Base(e.path)
			a.renames[rootIdx[parent]].n++
			continue
		}
		if c.basis[e.path] && a.copySFTP && c.opts.NotLive {
			a.stagedAt[i] = e.path // copied into place (copyBasisSFTP)
			continue
		}
		at := fmt.Sprintf("%s/%x", a.stage, len(a.renames))
		if c.basis[e.path] && !a.copySFTP {
			at = a.basisAt(e.path)
		}
		a.stagedAt[i] = at
		a.renames = append(a.renames, renameItem{from: at, to: e.path, n: 1})
	}
}

// prepareScript makes dst, removes what must go (each name from inside its
// parent, entered and checked: see enterDir) and makes the staging
// directory, then enters it: what the program does next is relative to it.
// It stops at the first failure (set -e), with statusRefused where a
// directory is not the one listed.
func (a *applier) prepareScript() string {
	c := a.c
	var b strings.Builder
	b.WriteString("set -e; " + shRefuse + "; " + shEnterDst)
	c.staleSteps(&b)
	c.removeSteps(&b, c.remove)
	if a.stage != "" {
		b.WriteString(`; cd -P -- "${R:-/}"; mkdir -m 700 -- ` + quote("./"+a.stage) + "; " + a.enterStage())
		b.WriteString(a.basisSteps())
		b.WriteString(a.inPlaceSteps())
	}
	return b.String()
}

// tarDir is the step that enters the directory the archive is extracted
// in: the staging directory, or dst itself in place.
func (a *applier) tarDir() string {
	if a.inPlace {
		return `cd -P -- "${R:-/}"`
	}
	return a.enterStage()
}

// shellWrites is the part of the prepare script that, without tar, makes
// the new directories and the links in the staging directory (SFTP
// servers do not all store a symlink's target as given).
func (a *applier) shellWrites() string {
	var b strings.Builder
	for i, n := 0, 0; i < len(a.newDirs); i++ {
		if n == 0 {
			b.WriteString("; mkdir --")
		}
		q := " " + quote("./"+a.inStage(a.dirAt[a.newDirs[i].path]))
		b.WriteString(q)
		if n += len(q); n > maxArgs {
			n = 0
		}
	}
	for i, e := range a.staged {
		if e.typ == typeSymlink {
			b.WriteString("; ln -s -- " + quote(e.link) + " " + quote("./"+a.inStage(a.stagedAt[i])))
		}
	}
	return b.String()
}

func (a *applier) run(ctx context.Context, ag *agent) error {
	c := a.c
	var caps hostCaps
	if ag != nil {
		caps = ag.caps
	} else if a.sharedAg != nil {
		caps = a.sharedAg.caps
	}
	a.caps = caps
	useTar := c.needsStage() && caps.tar && !c.opts.SFTPOnly
	a.copySFTP = !useTar && a.noShell && len(c.basis) > 0 && c.copyData
	if !useTar && !a.copySFTP {
		c.dropBasis() // before the layout: no file is staged for a copy
	}
	a.inPlace = useTar && c.opts.NotLive
	a.progress()
	a.layout()
	if a.stage != "" {
		defer a.cleanup(ctx)
	}
	if a.sharedAg != nil && !useTar {
		a.sharedAg.release() // not taken unless useTar: never here
		a.sharedAg = nil
	}
	switch {
	case useTar && a.sharedAg != nil:
		c.log.Debug("sync transport: tar archive into the host's shared shell", "dst", c.dst)
	case useTar:
		c.log.Debug("sync transport: tar stream into the remote shell", "dst", c.dst)
	case a.noShell && a.copySFTP:
		c.log.Debug("sync transport: SFTP requests only (small change set, no remote shell), the SFTP server copying from Basis", "dst", c.dst, "copies", len(c.basis))
	case a.noShell:
		c.log.Debug("sync transport: SFTP requests only (small change set, no remote shell)", "dst", c.dst)
	default:
		c.log.Debug("sync transport: remote shell, then SFTP writes", "dst", c.dst)
	}

	// 1. Prepare (and with tar, write everything new) in one remote command.
	if useTar {
		send := a.sendTar
		if a.sharedAg != nil {
			send = a.sendTarShared
			ag = a.sharedAg
		}
		if err := send(ctx, ag); err != nil {
			return err
		}
		a.wrote(len(c.basis)) // copied by the prepare script
		if a.inPlace {
			a.renamed.Add(int64(len(a.staged))) // all in place already
		}
		a.mark("prepare+tar")
	} else {
		if a.noShell {
			if err := a.prepareSFTP(ctx); err != nil {
				return err
			}
		} else if err := a.prepare(ctx, ag); err != nil {
			return err
		}
		if a.stage != "" {
			if err := a.sftp(ctx); err != nil {
				return err
			}
			if err := a.sendAndCopySFTP(ctx); err != nil {
				return err
			}
		}
		a.mark("prepare+sftp")
	}
	a.st.Deleted = c.stats.Deleted
	a.st.BytesSent = a.sent.Load()

	// 2. Rename into place.
	if err := a.sftp(ctx); err != nil {
		return err
	}
	err := a.renameAll(ctx)
	a.st.Sent = int(a.renamed.Load())
	if err == nil {
		a.st.Copied = len(c.basis)
	}
	if err != nil {
		return err
	}
	a.st.DirsCreated = c.stats.DirsCreated
	if a.stage != "" {
		if err := a.removeBasisDirs(ctx); err != nil {
			return err
		}
		if err := a.sc.RemoveDirectory(joinRemote(c.dst, a.stage)); err != nil {
			return fmt.Errorf("remove staging directory %s: %w", joinRemote(c.dst, a.stage), err)
		}
		a.stage = ""
	}
	a.mark("rename")

	// 3. Modes and mtimes.
	if err := a.setAttrs(ctx); err != nil {
		return err
	}
	a.st.AttrsSet = len(c.attrs)
	err = a.setDirAttrs(ctx, useTar)
	a.mark("attrs")
	return err
}

// mark logs how long the step that just ended took.
func (a *applier) mark(step string) {
	now := time.Now()
	a.c.log.Debug("sync step", "step", step, "took", now.Sub(a.last))
	a.last = now
}

// prepare runs the prepare script through the agent.
func (a *applier) prepare(ctx context.Context, ag *agent) error {
	c := a.c
	what := "prepare " + c.dst
	script := a.prepareScript() + a.shellWrites()
	defer ag.release()
	if err := ag.send(captured("( " + script + " )")); err != nil {
		return ag.fail(what, err)
	}
	failed, err := ag.result(what)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ag.fail(what, err)
	}
	ag.replied()
	return failed
}

// Limits of a change set written without a remote shell.
const (
	smallFiles = 1024
	smallBytes = 32 << 20
)

// shellFreeOK reports whether the plan is as well applied with SFTP
// requests only as with a remote shell, not waiting for one (SFTP requests
// alone can apply any plan, as they must on a host with no remote shell,
// the copies from Basis then sent unless the server copies them): no links
// to make (SFTP servers do not all store a target as given: see
// symlinkSFTP), no directory trees or stale staging directories to remove
// (one rm -rf each in a shell, a request per entry over SFTP), and no
// files to copy from Basis unless the SFTP server copies them itself (a
// copy on the host beats sending them).
func (c *Changes) shellFreeOK() bool {
	return len(c.links) == 0 && len(c.rmDirs) == 0 && len(c.stale) == 0 && (len(c.basis) == 0 || c.copyData)
}

// small reports whether the change set is cheaper to write over SFTP than
// to wait for a remote shell that is not up yet.
func (c *Changes) small() bool {
	return len(c.send) <= smallFiles && c.stats.BytesSent <= smallBytes
}
