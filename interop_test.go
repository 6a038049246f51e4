package porter_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/bench/tree"
	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
)

// TestInteropExampleDeploysToRealOpenSSH builds the example deploy program
// and runs it, as a user would, against a real OpenSSH sshd on loopback: the
// program finds the server through ~/.ssh/config (an alias with HostName,
// Port, User and IdentityFile) and trusts it through ~/.ssh/known_hosts, in
// a HOME made for the test. The deployed trees must equal the sources byte
// for byte and mode for mode, the signals must fire in the original order,
// and a second run must skip every module.
func TestInteropExampleDeploysToRealOpenSSH(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example program and starts sshd")
	}
	sshd := sshdtest.Start(t)
	bin := filepath.Join(t.TempDir(), "basic")
	build := exec.Command("go", "build", "-o", bin, "./examples/basic")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))

	home, dest, log := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "signals")
	host, port, _ := strings.Cut(sshd.Addr(), ":")
	portertest.WriteFiles(t, home, map[string]string{
		".ssh/config": "Host interop-sshd\n  HostName " + host + "\n  Port " + port + "\n  User " + sshd.User() +
			"\n  IdentityFile " + sshd.IdentityFile() + "\n",
	})
	known, err := os.ReadFile(sshd.KnownHostsFile())
	require.NoError(t, err)
	portertest.WriteFiles(t, home, map[string]string{".ssh/known_hosts": string(known)})

	project := copyExampleProject(t, dest, log)
	run := func(args ...string) string {
		cmd := exec.Command(bin, append([]string{"--project", project}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	out1 := run("deploy", "--host", "interop", "--config", "production")
	assert.Regexp(t, `(?m)^shared\s+deployed`, out1)

	src := filepath.Join(project)
	assert.Equal(t, treeOf(t, filepath.Join(src, "shared/src"), nil), treeOf(t, filepath.Join(dest, "shared"), nil))
	wantAPI := treeOf(t, filepath.Join(src, "api/src"), regexp.MustCompile(`\.tmp$`))
	wantAPI["settings.ini"] = treeOf(t, filepath.Join(src, "api/config/production"), nil)["settings.ini"]
	assert.Equal(t, "0600 [api]\ndebug = false\ndatabase = postgres://db.internal/app\n", wantAPI["settings.ini"])
	assert.Equal(t, wantAPI, treeOf(t, filepath.Join(dest, "api"), nil))
	wantWeb := treeOf(t, filepath.Join(src, "web/src"), nil)
	wantWeb["STATUS"] = "0644 web is live\n"
	assert.Equal(t, wantWeb, treeOf(t, filepath.Join(dest, "web"), nil))

	b, err := os.ReadFile(log)
	require.NoError(t, err)
	var want []string
	for _, m := range []string{"shared", "api", "web"} {
		for _, s := range []string{"deploy-start", "source-pre-send:empty", "source-post-send:sent", "deploy-finish"} {
			want = append(want, m+":"+s)
		}
	}
	assert.Equal(t, strings.Join(want, "\n")+"\n", string(b))

	out2 := run("deploy", "--host", "interop", "--config", "production")
	assert.Regexp(t, `(?m)^shared\s+unchanged`, out2)
	assert.Regexp(t, `(?m)^api\s+unchanged`, out2)
	assert.Regexp(t, `(?m)^web\s+unchanged`, out2)
	b2, _ := os.ReadFile(log)
	assert.Equal(t, string(b), string(b2), "no signal fired for unchanged modules")

	status := run("status", "--host", "interop")
	assert.Regexp(t, `(?m)^api\s+up to date\s+sha256:\w+\s+stable\s+production`, status)
}

// copyExampleProject copies examples/basic/project, adds a host "interop"
// (the ~/.ssh/config alias) whose module paths lie under dest, and makes
// every module log its signals to log through the command plugin.
func copyExampleProject(t *testing.T, dest, log string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "project")
	require.NoError(t, os.CopyFS(dir, os.DirFS("examples/basic/project")))
	// Git keeps no modes but the executable bit: make the secret a secret.
	require.NoError(t, os.Chmod(filepath.Join(dir, "api/config/production/settings.ini"), 0o600))
	edit := func(rel string, f func(string) string) {
		p := filepath.Join(dir, rel)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(p, []byte(f(string(b))), 0o644))
	}
	edit("project.ini", func(s string) string {
		return strings.Replace(s, "[hosts]\n", "[hosts]\ninterop = interop-sshd\n", 1)
	})
	const plugin = "[plugin:github.com/porter-deploy/porter/plugins/command]\n"
	for _, m := range []string{"shared", "api", "web"} {
		logLine := func(sig string) string { return "echo " + m + ":" + sig + " >> " + log }
		keys := "deploy-start-interop = " + logLine("deploy-start") + "\n" +
			"source-pre-send-interop = (ls -A | grep -qv '^.porter$' && " + logLine("source-pre-send:not-empty") +
			" || " + logLine("source-pre-send:empty") + ")\n" +
			"source-post-send-interop = ls -A | grep -qv '^.porter$' && " + logLine("source-post-send:sent") + "\n" +
			"deploy-finish-interop = " + logLine("deploy-finish") + "\n"
		edit(m+"/"+m+".ini", func(s string) string {
			s = strings.Replace(s, "[module]\n", "[module]\npath-interop = "+filepath.Join(dest, m)+"\n", 1)
			if strings.Contains(s, plugin) {
				// web: its own deploy-finish, then the log line.
				keys = strings.Replace(keys, "deploy-finish-interop = ", "deploy-finish-interop = echo \"web is live\" > STATUS && ", 1)
				return strings.Replace(s, plugin, plugin+keys, 1)
			}
			return s + "\n" + plugin + keys
		})
	}
	return dir
}

