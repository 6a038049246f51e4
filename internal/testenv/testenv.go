// Package testenv keeps what porter's tests run out of the home of whoever
// runs them: a test binary's TestMain calls Main (or Run).
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
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

// WriteExecutable writes an executable file (mode 0755) for a test to run,
// through a child process, so that no write descriptor of it is ever open
// in the test's own process: a child that another test forks meanwhile
// would inherit it until its exec, and running the file in that moment
// fails with "text file busy" (ETXTBSY, golang.org/issue/22315).
func WriteExecutable(tb testing.TB, path, content string) {
	tb.Helper()
	cmd := exec.Command("/bin/sh", "-c", `cat > "$1" && chmod 0755 "$1"`, "sh", path)
	cmd.Stdin = strings.NewReader(content)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("write the executable %s: %v: %s", path, err, out)
	}
}
