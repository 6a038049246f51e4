// How Apply keeps its changes on what was listed: see "Symlinks swapped
// in" in the package doc.

package rsync

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/internal/localfs"
	"github.com/porter-deploy/porter/remote"
)

// ErrChanged is wrapped by the error of Plan or Apply when an entry is not
// what was listed: on the host, a listed directory or file that a symlink
// or another entry replaced since the listing (nothing is changed through
// it); locally, a source file that became a symlink or another file since
// the walk (nothing of it is sent).
var ErrChanged = localfs.ErrChanged

// statusRefused is the exit status of a host-side program that refused to
// act in a directory that is not the one listed.
const statusRefused = 3

// shRefuse defines refuse, which a host-side program calls with the path of a
// directory that is not the one listed: it says so and exits
// statusRefused.
const shRefuse = `refuse() { printf 'porter: refused: %s is not the directory that was listed (a symlink or another entry was put in its place): nothing was changed in it\n' "$1" >&2; exit 3; }`

// shEnterDst sets L to the login directory (where a relative path starts),
// makes dst, enters it and sets R to its physical path ("" for /): every
// later step names directories from R.
const shEnterDst = `L=$PWD; mkdir -p -- "$D"; cd -P -- "$D"; R=$PWD; [ "$R" != / ] || R=`

// enterDir is the step of a host-side program that enters the directory
// rel (relative to dst) with cd -P and checks that it is the listed one:
// its physical path must be dst's followed by rel, so that no component of
// rel is a symlink. From then on the shell's working directory is that
// directory, whatever is renamed or swapped along rel; the step's commands
// act on single names in it. A directory that is not the listed one (or
// is gone) makes the program exit with statusRefused.
func (c *Changes) enterDir(rel string) string {
	if rel == "" {
		return `cd -P -- "${R:-/}"`
	}
	q := `"$R"/` + quote(rel)
	return `{ cd -P -- ` + q + ` 2>/dev/null && [ "$PWD" = ` + q + ` ]; } || refuse ` + quote(remote.Printable(joinRemote(c.dst, rel)))
}

// enterStage is the step that enters the staging directory from dst (the
// working directory, R set): it must be the directory just made, the SSH
// user's. Later steps name what they write relative to it.
func (a *applier) enterStage() string {
	q := quote("./" + a.stage)
	return `{ cd -P -- ` + q + ` && [ "$PWD" = "$R"/` + quote(a.stage) + ` ] && [ -O . ]; } || refuse ` +
		quote(remote.Printable(joinRemote(a.c.dst, a.stage)))
}

// inStage is p (relative to dst, under the staging directory) relative to
// the staging directory.
func (a *applier) inStage(p string) string { return strings.TrimPrefix(p, a.stage+"/") }

// byParent groups paths by their parent directory, parents sorted.
func byParent(paths []string) (dirs []string, names map[string][]string) {
	names = map[string][]string{}
	for _, p := range paths {
		d := parentDir(p)
		if _, ok := names[d]; !ok {
			dirs = append(dirs, d)
		}
		names[d] = append(names[d], path.Base(p))
	}
	sort.Strings(dirs)
	return dirs, names
}

// removeSteps appends to b the steps that remove paths (relative to dst),
// each from inside its parent entered with enterDir: `rm -rf -- ./name`
// removes a symlink put in a listed entry's place, never what it points
// to, and does not follow one inside a directory it removes.
func (c *Changes) removeSteps(b *strings.Builder, paths []string) {
	dirs, names := byParent(paths)
	for _, d := range dirs {
		b.WriteString("; " + c.enterDir(d))
		argSteps(b, "rm -rf --", names[d], "")
	}
}

// staleSteps removes the staging directories an earlier sync left (at the
// top of dst), as well as it can: the sync that made one may still be
// ending on the host (its connection was cut a moment ago), its tar
// writing in it as rm removes it. A removal that fails is tried once more,
// then left to the next sync: a staging directory is never part of the
// tree (never sent, listed or reported).
func (c *Changes) staleSteps(b *strings.Builder) {
	if len(c.stale) == 0 {
		return
	}
	var rm strings.Builder
	argSteps(&rm, "rm -rf --", c.stale, " 2>/dev/null")
	steps := strings.TrimPrefix(rm.String(), "; ")
	b.WriteString("; " + c.enterDir("") + "; { " + steps + "; } || { " + steps + "; } || :")
}

// argSteps appends cmd with the names as arguments ("./name", quoted),
// each followed by tail: as many commands as maxArgs bytes of arguments
// make.
func argSteps(b *strings.Builder, cmd string, names []string, tail string) {
	for len(names) > 0 {
		b.WriteString("; " + cmd)
		for n := 0; len(names) > 0 && n < maxArgs; names = names[1:] {
			q := " " + quote("./"+names[0])
			b.WriteString(q)
			n += len(q)
		}
		b.WriteString(tail)
	}
}

// A guard checks, over SFTP, right before a step acts on paths of dst,
// that what the step goes through is still what was listed: each directory
// below dst on the way is a directory, not a symlink (lstat); an entry
// whose mode or mtime is set is still of its listed type. SFTP names
// paths, so there is no directory to hold on to: the check is made once
// per directory per step, and right before each chmod or chtimes for the
// entry itself. A rename or a removal never follows a symlink at the last
// name (it acts on the link), so only the directories on the way matter
// for them.
type guard struct {
	sc  *sftp.Client
	dst string

	mu   sync.Mutex
	dirs map[string]*dirCheck
}

type dirCheck struct {
	once sync.Once
	err  error
}

func newGuard(sc *sftp.Client, dst string) *guard {
	return &guard{sc: sc, dst: dst, dirs: map[string]*dirCheck{}}
}

// dir checks rel (relative to dst) and each directory above it below dst.
func (g *guard) dir(rel string) error {
	if rel == "" {
		return nil
	}
	if err := g.dir(parentDir(rel)); err != nil {
		return err
	}
	g.mu.Lock()
	dc := g.dirs[rel]
	if dc == nil {
		dc = &dirCheck{}
		g.dirs[rel] = dc
	}
	g.mu.Unlock()
	dc.once.Do(func() { dc.err = g.is(rel, typeDir) })
	return dc.err
}

// parents checks the directories above rel below dst.
func (g *guard) parents(rel string) error { return g.dir(parentDir(rel)) }

// entry checks the directories above rel, then rel itself: it must be of
// type typ (a file or a directory), not a symlink.
func (g *guard) entry(rel string, typ ftype) error {
	if rel == "" {
		return nil // dst itself: it may be a symlink (see enterDir)
	}
	if err := g.parents(rel); err != nil {
		return err
	}
	return g.is(rel, typ)
}

// is lstats rel and checks its type.
func (g *guard) is(rel string, typ ftype) error {
	p := joinRemote(g.dst, rel)
	fi, err := g.sc.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: gone since it was listed: %w (%w)", remote.Printable(p), ErrChanged, err)
		}
		return fmt.Errorf("lstat %s: %w", remote.Printable(p), err)
	}
	got := fi.Mode()
	switch {
	case got&fs.ModeSymlink != 0:
		return fmt.Errorf("refused: %s is now a symlink, not the %s that was listed: nothing was changed through it: %w", remote.Printable(p), typ, ErrChanged)
	case typ == typeDir && !got.IsDir(), typ == typeFile && !got.IsRegular():
		return fmt.Errorf("refused: %s is no longer the %s that was listed: nothing was changed in it: %w", remote.Printable(p), typ, ErrChanged)
	}
	return nil
}
