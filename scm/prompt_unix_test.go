//go:build unix

package scm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noTTYEnv marks the copy of the test binary that
// TestGitNeverPromptsForCredentials runs without a terminal.
const noTTYEnv = "PORTER_TEST_SCM_NO_TTY"

// TestGitNeverPromptsForCredentials checks that git, asked for a password
// by a server, fails at once instead of prompting for one, which would hang
// the deploy waiting for a password nobody types. git prompts on /dev/tty,
// so that the check is the same wherever the tests run (from a terminal or
// not) and never takes the terminal of whoever runs them, it runs in a copy
// of the test binary started in a session of its own, with no controlling
// terminal: there, a git that tries to prompt fails too, but saying "No such
// device or address" instead of "terminal prompts disabled". The copy runs
// with GIT_TERMINAL_PROMPT=1, which Checkout must override, and without
// GIT_ASKPASS, SSH_ASKPASS or any git configuration (see TestMain) that
// could answer for the terminal.
func TestGitNeverPromptsForCredentials(t *testing.T) {
	needGit(t)
	if os.Getenv(noTTYEnv) != "" {
		testGitNeverPrompts(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestGitNeverPromptsForCredentials$", "-test.count=1", "-test.v")
	cmd.Env = []string{noTTYEnv + "=1", "GIT_TERMINAL_PROMPT=1"}
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); strings.ToUpper(k) {
		case noTTYEnv, "GIT_TERMINAL_PROMPT", "GIT_ASKPASS", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE",
			"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the copy without a terminal failed:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: TestGitNeverPromptsForCredentials", "the copy ran the test:\n%s", out)
}

// testGitNeverPrompts is TestGitNeverPromptsForCredentials in the copy
// without a terminal: a clone from an HTTP server that wants a password.
func testGitNeverPrompts(t *testing.T) {
	var requests, withCredentials atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			withCredentials.Add(1)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="porter test"`)
		http.Error(w, "credentials required", http.StatusUnauthorized)
	}))
	defer srv.Close()

	modDir := t.TempDir()
	src, err := New("git://"+srv.URL+"/private.git", modDir)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = src.Checkout(ctx, Release{Name: "stable", Branch: "main"})
	require.Error(t, err)
	require.NoError(t, ctx.Err(), "git waited for a password: %v", err)
	var gerr *GitError
	require.ErrorAs(t, err, &gerr)
	assert.Contains(t, gerr.Stderr, "could not read Username for '"+srv.URL+"': terminal prompts disabled",
		"git must be told never to prompt (GIT_TERMINAL_PROMPT=0)")
	assert.Contains(t, err.Error(), "clone "+srv.URL+"/private.git: ")
	assert.Positive(t, requests.Load(), "git asked the server")
	assert.Zero(t, withCredentials.Load(), "no credentials were sent")
	entries, err := os.ReadDir(modDir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a failed clone leaves nothing behind")
}
