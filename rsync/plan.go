package rsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/porter-deploy/porter/remote"
)

// Changes is a plan: what Apply will do to make dst match src. It is made
// by Plan, which changes nothing on the host. Apply it once.
type Changes struct {
	h        *remote.Host
	src, dst string
	opts     Options
	log      *slog.Logger

	remove []string        // remote entries to remove (the top of each removed subtree)
	rmDirs map[string]bool // those of them that are directories
	mkdirs []entry         // directories to create, parents first ("" when dst is missing)
	send   []entry         // files to write
	links  []entry         // symlinks to create or replace
	attrs  []attrFix       // files whose mode and/or mtime to set
	dirs   []attrFix       // directories whose mode and/or mtime to set, at the end
	stale  []string        // staging directories of an earlier killed sync, to remove
	basis  map[string]bool // files of send copied on the host from opts.Basis
	// copyData: the host's SFTP server copies files itself (copy-data), so
	// the copies from opts.Basis need no remote shell (see copyBasisSFTP).
	copyData bool
	stats    Stats
	list     []Change
	pa       *pendingAgent // the remote shell, kept for Apply (Sync only)

	applied atomic.Bool
}

// attrFix is an entry whose mode and/or mtime are to be set.
type attrFix struct {
	e     entry
	mode  bool
	mtime bool
}

// Plan compares the local tree src with dst on h and returns what Apply
// would change. It only reads: the host is listed (and, in checksum mode,
// files are hashed there) but nothing is written.
func Plan(ctx context.Context, h *remote.Host, src, dst string, opts Options) (*Changes, error) {
	c, err := plan(ctx, h, src, dst, opts)
	if err != nil {
		return nil, err
	}
	if c.pa != nil {
		c.pa.abandon()
		c.pa = nil
	}
	return c, nil
}

// agent returns the remote shell, started now if the listing did without.
func (c *Changes) agent(ctx context.Context) (*agent, error) {
	if c.pa == nil {
		c.pa = startPending(ctx, c.h, c.dst, nil, c.opts.maxEntries())
	}
	return c.pa.wait(ctx)
}

// dropAgent stops the remote shell, if any.
func (c *Changes) dropAgent() {
	if c.pa != nil {
		c.pa.abandon()
		c.pa = nil
	}
}

// plan is Plan, keeping the remote agent running for Apply.
func plan(ctx context.Context, h *remote.Host, src, dst string, opts Options) (*Changes, error) {
	if dst == "" {
		return nil, fmt.Errorf("sync %s: empty destination path", src)
	}
	m, err := newMatcher(opts.Exclude)
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", src, err)
	}
	log := opts.logger()
	start := time.Now()

	// List both sides at once.
	var local []entry
	var localErr error
	var localTook time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.Now()
		local, localErr = walkLocal(ctx, src, m, log)
		localTook = time.Since(t)
	}()
	rt, pa, rerr := listRemote(ctx, h, dst, m, &opts)
	remoteTook := time.Since(start)
	<-done
	if rerr != nil {
		return nil, fmt.Errorf("sync %s: %w", src, rerr)
	}
	c := &Changes{h: h, src: src, dst: dst, opts: opts, log: log, stale: rt.stale, pa: pa}
	if localErr != nil {
		c.dropAgent()
		return nil, fmt.Errorf("sync %s: %w", src, localErr)
	}
	if err := c.diff(ctx, local, rt); err != nil {
		c.dropAgent()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, err
	}
	diffDone := time.Now()
	if err := c.matchBasis(ctx); err != nil {
		c.dropAgent()
		return nil, fmt.Errorf("sync %s: look up the files to send in %s: %w", src, opts.Basis, err)
	}
	c.stats.PlanTook = time.Since(start)
	log.Debug("sync plan", "src", src, "dst", dst, "local", len(local), "remote", len(rt.entries),
		"walk", localTook, "list", remoteTook, "basis", time.Since(diffDone), "took", c.stats.PlanTook)
	return c, nil
}

// List returns the plan's steps in the order Apply takes them: removals,
// new directories, files, links, mode/mtime fixes.
func (c *Changes) List() []Change { return append([]Change(nil), c.list...) }

