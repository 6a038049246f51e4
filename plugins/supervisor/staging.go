package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/remote"
)

// stagingCommand makes the private directory a launcher is staged in:
// mktemp -d creates it 0700, owned by the SSH user, so no other user of the
// host reads the launcher's environment= secrets on the way.
const stagingCommand = "mktemp -d"

// maxStagingPath bounds the path mktemp -d prints.
const maxStagingPath = 4096

// stagingDir creates the staging directory on m's host and returns its
// path, checked to be absolute, one line, and a directory only its owner
// may read.
func stagingDir(ctx context.Context, m *porter.Module) (string, error) {
	h := m.Host()
	out, err := h.Run(ctx, stagingCommand)
	if err != nil {
		return "", fmt.Errorf("make a private directory to stage it in: %w: install mktemp on the host", err)
	}
	dir := strings.TrimSuffix(string(out.Stdout), "\n")
	if len(dir) > maxStagingPath || !path.IsAbs(dir) || strings.ContainsAny(dir, "\n\x00") {
		return "", fmt.Errorf("make a private directory to stage it in: %s printed %s, not a path", stagingCommand, remote.Printable(strings.TrimSpace(string(out.Stdout))))
	}
	c, err := h.SFTP(ctx)
	if err != nil {
		return "", err
	}
	st, err := c.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("make a private directory to stage it in: stat %s: %w", dir, err)
	}
	if !st.IsDir() || st.Mode().Perm()&0o077 != 0 {
		removeStaging(m, c, dir)
		return "", fmt.Errorf("make a private directory to stage it in: %s made %s with mode %s, not a private directory", stagingCommand, dir, st.Mode())
	}
	return dir, nil
}

// removeStaging removes the staging directory dir and the launcher in it
// (listeners may have left more files: all go).
func removeStaging(m *porter.Module, c *sftp.Client, dir string) {
	if err := c.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.Log().Warn("could not remove the directory the launcher was staged in", "dir", dir, "error", err)
	}
}
