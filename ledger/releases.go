package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/remote"
)

// ReleaseState is where a release is in its life.
type ReleaseState string

// The states of a release. A release is good only once the whole deploy
// procedure succeeded.
const (
	Building ReleaseState = "building" // being made, or left by a deploy that died
	Good     ReleaseState = "good"
	Failed   ReleaseState = "failed"
)

// A Release is one directory of <path>/releases/, as releases.json records
// it.
type Release struct {
	ID       string       `json:"id"` // the directory's name: UTC timestamp and short version
	Version  string       `json:"version"`
	State    ReleaseState `json:"state"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished,omitzero"`
	By       string       `json:"by"`
	// RolledBack is when a rollback switched current away from it: a
	// rollback never chooses it again unless named.
	RolledBack time.Time `json:"rolled_back,omitzero"`
	// Current is true for the release <path>/current points to (not
	// stored: read from the link).
	Current bool `json:"-"`
}

// Layout of a module deployed as releases, under its path.
const (
	ReleasesDir = "releases" // <path>/releases/<id>/
	CurrentLink = "current"  // <path>/current -> releases/<id>
	SharedDir   = "shared"   // <path>/shared/<name>, linked into each release
)

// ReleasePath returns the directory of release id on the host.
func (p Place) ReleasePath(id string) string { return path.Join(p.Path, ReleasesDir, id) }

// CurrentPath returns the path of the current link on the host.
func (p Place) CurrentPath() string { return path.Join(p.Path, CurrentLink) }

// NewReleaseID returns the id of a release of version started at t: its
// UTC timestamp, then the version's first 12 characters of letters and
// digits ("20261202T150405Z-3f2a9c1b7d4e").
func NewReleaseID(t time.Time, version string) string {
	v := version
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	var b strings.Builder
	for _, r := range v {
		if b.Len() == 12 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	id := t.UTC().Format("20060102T150405Z")
	if b.Len() > 0 {
		id += "-" + b.String()
	}
	return id
}

// validID reports whether id can name a release directory.
func validID(id string) bool {
	if id == "" || len(id) > 100 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return id != "." && id != ".."
}

// byAge sorts releases oldest first: by start, then id (a directory that
// releases.json does not name has no start: it comes first).
func byAge(rs []Release) {
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].Started.Equal(rs[j].Started) {
			return rs[i].Started.Before(rs[j].Started)
		}
		return rs[i].ID < rs[j].ID
	})
}

// Releases lists the module's releases, oldest first, with the one current
// points to marked. A release directory that releases.json does not name
// is listed as building (left by a deploy that died before recording it);
// a recorded release whose directory is gone is left out.
func (p Place) Releases(ctx context.Context) ([]Release, error) {
	recs, err := p.readReleases(ctx)
	if err != nil {
		return nil, err
	}
	c, err := p.sftp(ctx)
	if err != nil {
		return nil, err
	}
	dir := path.Join(p.Path, ReleasesDir)
	entries, err := c.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list %s on %s: %w", dir, p.hostName(), err)
	}
	if len(entries) > 10000 {
		return nil, fmt.Errorf("list %s on %s: more than 10000 entries: %w", dir, p.hostName(), ErrTooLarge)
	}
	byID := map[string]Release{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	current, err := p.Current(ctx)
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || !validID(id) {
			continue
		}
		r, ok := byID[id]
		if !ok {
			r = Release{ID: id, State: Building}
		}
		r.Current = id == current
		out = append(out, r)
	}
	byAge(out)
	return out, nil
}

// Current returns the id of the release <path>/current points to, or ""
// when there is no current link. A current that is not a link to
// releases/<id> is an error that says what it is.
func (p Place) Current(ctx context.Context) (string, error) {
	c, err := p.sftp(ctx)
	if err != nil {
		return "", err
	}
	cur := p.CurrentPath()
	fi, err := c.Lstat(cur)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("lstat %s on %s: %w", cur, p.hostName(), err)
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", fmt.Errorf("%s on %s is a %s, not the link to the current release: move it away (the module was deployed in place before?)",
			cur, p.hostName(), strings.ToLower(fileKind(fi.Mode())))
	}
	target, err := c.ReadLink(cur)
	if err != nil {
		return "", fmt.Errorf("read link %s on %s: %w", cur, p.hostName(), err)
	}
	id, ok := strings.CutPrefix(path.Clean(target), ReleasesDir+"/")
	if !ok || !validID(id) {
		return "", fmt.Errorf("%s on %s points to %s, not to a release (%s/<id>)", cur, p.hostName(), remote.Printable(target), ReleasesDir)
	}
	return id, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "file"
	}
	return "special file"
}

