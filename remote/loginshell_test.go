package remote_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// hostileValues are values whose quoting differs between shells: zsh
// expands a leading "=", fish reads \' and \\ inside single quotes and
// joins adjacent quotes, csh expands "!" and refuses newlines in quotes.
var hostileValues = []string{
	"plain",
	"with space",
	"it's",
	`"double"`,
	"$(touch INJECTED)",
	"`touch INJECTED`",
	"; touch INJECTED",
	"-leading-dash",
	"=ls",
	"=",
	`back\slash\`,
	`\'`,
	"!1 !! !$",
	"new\nline",
	"tab\there",
	"~root",
	"*",
	"{a,b}",
	"%s %n",
	"\x1b[31mred",
	"ünïcödé",
	"",
}

// loginShells returns the login shells installed here, by name: each is
// what sshd runs the exec request with. ash is BusyBox's, through a link
// named ash (BusyBox picks the applet by name).
func loginShells(t *testing.T) map[string]string {
	t.Helper()
	shells := map[string]string{}
	for _, name := range []string{"sh", "dash", "bash", "zsh", "fish", "tcsh", "csh"} {
		if p, err := exec.LookPath(name); err == nil {
			shells[name] = p
		}
	}
	if bb, err := exec.LookPath("busybox"); err == nil {
		link := filepath.Join(t.TempDir(), "ash")
		require.NoError(t, os.Symlink(bb, link))
		shells["ash"] = link
	}
	for _, name := range []string{"bash", "dash", "zsh", "fish", "tcsh", "ash"} {
		if _, ok := shells[name]; !ok {
			t.Logf("login shell %s is not installed: not tested (CI installs it)", name)
		}
	}
	return shells
}

func TestRunUnderEveryLoginShell(t *testing.T) {
	for name, path := range loginShells(t) {
		t.Run(name, func(t *testing.T) {
			srv := portertest.NewServer(t, portertest.WithLoginShell(path))
			for _, shared := range []bool{true, false} {
				var opts []remote.Option
				if !shared {
					opts = append(opts, remote.WithoutSharedShell())
				}
				h := srv.Dial(t, opts...)
				var cmd strings.Builder
				var want strings.Builder
				for _, v := range hostileValues {
					cmd.WriteString("printf '[%s]\\n' " + remote.Quote(v) + "; ")
					want.WriteString("[" + v + "]\n")
				}
				out, err := h.Run(context.Background(), cmd.String())
				require.NoError(t, err, "shared %v", shared)
				assert.Equal(t, want.String(), string(out.Stdout), "shared %v", shared)
				assert.NoFileExists(t, filepath.Join(srv.Home(), "INJECTED"), "nothing injected ran")

				// The command runs under /bin/sh whatever the login shell.
				out, err = h.Run(context.Background(), `echo "$((1+2)) ${HOME:+home}"; exit 3`)
				var ee *remote.ExitError
				require.ErrorAs(t, err, &ee)
				assert.Equal(t, 3, ee.Status)
				assert.Equal(t, "3 home\n", string(out.Stdout))

				// Input through RunInput, under the same rules.
				out, err = h.RunInput(context.Background(), "tr a-z A-Z; printf '%s' "+remote.Quote("=x'y"), strings.NewReader("abc\n"))
				require.NoError(t, err)
				assert.Equal(t, "ABC\n=x'y", string(out.Stdout))
			}
			for _, e := range srv.Execs() {
				assert.Equal(t, remote.Bootstrap, e, "only the bootstrap reaches the login shell")
			}
		})
	}
}

func TestNULRefusedBeforeAnythingIsSent(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	_, err := h.Run(context.Background(), "echo a\x00b")
	require.ErrorIs(t, err, remote.ErrNUL)
	_, err = h.RunInput(context.Background(), "cat \x00", nil)
	require.ErrorIs(t, err, remote.ErrNUL)
	assert.Empty(t, srv.Execs(), "nothing was sent")
	require.ErrorIs(t, remote.CanQuote("a\x00b"), remote.ErrNUL)
	require.NoError(t, remote.CanQuote("a b"))
	// The connection is still good.
	out, err := h.Run(context.Background(), "echo fine")
	require.NoError(t, err)
	assert.Equal(t, "fine\n", string(out.Stdout))
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":             "plain text",
		"tab\tand\nnewline":      "tab\tand\nnewline",
		"\x1b[2J\x1b[31mred":     `\x1b[2J\x1b[31mred`,
		"over\rwrite":            `over\x0dwrite`,
		"bell\a del\x7f":         `bell\x07 del\x7f`,
		"c1 \u009b31m":           `c1 \u009b31m`,
		"bad \xff utf8":          `bad \xff utf8`,
		"bidi \u202egnp.exe":     `bidi \u202egnp.exe`,
		"ünïcödé stays":          "ünïcödé stays",
		"nul \x00 byte":          `nul \x00 byte`,
		"replacement \ufffd too": `replacement \ufffd too`,
	} {
		assert.Equal(t, want, remote.Printable(in), "%q", in)
	}
}
