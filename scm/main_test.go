package scm

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs the tests with a git environment of their own: no user or
// system git configuration (a user's url.insteadOf, credential helper,
// askpass or protocol settings would change what the tests see), and HOME
// in a temporary directory, so that nothing git writes, nor the dir://
// hash caches, lands in the home of whoever runs them.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "porter-scm-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("HOME", home)
	os.Unsetenv("XDG_CONFIG_HOME")
	os.Unsetenv("XDG_CACHE_HOME") // the dir:// caches: under HOME, removed below
	os.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	os.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}
