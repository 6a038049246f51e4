package remote_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/remote"
)

func TestQuoteForms(t *testing.T) {
	for in, want := range map[string]string{
		"":              "''",
		"plain":         "plain",
		"/srv/app-1.2":  "/srv/app-1.2",
		"a=b,c:d@e+f%g": "a=b,c:d@e+f%g",
		"a b":           "'a b'",
		"it's":          `'it'\''s'`,
		"~":             "'~'",
		"*":             "'*'",
	} {
		assert.Equal(t, want, remote.Quote(in), "Quote(%q)", in)
	}
}

// TestQuoteThroughShell hands hostile values to a real shell: each must come
// back byte for byte, and nothing in it may run.
func TestQuoteThroughShell(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	hostile := []string{
		"", "a b", "it's", "'", "''", `\`, `"`, `\'`, "-rf", "-n", "--", "~", "~root", "*", "?", "[a]",
		"$(touch " + pwned + ")", "`touch " + pwned + "`", "$HOME", "${HOME}", "a;touch " + pwned,
		"a|touch " + pwned, "a&&touch " + pwned, "a\ntouch " + pwned, "line1\nline2\n", "tab\there",
		"#comment", "a#b", "!", "{a,b}", "a>" + pwned, "<" + pwned, "\x01\x7f\xff", "é ü", " lead", "trail ",
	}
	for _, v := range hostile {
		cmd := exec.Command("/bin/sh", "-c", "printf %s "+remote.Quote(v))
		cmd.Dir = dir
		out, err := cmd.Output()
		require.NoError(t, err, "value %q", v)
		assert.Equal(t, v, string(out), "value %q quoted as %s", v, remote.Quote(v))
	}
	_, err := os.Stat(pwned)
	assert.True(t, os.IsNotExist(err), "a quoted value ran a command")
}

// TestQuoteThroughRemoteShell does the same over SSH, through Run.
func TestQuoteThroughRemoteShell(t *testing.T) {
	h := newHost(t)
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	for _, v := range []string{"a b", "it's", "$(touch " + pwned + ")", "`touch " + pwned + "`", "x\ntouch " + pwned, "-rf"} {
		out, err := h.Run(bg, "cd "+remote.Quote(dir)+" && printf %s "+remote.Quote(v))
		require.NoError(t, err)
		assert.Equal(t, v, string(out.Stdout))
	}
	assert.NoFileExists(t, pwned)
}
