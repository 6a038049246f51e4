// Package scp copies files and per-environment config files to a host over
// the deploy's SSH connection (SFTP), as the original's scp and
// copy_config_file did.
//
// Every file lands atomically: it is written under a temporary name in its
// destination directory, given its mode and modification time, then renamed
// over the final name, so a reader on the host sees the old file or the new
// one, never half of one. Modes are kept, so a 0600 secret stays 0600.
package scp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/localfs"
	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/remote"
)

// ErrOutsideConfigDir is wrapped by CopyConfigFile's error for a name that
// is absolute or leaves the config directory ("../x").
var ErrOutsideConfigDir = errors.New("name leaves the config directory")

// CopyFile copies the local file or directory local to remotePath on h.
// A directory is copied recursively: remotePath becomes that directory.
// Symlinks are followed to the file or directory they name (a loop or a
// dangling link is an error); every local file is checked before anything
// is written.
func CopyFile(ctx context.Context, h *remote.Host, local, remotePath string) error {
	return copyTree(ctx, h, local, remotePath, "")
}

// copyTree is CopyFile; with a root, every directory written in must stay
// below root once the host resolves its symlinks (see checkWithin).
func copyTree(ctx context.Context, h *remote.Host, local, remotePath, root string) error {
	files, err := plan(local, remotePath)
	if err != nil {
		return err
	}
	client, err := h.SFTP(ctx)
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", local, remotePath, err)
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("copy %s: %w", f.local, err)
		}
		if err := f.copy(ctx, client, root); err != nil {
			return fmt.Errorf("copy %s to %s:%s: %w", f.local, h.Name(), f.remote, err)
		}
	}
	return nil
}

// CopyConfigFile copies <module>/config/<--config>/<name> to the host, into
// the directory dest (default the module's Path; a relative dest is taken
// under the Path), keeping the file's base name, as the original's
// copy_config_file(module, name, destpath) did. name may be a directory,
// copied recursively.
//
// A missing config directory or file, or a name that leaves the config
// directory (absolute or with ".."; errors.Is ErrOutsideConfigDir), is an
// error before anything is written.
//
// A destination in the module's Path stays in it: where a directory on the
// way is a symlink (one the source tree shipped, or one swapped in) that
// leads out of the Path, nothing is written there and the error wraps
// ErrOutsideModule. A file of the same name shipped as a symlink is
// replaced by the copy, never written through. A dest outside the Path
// (absolute, or with "..") is the caller's explicit choice and is not
// checked.
func CopyConfigFile(ctx context.Context, m *porter.Module, name string, dest ...string) error {
	local, dir, err := configCopy(m, name, dest)
	if err != nil {
		return err
	}
	if m.Host() == nil {
		return fmt.Errorf("copy config %q: module %s is not connected to a host", name, m.Name())
	}
	root := ""
	if underRoot(m.Path(), dir) {
		root = m.Path() // a file shipped as a symlink must not take the copy elsewhere
	}
	if err := copyTree(ctx, m.Host(), local, path.Join(dir, filepath.Base(local)), root); err != nil {
		return fmt.Errorf("copy config %q: %w", name, err)
	}
	m.Log().Info("config copied", "file", name, "to", dir)
	return nil
}

// configCopy returns the local config file name of m and the directory
// CopyConfigFile copies it into.
func configCopy(m *porter.Module, name string, dest []string) (local, dir string, err error) {
	if local, err = ConfigFile(m, name); err != nil {
		return "", "", err
	}
	dir = m.Path()
	if len(dest) > 0 && dest[0] != "" {
		dir = dest[0]
		if !path.IsAbs(dir) {
			dir = path.Join(m.Path(), dir)
		}
	}
	return local, dir, nil
}

// ConfigFile returns the local path of the config file name of m
// (<module>/config/<--config>/<name>) after checking that it exists and does
// not leave the config directory.
func ConfigFile(m *porter.Module, name string) (string, error) {
	rel := m.ConfigDir()
	if r, err := filepath.Rel(m.Project().Dir, rel); err == nil {
		rel = r
	}
	if name == "" || !filepath.IsLocal(filepath.FromSlash(name)) {
		return "", fmt.Errorf("copy config %q: %w: name a file under %s", name, ErrOutsideConfigDir, rel)
	}
	if st, err := os.Stat(m.ConfigDir()); err != nil || !st.IsDir() {
		return "", fmt.Errorf("copy config %q: %s: no such directory: create it for --config %s: %w", name, rel, m.ConfigName(), fs.ErrNotExist)
	}
	local := filepath.Join(m.ConfigDir(), filepath.FromSlash(name))
	if _, err := os.Stat(local); err != nil {
		return "", fmt.Errorf("copy config %q: %s: no such file: %w", name, filepath.Join(rel, filepath.FromSlash(name)), fs.ErrNotExist)
	}
	return local, nil
}

// file is one copy to make: a regular file, or a directory to create.
type file struct {
	local, remote string
	mode          fs.FileMode
	info          fs.FileInfo
}

// plan lists what to copy, checking every local file first. Symlinks are
// followed: a config file may be a link to a shared one.
func plan(local, remotePath string) ([]file, error) {
	var files []file
	err := localfs.Walk(local, func(p, rel string, info fs.FileInfo) error {
		files = append(files, file{local: p, remote: path.Join(remotePath, rel), mode: info.Mode(), info: info})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy %s: %w", local, err)
	}
	return files, nil
}

func (f file) copy(ctx context.Context, c *sftp.Client, root string) error {
	dir := path.Dir(f.remote)
	if f.mode.IsDir() {
		dir = f.remote
	}
	if root != "" {
		// Before MkdirAll, which would follow a symlink on the way, and
		// again once the directory exists.
		if err := checkWithin(c, root, dir); err != nil {
			return err
		}
	}
	if err := c.MkdirAll(dir); err != nil {
		return err
	}
	if root != "" {
		if err := checkWithin(c, root, dir); err != nil {
			return err
		}
	}
	if f.mode.IsDir() {
		return c.Chmod(f.remote, f.mode.Perm())
	}
	return WriteFile(ctx, c, f.remote, f.local, f.info)
}

// WriteFile writes the local file src to dst on the host atomically: under
// a temporary name in dst's directory, with src's mode and modification
// time, then renamed over dst. The temporary file is removed on any error.
func WriteFile(ctx context.Context, c *sftp.Client, dst, src string, info fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return sftpx.WriteAtomic(ctx, c, dst, in, info.Mode(), info.ModTime())
}
