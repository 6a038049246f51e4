package crontab_test

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/testenv"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// realUserEnv names the throwaway user whose crontab
// TestRealCrontabOfAThrowawayUser may replace.
const realUserEnv = "PORTER_TEST_CRONTAB_USER"

// TestRealCrontabOfAThrowawayUser deploys with the real crontab, which the
// other tests replace by a stand-in (see standin_test.go), and checks that
// the stand-in accepts and refuses the crontabs the real one does. The real
// crontab acts on the crontab of the user it runs as, and the portertest
// server runs commands as the user running the tests; so this test runs
// only as root, for a throwaway user that PORTER_TEST_CRONTAB_USER names
// (never root): a wrapper first on the PATH runs the real crontab with -u
// USER, on the PATH of the test's servers alone. It replaces USER's crontab,
// puts it back when it ends, and never touches root's; it runs in parallel
// with the others, which use stand-ins. For example, as root:
//
//	useradd -m porter-cron-test
//	PORTER_TEST_CRONTAB_USER=porter-cron-test go test ./plugins/crontab/
func TestRealCrontabOfAThrowawayUser(t *testing.T) {
	t.Parallel()
	name := os.Getenv(realUserEnv)
	if name == "" {
		t.Skip("the real crontab is tested only as root, for a throwaway user: set " + realUserEnv + "=USER, a user whose crontab the test may replace")
	}
	if os.Geteuid() != 0 {
		t.Skip("the real crontab is tested only as root (crontab -u " + name + ")")
	}
	u, err := user.Lookup(name)
	require.NoError(t, err, realUserEnv)
	require.NotEqual(t, "0", u.Uid, realUserEnv+" must name a throwaway user, not root")
	real, err := exec.LookPath("crontab")
	if err != nil {
		t.Skip("crontab is not installed: apt-get install cron")
	}

	crontab := func(stdin string, args ...string) (string, string, error) {
		cmd := exec.Command(real, append([]string{"-u", name}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	get := func(t *testing.T) (string, bool) {
		t.Helper()
		out, stderr, err := crontab("", "-l")
		if err != nil {
			require.Contains(t, stderr, "no crontab for "+name)
			return "", false
		}
		return out, true
	}
	set := func(t *testing.T, content string, ok bool) {
		t.Helper()
		if !ok {
			_, stderr, err := crontab("", "-r")
			if err != nil {
				require.Contains(t, stderr, "no crontab for "+name)
			}
			return
		}
		_, stderr, err := crontab(content, "-")
		require.NoError(t, err, stderr)
	}
	old, had := get(t)
	t.Cleanup(func() { set(t, old, had) })

	t.Run("the stand-in answers as crontab does", func(t *testing.T) {
		for _, tc := range standinCases {
			set(t, "", false)
			_, stderr, err := crontab(tc.crontab, "-")
			if tc.refused == "" {
				assert.NoError(t, err, "%q: %s", tc.crontab, stderr)
				got, _ := get(t)
				assert.Equal(t, tc.crontab, got, "crontab -l prints what was installed")
			} else {
				assert.Error(t, err, "%q is refused", tc.crontab)
				assert.True(t, strings.HasPrefix(stderr, tc.refused), "%q: %q", tc.crontab, stderr)
			}
		}
	})

	bin := t.TempDir()
	script := "#!/bin/sh\nexec " + remote.Quote(real) + " -u " + remote.Quote(name) + " \"$@\"\n"
	testenv.WriteExecutable(t, filepath.Join(bin, "crontab"), script)
	onPath := portertest.WithEnv("PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"))
	requireServerCrontab(t, filepath.Join(bin, "crontab"), onPath) // never root's crontab

	t.Run("install", func(t *testing.T) {
		set(t, "", false)
		srv := portertest.NewServer(t, onPath)
		dest := filepath.Join(t.TempDir(), "the app")
		require.NoError(t, deploy(srv, project(t, dest, "", "app", good, ""), update))
		assert.Equal(t, []string{"crontab -l", "crontab - < '" + dest + "/app.crontab'"}, srv.Commands())
		got, ok := get(t)
		require.True(t, ok)
		assert.Equal(t, good, got)
	})

	t.Run("malformed", func(t *testing.T) {
		const before = "0 3 * * * /bin/echo before\n"
		set(t, before, true)
		srv := portertest.NewServer(t, onPath)
		dest := filepath.Join(t.TempDir(), "the app")
		err := deploy(srv, project(t, dest, "", "app", "# a job\nthis is not a crontab line\n", ""), update)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `exit status 1: "-":1: bad minute`)
		assert.Contains(t, err.Error(), "fix the lines crontab names in app/crontab/app.crontab")
		got, _ := get(t)
		assert.Equal(t, before, got)
	})

	for _, tc := range []struct {
		name   string
		before string
		had    bool
	}{{"undo: had one", "0 3 * * * /bin/echo before\n", true}, {"undo: had none", "", false}} {
		t.Run(tc.name, func(t *testing.T) {
			set(t, tc.before, tc.had)
			srv := portertest.NewServer(t, onPath)
			p := project(t, filepath.Join(t.TempDir(), "the app"), "", "app", good, "[plugin:"+command+"]\ndeploy-finish = exit 3\n")
			err := deploy(srv, p, update)
			require.Error(t, err)
			got, had := get(t)
			assert.Equal(t, tc.had, had)
			assert.Equal(t, tc.before, got)
		})
	}
}
