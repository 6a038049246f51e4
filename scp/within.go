// How a config copy or a placeholder edit stays in the module's path.

package scp

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/remote"
)

// ErrOutsideModule is wrapped by the error of CopyConfigFile and
// ReplaceModulePlaceholders when what they would write lies outside the
// module's path once the host resolves its symlinks: a directory or file
// that the source tree shipped as a symlink to elsewhere (or that was
// swapped for one). Nothing is written.
var ErrOutsideModule = errors.New("leaves the module's path through a symlink")

// underRoot reports whether p is root or below it, lexically.
func underRoot(root, p string) bool {
	root, p = path.Clean(root), path.Clean(p)
	return p == root || root == "/" || strings.HasPrefix(p, root+"/")
}

// checkWithin checks, right before a write, that p (a path on the host
// below root) is still below root once every symlink on the way is
// resolved: the real path of p (of its part that exists) must be root's
// real path or below it. A symlink inside the module to elsewhere in it is
// fine; one that leads out is refused. The links are resolved here, one
// lstat per name, because SFTP servers do not all resolve them in
// realpath requests.
func checkWithin(c *sftp.Client, root, p string) error {
	if !path.IsAbs(root) || !path.IsAbs(p) {
		// Relative to the login directory, as SFTP takes them.
		wd, err := c.Getwd()
		if err != nil {
			return fmt.Errorf("resolve %s: the login directory: %w", remote.Printable(p), err)
		}
		if !path.IsAbs(root) {
			root = path.Join(wd, root)
		}
		if !path.IsAbs(p) {
			p = path.Join(wd, p)
		}
	}
	realRoot, err := realPath(c, root)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", remote.Printable(root), err)
	}
	real, err := realPath(c, p)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", remote.Printable(p), err)
	}
	if !underRoot(realRoot, real) {
		return fmt.Errorf("%s is %s on the host, outside %s: %w", remote.Printable(p), remote.Printable(real), remote.Printable(root), ErrOutsideModule)
	}
	return nil
}

// realPath resolves every symlink of the absolute path p, name by name;
// from the first name that does not exist, the rest is taken as it is.
func realPath(c *sftp.Client, p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%s: not an absolute path", p)
	}
	todo := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	at := "/"
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			at = path.Dir(at)
			continue
		}
		next := path.Join(at, name)
		fi, err := c.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			return path.Join(append([]string{next}, todo...)...), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			at = next
			continue
		}
		if links++; links > maxLinks {
			return "", fmt.Errorf("%s: more than %d symlinks to follow", p, maxLinks)
		}
		target, err := c.ReadLink(next)
		if err != nil {
			return "", fmt.Errorf("read link %s: %w", next, err)
		}
		if path.IsAbs(target) {
			at = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return at, nil
}