// treeOf maps every file under root (but porter's state dir and the paths
// skip matches) to "MODE content".
func treeOf(t *testing.T, root string, skip *regexp.Regexp) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && rel == ledger.Dir {
			return filepath.SkipDir
		}
		if d.IsDir() || (skip != nil && skip.MatchString(rel)) {
			return nil
		}
		info, err := d.Info()
		require.NoError(t, err)
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[filepath.ToSlash(rel)] = fmt.Sprintf("%04o %s", info.Mode().Perm(), b)
		return nil
	}))
	return out
}

// TestInteropFleetToRealOpenSSH deploys one module to three real OpenSSH
// sshd on loopback as a group, byte for byte, then with one of them down:
// by default nothing starts and the report names it; with KeepGoing the
// other two deploy.
func TestInteropFleetToRealOpenSSH(t *testing.T) {
	f := startSshdFleet(t, 3, tree.Spec{Files: 60, Dirs: 4})
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	rep, err := porter.Deploy(context.Background(), p, porter.Options{Target: f.target("fleet"), Config: "t", Logger: discard})
	require.NoError(t, err)
	assert.Equal(t, map[porter.Outcome]int{porter.Deployed: 3}, rep.Totals())
	for i := range 3 {
		sameTree(t, f.src, filepath.Join(f.remote, fmt.Sprintf("h%d", i+1)))
	}

	f.srvs[1].Close()
	if _, err := tree.Touch(f.src, 10, 7); err != nil {
		t.Fatal(err)
	}
	rep, err = porter.Deploy(context.Background(), p, porter.Options{Target: f.target("fleet"), Config: "t", Logger: discard})
	var fe *porter.FleetError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, []string{"h2"}, fe.Failed)
	assert.Equal(t, []string{"h1", "h3"}, fe.NotStarted)
	assert.Equal(t, []string{"h1", "h2", "h3"}, rep.Rerun())

	rep, err = porter.Deploy(context.Background(), p, porter.Options{Target: f.target("fleet"), Config: "t", Logger: discard, KeepGoing: true})
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, []string{"h2"}, rep.Rerun())
	for _, i := range []int{0, 2} {
		sameTree(t, f.src, filepath.Join(f.remote, fmt.Sprintf("h%d", i+1)))
	}
}

// sameTree checks that dst holds what src does (but .git), byte for byte
// and mode for mode, naming only the paths that differ.
func sameTree(t *testing.T, src, dst string) {
	t.Helper()
	skip := regexp.MustCompile(`^\.git(/|$)`)
	want, got := treeOf(t, src, skip), treeOf(t, dst, skip)
	var differ []string
	for p, w := range want {
		if got[p] != w {
			differ = append(differ, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			differ = append(differ, p+" (not in the source)")
		}
	}
	sort.Strings(differ)
	assert.Empty(t, differ, "%s differs from %s", dst, src)
	assert.NotEmpty(t, want)
}
