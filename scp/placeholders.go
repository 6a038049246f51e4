package scp

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/remote"
)

// maxLinks bounds how many symlinks ReplacePlaceholders follows to reach the
// file it edits.
const maxLinks = 16

// ReplacePlaceholders replaces every __KEY__ of the remote file with
// values[KEY], as the original's sed_replace did, over SFTP rather than sed,
// so a value may hold any character (a slash, a quote, a newline, $(...))
// and is written as is, never run.
//
// The file is read whole, edited in memory and written back atomically
// (under a temporary name, then renamed) with its mode kept; it is left
// untouched, modification time included, when no placeholder occurs in it.
// A symlink is followed and its target edited, so the link stays a link.
// The file's owner becomes the SSH user, as with any file porter writes:
// edit root-owned files in a copy the SSH user owns, then install it.
//
// A key must be non-empty and must not contain "__". A missing file is an
// error that wraps fs.ErrNotExist.
//
// ReplacePlaceholders edits whatever file the path reaches on the host; for
// a file of a module's tree, use ReplaceModulePlaceholders, which never
// writes outside the module's path.
func ReplacePlaceholders(ctx context.Context, h *remote.Host, file string, values map[string]string) error {
	return replace(ctx, h, file, values, "")
}

// ReplaceModulePlaceholders is ReplacePlaceholders for a file of m: file
// is relative to m's Path, or absolute. A file in the module's path stays
// in it: the file edited (its symlinks followed) must be in the path once
// the host resolves every symlink on the way, so a file shipped as a
// symlink to elsewhere, or in a directory that is one, is refused with an
// error wrapping ErrOutsideModule, and nothing is written. A path outside
// the module's (absolute, or with "..") is the caller's explicit choice
// and is edited as ReplacePlaceholders does.
func ReplaceModulePlaceholders(ctx context.Context, m *porter.Module, file string, values map[string]string) error {
	if !path.IsAbs(file) {
		file = path.Join(m.Path(), file)
	}
	root := ""
	if underRoot(m.Path(), file) {
		root = m.Path()
	}
	return replace(ctx, m.Host(), file, values, root)
}

// replace is ReplacePlaceholders; with a root, the file edited must be
// below root once its symlinks are resolved (see checkWithin).
func replace(ctx context.Context, h *remote.Host, file string, values map[string]string, root string) error {
	where := file
	if h != nil {
		where = h.Name() + ":" + file
	}
	if len(values) == 0 {
		return nil
	}
	rep, err := placeholderReplacer(values)
	if err != nil {
		return fmt.Errorf("replace placeholders in %s: %w", where, err)
	}
	if h == nil {
		return fmt.Errorf("replace placeholders in %s: no connection to the host", file)
	}
	c, err := h.SFTP(ctx)
	if err != nil {
		return fmt.Errorf("replace placeholders in %s: %w", where, err)
	}
	target, info, err := resolve(c, file)
	if err != nil {
		return fmt.Errorf("replace placeholders in %s: %w", where, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("replace placeholders in %s: not a regular file (%s)", where, info.Mode().Type())
	}
	if root != "" {
		if err := checkWithin(c, root, target); err != nil {
			return fmt.Errorf("replace placeholders in %s: %w", where, err)
		}
	}
	old, err := sftpx.ReadFile(c, target)
	if err != nil {
		return fmt.Errorf("replace placeholders in %s: read: %w", where, err)
	}
	edited := rep.Replace(string(old))
	if edited == string(old) {
		return nil
	}
	if err := sftpx.WriteAtomic(ctx, c, target, bytes.NewReader([]byte(edited)), info.Mode(), time.Time{}); err != nil {
		return fmt.Errorf("replace placeholders in %s: %w", where, err)
	}
	return nil
}

// resolve follows symlinks from name to the file they point at.
func resolve(c *sftp.Client, name string) (string, fs.FileInfo, error) {
	for range maxLinks {
		info, err := c.Lstat(name)
		if err != nil {
			return "", nil, err // pkg/sftp maps "no such file" to fs.ErrNotExist
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return name, info, nil
		}
		dst, err := c.ReadLink(name)
		if err != nil {
			return "", nil, fmt.Errorf("read link %s: %w", name, err)
		}
		if !path.IsAbs(dst) {
			dst = path.Join(path.Dir(name), dst)
		}
		name = dst
	}
	return "", nil, fmt.Errorf("more than %d symlinks to follow", maxLinks)
}

// placeholderReplacer returns the replacer of every __KEY__ by values[KEY]:
// left to right, the longest key where several start at one place, and
// never again in what a value put in.
func placeholderReplacer(values map[string]string) (*strings.Replacer, error) {
	keys := make([]string, 0, len(values))
	for k := range values {
		if k == "" || strings.Contains(k, "__") {
			return nil, fmt.Errorf("key %q: a key is a non-empty name without \"__\" (it is written __KEY__ in the file)", k)
		}
		keys = append(keys, k)
	}
	// Longest first, so that __a__b__ wins over __a__ where both could match;
	// then by name, so the result never depends on map order.
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, "__"+k+"__", values[k])
	}
	return strings.NewReplacer(pairs...), nil
}