// Stats returns the counts Apply will report if it succeeds.
func (c *Changes) Stats() Stats { return c.stats }

// Empty reports whether dst is already up to date.
func (c *Changes) Empty() bool {
	return len(c.list) == 0 && len(c.stale) == 0 && len(c.dirs) == 0
}

func (c *Changes) add(op Op, p string, size int64, reason string) {
	c.list = append(c.list, Change{Op: op, Path: p, Size: size, Reason: reason})
}

func (c *Changes) diff(ctx context.Context, local []entry, rt *remoteTree) error {
	inLocal := make(map[string]*entry, len(local))
	for i := range local {
		inLocal[local[i].path] = &local[i]
	}

	// Remote entries to remove: of a type that cannot be renamed over, or
	// (with Delete) not in src.
	rpaths := make([]string, 0, len(rt.entries))
	for p := range rt.entries {
		rpaths = append(rpaths, p)
	}
	sort.Strings(rpaths)
	removing := map[string]bool{}
	touched := map[string]bool{} // directories whose entries change
	for _, p := range rpaths {
		if p == "" {
			continue
		}
		r := rt.entries[p]
		if removing[parentDir(p)] {
			if r.typ == typeDir {
				removing[p] = true
			}
			c.stats.Deleted++
			continue
		}
		l, ok := inLocal[p]
		switch {
		case ok && (l.typ == typeDir) == (r.typ == typeDir):
			continue // compared below
		case ok:
			if rt.protected[p] {
				return fmt.Errorf("sync %s: cannot replace directory %s on %s with a %s: it holds excluded entries; remove them on the host or change the excludes",
					c.src, joinRemote(c.dst, p), c.hostName(), l.typ)
			}
		case !c.opts.Delete:
			continue
		case rt.protected[p]:
			continue // keep the directory; what it holds is looked at one by one
		}
		reason := "extraneous"
		if ok {
			reason = "type"
		}
		c.remove = append(c.remove, p)
		if r.typ == typeDir {
			if c.rmDirs == nil {
				c.rmDirs = map[string]bool{}
			}
			c.rmDirs[p] = true
		}
		c.add(OpDelete, p, 0, reason)
		c.stats.Deleted++
		touched[parentDir(p)] = true
		if r.typ == typeDir {
			removing[p] = true
		}
	}

	var candidates []*entry // same size, checksum mode
	for i := range local {
		l := &local[i]
		r, ok := rt.entries[l.path]
		newReason := "new"
		if ok && (removing[l.path] || (l.typ == typeDir) != (r.typ == typeDir)) {
			ok, newReason = false, "type" // removed above
		}
		switch l.typ {
		case typeDir:
			if l.path != "" {
				c.stats.Dirs++
			}
			if !ok {
				c.mkdirs = append(c.mkdirs, *l)
				c.add(OpMkdir, l.path, 0, newReason)
				c.stats.DirsCreated++
				if l.path != "" {
					touched[parentDir(l.path)] = true
				}
				continue
			}
		case typeFile:
			c.stats.Files++
			c.stats.BytesTotal += l.size
			switch {
			case !ok:
				c.sendFile(l, newReason, touched)
			case r.typ != typeFile:
				c.sendFile(l, "type", touched)
			case r.size != l.size:
				c.sendFile(l, "size", touched)
			case r.mtime == l.mtime && c.opts.racy(l.mtime) && c.copiesRacy(ctx, l.mtime):
				// Racy here but not in Basis, which holds it as the
				// source does: matchBasis copies it from there, which
				// costs less than reading it on both sides.
				c.sendFile(l, "racy", touched)
			case c.opts.Checksum || r.mtime == l.mtime && c.opts.racy(l.mtime):
				// (A racy file whose mtime differs is sent below: hashing
				// it on both sides first would cost more than it saves.)
				candidates = append(candidates, l)
			case r.mtime != l.mtime:
				c.sendFile(l, "mtime", touched)
			case r.mode != l.mode && c.opts.LinkedDst:
				c.sendFile(l, "mode", touched)
			case r.mode != l.mode:
				c.attrs = append(c.attrs, attrFix{e: *l, mode: true})
				c.add(OpAttrs, l.path, 0, "mode")
				c.stats.AttrsSet++
			default:
				c.stats.Unchanged++
			}
		case typeSymlink:
			c.stats.Symlinks++
			switch {
			case !ok:
				c.sendLink(l, newReason, touched)
			case r.typ != typeSymlink:
				c.sendLink(l, "type", touched)
			case r.link != l.link:
				c.sendLink(l, "target", touched)
			default:
				c.stats.Unchanged++
			}
		}
	}

	if len(candidates) > 0 {
		if err := c.compareChecksums(ctx, candidates, rt, touched); err != nil {
			return err
		}
	}

	// Directories: mode and mtime, set once everything inside has changed.
	if c.needsStage() || len(c.stale) > 0 {
		touched[""] = true // the staging directory lives at the top
	}
	for i := range local {
		l := &local[i]
		if l.typ != typeDir {
			continue
		}
		r, ok := rt.entries[l.path]
		isNew := !ok || r.typ != typeDir || removing[l.path]
		fix := attrFix{e: *l}
		if isNew {
			fix.mode, fix.mtime = true, true
		} else {
			fix.mode = r.mode != l.mode
			fix.mtime = r.mtime != l.mtime || touched[l.path]
			if fix.mode || r.mtime != l.mtime {
				reason := "mtime"
				if fix.mode {
					reason = "mode"
				}
				c.add(OpAttrs, l.path, 0, reason)
			}
		}
		if fix.mode || fix.mtime {
			c.dirs = append(c.dirs, fix)
		}
	}
	return nil
}