// readReleases reads releases.json (none: no releases).
func (p Place) readReleases(ctx context.Context) ([]Release, error) {
	c, err := p.sftp(ctx)
	if err != nil {
		return nil, err
	}
	f := p.File("releases.json")
	b, err := readFile(c, f)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", f, p.hostName(), err)
	}
	var out []Release
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("read %s on %s: not porter's releases file (%s): remove it to start afresh", f, p.hostName(), remote.Printable(err.Error()))
	}
	valid := out[:0]
	for _, r := range out {
		if validID(r.ID) {
			valid = append(valid, r)
		}
	}
	return valid, nil
}

// SaveRelease records r in releases.json (replacing the release of the
// same id), atomically.
func (p Place) SaveRelease(ctx context.Context, r Release) error {
	if !validID(r.ID) {
		return fmt.Errorf("release id %q: letters, digits, '-', '_' and '.' only", r.ID)
	}
	return p.editReleases(ctx, func(old Release) bool { return old.ID != r.ID }, &r)
}

// editReleases rewrites releases.json with the releases keep keeps, and
// add when not nil.
func (p Place) editReleases(ctx context.Context, keep func(Release) bool, add *Release) error {
	recs, err := p.readReleases(ctx)
	if err != nil {
		return err
	}
	var out []Release
	for _, old := range recs {
		if keep(old) {
			out = append(out, old)
		}
	}
	if add != nil {
		out = append(out, *add)
	}
	byAge(out)
	c, err := p.mkdir(ctx)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return sftpx.WriteAtomic(ctx, c, p.File("releases.json"), bytes.NewReader(append(b, '\n')), 0o644, time.Time{})
}

// notCurrent checks id before a release is taken away.
func (p Place) notCurrent(ctx context.Context, id, what string) error {
	if !validID(id) {
		return fmt.Errorf("%s release %q: not a release id", what, id)
	}
	cur, err := p.Current(ctx)
	if err != nil {
		return err
	}
	if cur == id {
		return fmt.Errorf("%s release %s on %s: it is the current release", what, id, p.hostName())
	}
	return nil
}

// Activate switches <path>/current to release id atomically: a new link
// under a temporary name, renamed over current, so that a reader sees the
// old release or the new one, never no current.
func (p Place) Activate(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("activate release %q: not a release id", id)
	}
	c, err := p.sftp(ctx)
	if err != nil {
		return err
	}
	if _, err := p.Current(ctx); err != nil {
		return err // current is a directory or a foreign link: not replaced
	}
	if fi, err := c.Lstat(p.ReleasePath(id)); err != nil || !fi.IsDir() {
		return fmt.Errorf("activate release %s on %s: %s is not a directory", id, p.hostName(), p.ReleasePath(id))
	}
	tmp := path.Join(p.Path, ".porter-current-"+newToken()[:12])
	if err := p.link(ctx, c, ReleasesDir+"/"+id, tmp); err != nil {
		return fmt.Errorf("activate release %s on %s: %w", id, p.hostName(), err)
	}
	if err := c.PosixRename(tmp, p.CurrentPath()); err != nil {
		c.Remove(tmp)
		return fmt.Errorf("activate release %s on %s: rename %s over %s: %w", id, p.hostName(), tmp, p.CurrentPath(), err)
	}
	return nil
}

// link makes the symlink at (a new name) pointing to target. SFTP servers
// do not all take a symlink request's paths in the same order: one that
// speaks OpenSSH's extensions is asked (in OpenSSH's order), and the link
// is read back; otherwise, or if it is not what was asked, the host's ln
// makes it (through a shell, which may have to start).
func (p Place) link(ctx context.Context, c *sftp.Client, target, at string) error {
	if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
		if sftpx.Symlink(c, target, at) == nil {
			return nil
		}
	}
	cmd := "cd -P -- " + remote.Quote(path.Dir(at)) + " && ln -s -- " + remote.Quote(target) + " " + remote.Quote(path.Base(at))
	_, err := p.Host.Run(ctx, cmd)
	return err
}

