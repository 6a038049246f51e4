// Files copied on the host from Options.Basis instead of sent.

package rsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/porter-deploy/porter/remote"
)

// maxBasisLookups bounds the files looked up in Basis: a plan that sends
// more is sent whole.
const maxBasisLookups = 20000

// matchBasis looks up, with one SFTP lstat each (in parallel), the files
// the plan sends in opts.Basis, and marks for a copy on the host the ones
// Basis holds as a regular file of the same size, mtime and mode, not
// changed within the second Basis was last synced from src
// (BasisRacyAfter), in a directory that exists in dst (a copy lands in
// the staging directory's top, before the archive makes the new
// subtrees). What cannot be looked up is sent.
func (c *Changes) matchBasis(ctx context.Context) error {
	if c.opts.Basis == "" || c.opts.SFTPOnly || len(c.send) == 0 || len(c.send) > maxBasisLookups {
		return nil
	}
	newDir := map[string]bool{}
	for _, d := range c.mkdirs {
		newDir[d.path] = true
	}
	var cands []int
	for i, e := range c.send {
		if !newDir[parentDir(e.path)] && !c.racyBasis(e.mtime) {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	sc, err := c.h.SFTP(ctx)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	same := map[string]bool{}
	err = group(ctx, len(cands), 4*c.opts.concurrency(), func(ctx context.Context, i int) error {
		l := &c.send[cands[i]]
		fi, err := sc.Lstat(joinRemote(c.opts.Basis, l.path))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		r := sftpEntry(l.path, fi)
		if r.typ == typeFile && r.size == l.size && r.mtime == l.mtime && r.mode == l.mode {
			mu.Lock()
			same[l.path] = true
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(same) == 0 {
		return nil
	}
	c.basis = same
	c.copyData = canCopyFiles(ctx, c.h)
	for i := range c.list {
		if ch := &c.list[i]; ch.Op == OpSend && same[ch.Path] {
			ch.Op = OpCopy
			c.stats.BytesSent -= ch.Size
		}
	}
	c.stats.Copied = len(same)
	return nil
}

// copiesRacy reports whether a file of dst that is racy (see
// Options.RacyAfter) but has this mtime is taken from Basis rather than
// hashed on both sides: when Basis holds it from a later sync (not racy
// there) and the host's SFTP server copies files itself, so that the copy
// needs no remote shell (a host without one would fail the sync). Should
// Basis not hold it as looked up, it is sent.
func (c *Changes) copiesRacy(ctx context.Context, mtime int64) bool {
	if c.opts.Basis == "" || c.opts.Checksum || c.opts.SFTPOnly || c.h == nil || c.racyBasis(mtime) {
		return false
	}
	return canCopyFiles(ctx, c.h)
}

// canCopyFiles reports whether the host's SFTP server copies files
// itself (an error: no). It asks the shared client: no request.
func canCopyFiles(ctx context.Context, h *remote.Host) bool {
	ok, err := h.CanCopyFiles(ctx)
	return ok && err == nil
}

// racyBasis reports whether a file with this mtime may have changed after
// Basis was last synced from src.
func (c *Changes) racyBasis(mtime int64) bool {
	return !c.opts.BasisRacyAfter.IsZero() && mtime >= c.opts.BasisRacyAfter.Unix()
}

// dropBasis sends the files marked for a copy from Basis after all (the
// transport has no remote program to copy them).
func (c *Changes) dropBasis() {
	if c.basis == nil {
		return
	}
	for i := range c.list {
		if ch := &c.list[i]; ch.Op == OpCopy {
			ch.Op = OpSend
			c.stats.BytesSent += ch.Size
		}
	}
	c.basis, c.stats.Copied = nil, 0
}

// basisAt is where a file copied from Basis is staged: stage/r<k>/name,
// in the first round k that does not hold that name yet, so that one cp
// copies a whole round.
func (a *applier) basisAt(rel string) string {
	if a.basisSeen == nil {
		a.basisSeen = map[string]int{}
	}
	name := path.Base(rel)
	k := a.basisSeen[name]
	a.basisSeen[name] = k + 1
	if k == len(a.basisDirs) {
		a.basisDirs = append(a.basisDirs, fmt.Sprintf("%s/r%x", a.stage, k)) // "r": the single files are stage/<hex>
	}
	return a.basisDirs[k] + "/" + name
}

// removeBasisDirs removes the rounds' directories, empty once their files
// were renamed into place.
func (a *applier) removeBasisDirs(ctx context.Context) error {
	return group(ctx, len(a.basisDirs), a.c.opts.concurrency(), func(ctx context.Context, i int) error {
		p := joinRemote(a.c.dst, a.basisDirs[i])
		if err := a.sc.RemoveDirectory(p); err != nil {
			return fmt.Errorf("remove staging directory %s: %w", p, err)
		}
		return nil
	})
}

// basisSteps is the part of the prepare script (run in the staging
// directory) that copies the marked files from Basis into the staging
// directory, a cp per round. First each directory of Basis they are in is
// entered with cd -P and checked, as dst's are (enterDir), and each file
// is checked to be a regular file, not a symlink (shell built-ins, no
// process per file; tar would copy a directory put there whole):
// a copy does not read through a symlink swapped in since the lookup. The
// window between those checks and cp is the same as the guard's (see
// "Symlinks swapped in" in the package doc).
func (a *applier) basisSteps() string {
	c := a.c
	if len(c.basis) == 0 {
		return ""
	}
	rounds := make([][]string, len(a.basisDirs))
	paths := a.basisPaths()
	for i, e := range a.staged {
		if k := slices.Index(a.basisDirs, path.Dir(a.stagedAt[i])); k >= 0 && c.basis[e.path] {
			rounds[k] = append(rounds[k], e.path)
		}
	}
	qb := quote(c.opts.Basis)
	var b strings.Builder
	// A relative Basis is relative to the login directory, as dst is.
	b.WriteString(`; S=$PWD; { cd -P -- "$L" && cd -P -- ` + qb + ` 2>/dev/null && B=$PWD; } || refuse ` + qb)
	dirs, _ := byParent(paths)
	for _, d := range dirs {
		if d != "" {
			q := `"$B"/` + quote(d)
			b.WriteString(`; { cd -P -- ` + q + ` 2>/dev/null && [ "$PWD" = ` + q + ` ]; } || refuse ` + quote(joinRemote(c.opts.Basis, d)))
		}
	}
	b.WriteString(`; cd -P -- "$B"`)
	for _, p := range paths {
		q := quote("./" + p)
		b.WriteString("; { [ -f " + q + " ] && [ ! -h " + q + " ]; } || refuse " + quote(joinRemote(c.opts.Basis, p)))
	}
	if !a.inPlace { // else copied by inPlaceSteps
		b.WriteString("; mkdir -m 700 --")
		for _, d := range a.basisDirs {
			b.WriteString(` "$S"/` + quote(a.inStage(d)))
		}
		for k, round := range rounds {
			argSteps(&b, "cp -p -P --", round, ` "$S"/`+quote(a.inStage(a.basisDirs[k])))
		}
	}
	b.WriteString(`; cd -P -- "$S"`)
	return b.String()
}

// basisPaths returns the files copied from Basis, in the order staged.
func (a *applier) basisPaths() []string {
	var paths []string
	for _, e := range a.staged {
		if a.c.basis[e.path] {
			paths = append(paths, e.path)
		}
	}
	return paths
}

// basisFailed is, in place, the marker in the staging directory that the
// tar archiving the copies from Basis (the first half of a pipe: its exit
// status is lost) removes when it succeeds, else writes its status in.
const basisFailed = `"$S"/basis.failed`

// inPlaceSteps is the part of the prepare script (run in the staging
// directory) that, in place, enters and checks each directory of dst the
// archive writes in or sets (as enterDir does: no component may be a
// symlink swapped in since the listing, since tar follows one), then
// copies the files from Basis (whose directories basisSteps checked) with
// a tar out of Basis piped into one in dst, and ends in dst. tar removes a
// file before it writes its new version: a file hard-linked from another
// tree is replaced, not written through.
func (a *applier) inPlaceSteps() string {
	if !a.inPlace {
		return ""
	}
	c := a.c
	check := map[string]bool{}
	for _, e := range a.staged {
		check[parentDir(e.path)] = true
	}
	for _, e := range a.newDirs {
		check[parentDir(e.path)] = true
	}
	for _, f := range c.dirs {
		check[f.e.path] = true
	}
	var dirs []string
	for d := range check {
		if d != "" && a.dirAt[d] == "" { // a new directory is made by tar
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	var b strings.Builder
	for _, d := range dirs {
		b.WriteString("; " + c.enterDir(d))
	}
	b.WriteString(`; cd -P -- "${R:-/}"`)
	if len(c.basis) > 0 {
		// A pipe per maxArgs of names: the archive is read as it is
		// written (on another core), never stored. A failure of the tar
		// that reads Basis (a file gone or unreadable) stops the program
		// as the extracting tar's would (set -e), with its status. The
		// marker is there until that tar succeeded: should its status not
		// be written (a full disk), the program still stops (status 1).
		if c.opts.testHooks().basisLost { // a file of Basis removed after the checks
			b.WriteString(`; rm -f -- "$B"/` + quote(a.basisPaths()[0]))
		}
		argSteps(&b, `: > `+basisFailed+`; { ( cd -P -- "$B" && exec tar -c -f - --`, a.basisPaths(),
			` ) && rm -f -- `+basisFailed+` || echo "$?" > `+basisFailed+`; } | ( exec tar -x -p --no-same-owner -f - ); `+
				`if [ -e `+basisFailed+` ]; then read st < `+basisFailed+` || :; exit "${st:-1}"; fi`)
	}
	return b.String()
}

// sendAndCopySFTP writes the staged files with SFTP while, with copySFTP,
// the host's SFTP server copies the ones marked for a copy from Basis (on
// a session of its own, a second server process).
func (a *applier) sendAndCopySFTP(ctx context.Context) error {
	if !a.copySFTP {
		return a.sendSFTP(ctx)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.sendSFTP(gctx) })
	g.Go(func() error { return a.copyBasisSFTP(gctx) })
	return g.Wait()
}

// copyBasisSFTP has the host's SFTP server copy the files marked for a
// copy from Basis into their places: in the staging directory, or with
// NotLive at their final names (see layout). As basisSteps does,
// remote.Host.CopyFiles checks each directory of Basis and dst on the way
// to be a directory, not a symlink, and each file of Basis to be the
// regular file looked up.
func (a *applier) copyBasisSFTP(ctx context.Context) error {
	c := a.c
	inPlace := c.opts.NotLive
	var files []remote.FileCopy
	for i, e := range a.staged {
		if c.basis[e.path] {
			files = append(files, remote.FileCopy{From: e.path, To: a.stagedAt[i],
				Size: e.size, Mtime: time.Unix(e.mtime, 0), Mode: fileMode(e.mode), Replace: inPlace})
		}
	}
	if err := c.h.CopyFiles(ctx, c.opts.Basis, c.dst, files); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, remote.ErrCopyRefused) {
			return fmt.Errorf("%w (%w)", err, ErrChanged)
		}
		return err
	}
	a.wrote(len(files))
	if inPlace {
		a.renamed.Add(int64(len(files))) // in place already
	}
	return nil
}
