package scp

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/porter-deploy/porter"
)

// DescribeCopy returns the line a plan shows for CopyFile of the local
// file or directory local to remotePath for the module m: "copy LOCAL to
// REMOTE (MODE)", LOCAL relative to the project's directory, MODE the
// local file's (which the copy keeps), or "directory" for a directory,
// copied with what it holds. It reads the local file only.
func DescribeCopy(m *porter.Module, local, remotePath string) (string, error) {
	st, err := os.Stat(local)
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", local, err)
	}
	what := fmt.Sprintf("%04o", st.Mode().Perm())
	if st.IsDir() {
		what = "directory"
	}
	rel := local
	if r, err := filepath.Rel(m.Project().Dir, local); err == nil && filepath.IsLocal(r) {
		rel = filepath.ToSlash(r)
	}
	return fmt.Sprintf("copy %s to %s (%s)", rel, remotePath, what), nil
}

// DescribeConfigCopy returns the line a plan shows for CopyConfigFile(ctx,
// m, name, dest...), with the same checks of the local file and the same
// destination, as DescribeCopy words it.
func DescribeConfigCopy(m *porter.Module, name string, dest ...string) (string, error) {
	local, dir, err := configCopy(m, name, dest)
	if err != nil {
		return "", err
	}
	return DescribeCopy(m, local, path.Join(dir, filepath.Base(local)))
}
