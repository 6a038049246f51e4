// Package testenv keeps what porter's tests run out of the home of whoever
// runs them: a test binary's TestMain calls Main (or Run).
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Main runs the tests of m as Run does and exits with their status.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run runs the tests of m with XDG_CACHE_HOME set to a new temporary
// directory, removed afterwards, so that what the deploys they run cache
// (the dir:// tree hashes: scm.DefaultDirCache) lands there and not in
// ~/.cache; programs the tests start inherit it. It returns m.Run's status.
func Run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "porter-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("XDG_CACHE_HOME", dir); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	return m.Run()
}