// DiscardRelease takes release id out of releases/ at once (a rename into
// the module's bookkeeping directory) and has the host remove it in the
// background, detached from the deploy (with setsid where the host has
// it, else before returning); the current release is refused. What a
// removal left unfinished is removed by the next DiscardRelease.
func (p Place) DiscardRelease(ctx context.Context, id string) error {
	if err := p.notCurrent(ctx, id, "discard"); err != nil {
		return err
	}
	c, err := p.mkdir(ctx)
	if err != nil {
		return err
	}
	trash := p.File("trash")
	if err := c.MkdirAll(trash); err != nil {
		return fmt.Errorf("mkdir %s on %s: %w", trash, p.hostName(), err)
	}
	if err := c.Rename(p.ReleasePath(id), path.Join(trash, id+"-"+newToken()[:8])); err != nil {
		return fmt.Errorf("discard release %s on %s: %w", id, p.hostName(), err)
	}
	if err := p.forget(ctx, id); err != nil {
		return err
	}
	q := remote.Quote(trash)
	rm := "chmod -R u+w -- " + q + "/* 2>/dev/null; rm -rf -- " + q + "/*"
	cmd := "if command -v setsid >/dev/null 2>&1; then setsid sh -c " + remote.Quote(rm) + " </dev/null >/dev/null 2>&1 & else " + rm + "; fi"
	if _, err := p.Host.Run(ctx, cmd); err != nil {
		return fmt.Errorf("remove discarded release %s on %s: %w", id, p.hostName(), err)
	}
	return nil
}

// RecycleRelease makes release old, which must not be current, the new
// release r: its directory is renamed to r's, atomically and without a
// copy, and releases.json forgets old and records r. A deploy seeds a new
// release this way from the one keep_releases would remove after it.
func (p Place) RecycleRelease(ctx context.Context, old string, r Release) error {
	if !validID(r.ID) {
		return fmt.Errorf("release id %q: letters, digits, '-', '_' and '.' only", r.ID)
	}
	if err := p.notCurrent(ctx, old, "recycle"); err != nil {
		return err
	}
	c, err := p.sftp(ctx)
	if err != nil {
		return err
	}
	// Renamed first: should the deploy die next, the new name is a
	// release releases.json does not know (building, removed by the next
	// deploy), and old is a record without a directory (left out).
	if err := c.Rename(p.ReleasePath(old), p.ReleasePath(r.ID)); err != nil {
		return fmt.Errorf("recycle release %s as %s on %s: %w", old, r.ID, p.hostName(), err)
	}
	return p.editReleases(ctx, func(x Release) bool { return x.ID != old && x.ID != r.ID }, &r)
}

// forget drops release id from releases.json.
func (p Place) forget(ctx context.Context, id string) error {
	return p.editReleases(ctx, func(r Release) bool { return r.ID != id }, nil)
}

// RemoveRelease removes the directory of release id and its entry in
// releases.json; the current release is refused.
func (p Place) RemoveRelease(ctx context.Context, id string) error {
	if err := p.notCurrent(ctx, id, "remove"); err != nil {
		return err
	}
	// A tar of a deploy whose connection was cut may still be writing in
	// it for a moment (until the host ends the session): try again.
	d := remote.Quote("./" + id)
	rm := "chmod -R u+w -- " + d + " 2>/dev/null; rm -rf -- " + d
	cmd := "cd -P -- " + remote.Quote(path.Join(p.Path, ReleasesDir)) + " && { " + rm + " 2>/dev/null || { sleep 1; " + rm + " 2>/dev/null; } || { sleep 3; " + rm + "; }; }"
	if _, err := p.Host.Run(ctx, cmd); err != nil {
		return fmt.Errorf("remove release %s on %s: %w", id, p.hostName(), err)
	}
	return p.forget(ctx, id)
}