func (c *Changes) sendFile(l *entry, reason string, touched map[string]bool) {
	c.send = append(c.send, *l)
	c.add(OpSend, l.path, l.size, reason)
	c.stats.Sent++
	c.stats.BytesSent += l.size
	touched[parentDir(l.path)] = true
}

func (c *Changes) sendLink(l *entry, reason string, touched map[string]bool) {
	c.links = append(c.links, *l)
	c.add(OpLink, l.path, 0, reason)
	c.stats.Sent++
	touched[parentDir(l.path)] = true
}

// compareChecksums hashes the candidates on both sides and sorts them into
// sends, attribute fixes and unchanged files.
func (c *Changes) compareChecksums(ctx context.Context, cands []*entry, rt *remoteTree, touched map[string]bool) error {
	paths := make([]string, len(cands))
	sizes := make([]int64, len(cands))
	for i, e := range cands {
		paths[i], sizes[i] = e.path, e.size
	}
	t0 := time.Now()
	defer func() { c.log.Debug("sync checksums", "files", len(cands), "took", time.Since(t0)) }()
	var localSums map[string]string
	var localErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		localSums, localErr = hashLocal(ctx, c.src, cands, c.opts.concurrency())
	}()
	remoteSums, err := c.hashRemote(ctx, paths, sizes)
	<-done
	if localErr != nil {
		return fmt.Errorf("sync %s: %w", c.src, localErr)
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", c.src, err)
	}
	for _, l := range cands {
		r := rt.entries[l.path]
		switch {
		case localSums[l.path] != remoteSums[l.path]:
			c.sendFile(l, "checksum", touched)
		case r.mode != l.mode || r.mtime != l.mtime:
			reason := "mtime"
			if r.mode != l.mode {
				reason = "mode"
			}
			if c.opts.LinkedDst {
				c.sendFile(l, reason, touched)
				continue
			}
			c.attrs = append(c.attrs, attrFix{e: *l, mode: r.mode != l.mode, mtime: r.mtime != l.mtime})
			c.add(OpAttrs, l.path, 0, reason)
			c.stats.AttrsSet++
		default:
			c.stats.Unchanged++
		}
	}
	return nil
}

// localPath is the local file for a relative path.
func (c *Changes) localPath(rel string) string {
	if rel == "" {
		return c.src
	}
	return filepath.Join(c.src, filepath.FromSlash(rel))
}

func (c *Changes) hostName() string {
	if c.h == nil {
		return "the host"
	}
	return c.h.Name()
}
