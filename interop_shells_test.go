package porter_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/porter-deploy/porter/internal/dropbeartest"
	"github.com/porter-deploy/porter/internal/localfs"
	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/remote"
)

// The interop suite: a deploy program built from porter.Main()
// (testdata/interopdeploy) deploys a tree of hostile names to real servers,
// as a user would run it: the host is an alias of ~/.ssh/config, trusted
// through ~/.ssh/known_hosts, in a HOME made for the test. Each case checks
// that the tree lands byte for byte (types, modes, symlink targets,
// contents, file mtimes), that a second deploy is unchanged and sends
// nothing, that a one-file change sends exactly that file, and that none
// of the names ran as code (every injection would `cd` to its HOME and
// create a file named INJECTED-*).
//
// A missing program or user skips its case with the command that installs
// or creates it; .ci/run installs and creates them all.
func TestInteropHostileTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a deploy program and starts sshd and dropbear")
	}
	bin := buildInteropDeploy(t)

	// 1. OpenSSH, logging in as a throwaway user per login shell.
	shells := []struct{ name, user, bin, install string }{
		{"bash", "porter-bash", "bash", "bash"},
		{"dash", "porter-dash", "dash", "dash"},
		{"zsh", "porter-zsh", "zsh", "zsh"},
		{"fish", "porter-fish", "fish", "fish"},
		{"tcsh", "porter-tcsh", "tcsh", "tcsh"},
		{"busybox-ash", "porter-ash", "busybox", "busybox"},
	}
	for _, sh := range shells {
		t.Run("openssh/login-shell/"+sh.name, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(sh.bin); err != nil {
				t.Skipf("%s not installed: apt-get install %s", sh.bin, sh.install)
			}
			if os.Geteuid() != 0 {
				t.Skipf("logs in as %s, another user: only an sshd run as root can, and this test does not run as root", sh.user)
			}
			u := throwawayUser(t, sh.user, sh.name)
			srv := sshdtest.Start(t, sshdtest.AllowUser(u.Username))
			runHostileDeploy(t, bin, interopHost{
				sshConfig:  sshConfigEntry("target", srv.Addr(), u.Username, srv.IdentityFile(), ""),
				knownHosts: readFile(t, srv.KnownHostsFile()),
				login:      u,
				throwaway:  true,
				serverLog:  srv.Log,
			})
		})
	}

	// 2. Dropbear, with its external sftp-server.
	t.Run("dropbear", func(t *testing.T) {
		t.Parallel()
		u := dropbearUser(t)
		snap := homeSnapshot(t, u.HomeDir) // the server's cleanup, then this one
		t.Cleanup(func() { assert.Equal(t, snap, homeSnapshot(t, u.HomeDir), "the deploy changed %s's HOME", u.Username) })
		srv := dropbeartest.Start(t, u.Username)
		runHostileDeploy(t, bin, interopHost{
			sshConfig:  sshConfigEntry("target", srv.Addr(), u.Username, srv.IdentityFile(), ""),
			knownHosts: readFile(t, srv.KnownHostsFile()),
			login:      u,
			serverLog:  srv.Log,
		})
	})

	// 3. BusyBox first on PATH (sshd's SetEnv, so that no login shell
	// file is written): "find-tar" has BusyBox's find (no -printf) and tar
	// (neither GNU tar nor bsdtar) first, "all-but-head" every applet but
	// sh and head (mktemp, rm, chmod, sha256sum, cat...), "all" head too.
	for _, applets := range []string{"find-tar", "all-but-head", "all"} {
		t.Run("openssh/busybox-path/"+applets, func(t *testing.T) {
			t.Parallel()
			bb, err := exec.LookPath("busybox")
			if err != nil {
				t.Skip("busybox not installed: apt-get install busybox")
			}
			if applets == "all" && os.Getenv("PORTER_INTEROP_KNOWN_BUGS") == "" {
				t.Skip("known bug: BusyBox's head -c reads ahead on a pipe (stdio buffering), so the shell loop's " +
					"`c=$(head -c \"$n\"; echo .)` eats the frame's \"go\" line and the next frames, and the shell waits " +
					"for them forever: Host.Run and the deploy hang (set PORTER_INTEROP_KNOWN_BUGS=1 to run it)")
			}
			dir := t.TempDir()
			if applets == "find-tar" {
				for _, a := range []string{"find", "tar"} {
					require.NoError(t, os.Symlink(bb, filepath.Join(dir, a)))
				}
			} else {
				out, err := exec.Command(bb, "--install", "-s", dir).CombinedOutput()
				require.NoError(t, err, string(out))
				os.Remove(filepath.Join(dir, "sh")) // /bin/sh runs porter's programs anyway
				if applets == "all-but-head" {
					require.NoError(t, os.Remove(filepath.Join(dir, "head")))
				}
			}
			srv := sshdtest.Start(t, sshdtest.WithConfig("SetEnv PATH="+dir+":/usr/local/bin:/usr/bin:/bin"))
			// The login shell must not have put its own PATH first.
			h := srv.Dial(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := h.Run(ctx, "command -v find; command -v tar; find --help 2>&1 | head -n 1")
			require.NoError(t, err)
			require.Equal(t, dir+"/find\n"+dir+"/tar\n", strings.Join(strings.SplitAfter(string(out.Stdout), "\n")[:2], ""),
				"the login shell of %s does not find BusyBox first on the PATH that sshd set: %s", srv.User(), out.Stdout)
			assert.Contains(t, string(out.Stdout), "BusyBox")
			runHostileDeploy(t, bin, interopHost{
				sshConfig:  sshConfigEntry("target", srv.Addr(), srv.User(), srv.IdentityFile(), ""),
				knownHosts: readFile(t, srv.KnownHostsFile()),
				login:      currentUserT(t),
				serverLog:  srv.Log,
			})
		})
	}

	// 4. Agent only: ~/.ssh holds a passphrase-protected key (which porter
	// cannot read) and the agent holds it decrypted.
	t.Run("openssh/agent-only-passphrase-key", func(t *testing.T) {
		t.Parallel()
		srv := sshdtest.Start(t)
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		spub, err := ssh.NewPublicKey(pub)
		require.NoError(t, err)
		require.NoError(t, srv.AuthorizeKey(spub))
		block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "interop", []byte("correct horse battery staple"))
		require.NoError(t, err)
		sock := serveInteropAgent(t, priv)
		runHostileDeploy(t, bin, interopHost{
			// No IdentityFile: the default ~/.ssh/id_ed25519 is the encrypted key.
			sshConfig:  sshConfigEntry("target", srv.Addr(), srv.User(), "", ""),
			knownHosts: readFile(t, srv.KnownHostsFile()),
			homeFiles:  map[string][]byte{".ssh/id_ed25519": pem.EncodeToMemory(block)},
			env:        []string{"SSH_AUTH_SOCK=" + sock},
			login:      currentUserT(t),
			serverLog:  srv.Log,
		})
		assert.Contains(t, srv.Log(), "Accepted publickey for "+srv.User()+" from 127.0.0.1")
		assert.Contains(t, srv.Log(), ssh.FingerprintSHA256(spub), "the agent's key logged in")
	})

	// 5. ProxyJump through a second sshd.
	t.Run("openssh/proxyjump", func(t *testing.T) {
		t.Parallel()
		jump := sshdtest.Start(t, sshdtest.WithConfig("LogLevel DEBUG1"))
		target := sshdtest.Start(t)
		_, targetPort, _ := net.SplitHostPort(target.Addr())
		runHostileDeploy(t, bin, interopHost{
			sshConfig: sshConfigEntry("jump", jump.Addr(), jump.User(), jump.IdentityFile(), "") +
				sshConfigEntry("target", target.Addr(), target.User(), target.IdentityFile(), "jump"),
			knownHosts: readFile(t, jump.KnownHostsFile()) + readFile(t, target.KnownHostsFile()),
			login:      currentUserT(t),
			serverLog:  target.Log,
		})
		assert.Contains(t, jump.Log(), "Accepted publickey for "+jump.User())
		assert.Regexp(t, `direct-tcpip|direct_tcpip`, jump.Log())
		assert.Contains(t, jump.Log(), "target 127.0.0.1 port "+targetPort, "the connection to the target went through the jump host")
	})
}

// TestInteropNoSFTPNamesTheServerAndTheFix: on a server without SFTP the
// deploy fails with one line that names the server software it saw and
// what to install or enable (remote.ErrNoSFTP).
func TestInteropNoSFTPNamesTheServerAndTheFix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a deploy program and starts sshd and dropbear")
	}
	bin := buildInteropDeploy(t)
	cases := []struct {
		name  string
		start func(t *testing.T) (addr, user, key, knownHosts string, dial func() *remote.Host)
		want  []string
	}{
		{"openssh-no-subsystem", func(t *testing.T) (string, string, string, string, func() *remote.Host) {
			srv := sshdtest.Start(t, sshdtest.WithoutSFTP())
			return srv.Addr(), srv.User(), srv.IdentityFile(), srv.KnownHostsFile(), func() *remote.Host { return srv.Dial(t) }
		}, []string{"offers no SFTP subsystem", "the server is SSH-2.0-OpenSSH", "Subsystem sftp internal-sftp", "openssh-sftp-server"}},
		{"dropbear-no-sftp-server", func(t *testing.T) (string, string, string, string, func() *remote.Host) {
			u := dropbearUser(t)
			snap := homeSnapshot(t, u.HomeDir)
			t.Cleanup(func() { assert.Equal(t, snap, homeSnapshot(t, u.HomeDir), "the deploy changed %s's HOME", u.Username) })
			srv := dropbeartest.Start(t, u.Username, dropbeartest.WithoutSFTP())
			return srv.Addr(), srv.User(), srv.IdentityFile(), srv.KnownHostsFile(), func() *remote.Host { return srv.Dial(t) }
		}, []string{"offers no SFTP subsystem", "the server is SSH-2.0-dropbear", "install it", "openssh-sftp-server"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr, user, key, known, dial := c.start(t)
			// The package's error.
			_, err := dial().SFTP(context.Background())
			require.ErrorIs(t, err, remote.ErrNoSFTP)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			// The deploy program's one line.
			home, project, dest := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "dest")
			writeInteropHome(t, home, sshConfigEntry("target", addr, user, key, ""), readFile(t, known), nil)
			writeInteropProject(t, project, dest, map[string]string{"README": "hello\n"})
			stdout, stderr, code := runInteropDeploy(t, bin, home, project, nil)
			out := stderr + stdout
			require.Equal(t, 1, code, out)
			for _, w := range c.want {
				assert.Contains(t, out, w)
			}
			assert.Regexp(t, `(?m)^tree\s+failed`, out)
		})
	}
}

// interopHost is where a case deploys.
type interopHost struct {
	sshConfig  string            // ~/.ssh/config of the deploy program, with a Host "target"
	knownHosts string            // its ~/.ssh/known_hosts
	homeFiles  map[string][]byte // more files in that HOME (mode 0600)
	env        []string          // more environment for the deploy program
	login      *user.User        // the user the server logs in: it owns the destination
	throwaway  bool              // login is a throwaway user: its HOME must stay as it was
	serverLog  func() string     // for failures
}

// runHostileDeploy deploys the hostile tree to h three times: the first
// sends it all, the second nothing, the third the one file changed.
func runHostileDeploy(t *testing.T, bin string, h interopHost) {
	t.Helper()
	if h.throwaway {
		snap := homeSnapshot(t, h.login.HomeDir)
		t.Cleanup(func() {
			assert.Equal(t, snap, homeSnapshot(t, h.login.HomeDir), "the deploys changed %s's HOME", h.login.Username)
		})
	}
	home, project := t.TempDir(), filepath.Join(t.TempDir(), "project")
	writeInteropHome(t, home, h.sshConfig, h.knownHosts, h.homeFiles)
	base := destBase(t, h.login)
	dest := filepath.Join(base, "=dest $(cd;touch INJECTED-dest) it's")
	files := writeInteropProject(t, project, dest, nil)
	src := filepath.Join(project, "tree/src")
	t.Cleanup(func() { assertNotInjected(t, h.login.HomeDir, home) })

	deploy := func(what string) (status string, sent, bytes int, out string) {
		t.Helper()
		stdout, stderr, code := runInteropDeploy(t, bin, home, project, h.env)
		out = stderr + stdout
		require.Equal(t, 0, code, "%s:\n%s\nserver log:\n%s", what, out, lastLogLines(h.serverLog(), 15))
		m := regexp.MustCompile(`(?m)^tree\s+(\w+)\s+\S+\s+[0-9.]+s\s+(\d+)\s+(\d+)\s*$`).FindStringSubmatch(stdout)
		require.NotNil(t, m, "%s: no report line for module tree:\n%s", what, out)
		sent, _ = strconv.Atoi(m[2])
		bytes, _ = strconv.Atoi(m[3])
		return m[1], sent, bytes, out
	}

	status, sent, _, out := deploy("the first deploy")
	assert.Equal(t, "deployed", status, out)
	assert.Equal(t, files, sent, "the first deploy sends every file and link:\n%s", out)
	assert.Equal(t, treeState(t, src, false), treeState(t, dest, true), "the deployed tree")

	status, sent, _, out = deploy("the second deploy")
	assert.Equal(t, "unchanged", status, out)
	assert.Equal(t, 0, sent, out)
	assert.NotContains(t, out, "source sent", "the second deploy sent something:\n%s", out)

	changed := filepath.Join(src, "dir $(cd;touch INJECTED-dir)", "-n")
	content := "changed: a new line, longer than before\n"
	require.NoError(t, os.WriteFile(changed, []byte(content), 0o640))
	status, sent, n, out := deploy("the deploy of one changed file")
	assert.Equal(t, "deployed", status, out)
	assert.Equal(t, 1, sent, "exactly the changed file is sent:\n%s", out)
	assert.Equal(t, len(content), n, "exactly its bytes are sent:\n%s", out)
	assert.Regexp(t, `source sent .*files=1 `, out)
	assert.Equal(t, treeState(t, src, false), treeState(t, dest, true), "the tree after the change")
}

// hostileTree is the source tree: names that mean something to a shell
// (sh, zsh's "=", fish's "(...)", csh's "!" and backquotes), to an option
// parser (a leading "-") or to a line reader (a newline, a trailing
// backslash, leading and trailing spaces), in files, directories and
// symlink targets, with modes to keep.
var hostileTree = struct {
	dirs  map[string]fs.FileMode
	files map[string]fs.FileMode // content: the name, a newline, and the name again
	links map[string]string
}{
	dirs: map[string]fs.FileMode{
		"dir $(cd;touch INJECTED-dir)":          0o750,
		"-dashdir":                              0o700,
		"empty 'dir'":                           0o755,
		"=eqdir":                                0o755,
		"=eqdir/a b":                            0o711,
		"=eqdir/a b/`cd;touch INJECTED-nested`": 0o755,
		"sticky dir":                            0o1777,
		"setgid dir":                            0o2755,
	},
	files: map[string]fs.FileMode{
		"a file with spaces":                   0o644,
		"it's":                                 0o600,
		`say "hi"`:                             0o644,
		"$(cd;touch INJECTED-dollar)":          0o755,
		"`cd;touch INJECTED-backtick`":         0o644,
		"x;cd;touch INJECTED-semicolon":        0o644,
		"a|cd|touch INJECTED-pipe":             0o644,
		"a&&cd&&touch INJECTED-and":            0o644,
		"(cd;touch INJECTED-fish)":             0o644,
		"{cd,touch,INJECTED-brace}":            0o644,
		"-rf":                                  0o644,
		"--help":                               0o644,
		"-":                                    0o644,
		"=ls":                                  0o644,
		"=x y":                                 0o444,
		`backslash at the end\`:                0o644,
		`back\slash`:                           0o644,
		`\n not a newline`:                     0o644,
		"new\nline":                            0o644,
		"tab\there":                            0o644,
		" leading space":                       0o644,
		"trailing space ":                      0o644,
		"~":                                    0o644,
		"~root":                                0o644,
		"*":                                    0o644,
		"?":                                    0o644,
		"[a]":                                  0o644,
		"!!":                                   0o644,
		"!1":                                   0o644,
		"%1":                                   0o644,
		"#comment":                             0o644,
		".hidden":                              0o600,
		"..dots":                               0o644,
		"naïve ☃":                              0o644,
		"empty":                                0o644,
		"run me.sh":                            0o755,
		"setgid file":                          0o2755,
		"dir $(cd;touch INJECTED-dir)/-n":      0o640,
		"dir $(cd;touch INJECTED-dir)/=x":      0o644,
		"dir $(cd;touch INJECTED-dir)/it's \\": 0o644,
		"-dashdir/--version":                   0o600,
		"=eqdir/a b/`cd;touch INJECTED-nested`/f": 0o644,
		"sticky dir/$(cd;touch INJECTED-sticky)":  0o644,
	},
	links: map[string]string{
		"=link":                           "=target",
		"eq-ls":                           "=ls",
		"space link":                      "a file with spaces",
		"dangling $(x)":                   "$(cd;touch INJECTED-link)",
		"-dashlink":                       "-rf",
		"dirlink":                         "dir $(cd;touch INJECTED-dir)",
		`backslash link\`:                 `target\`,
		"newline link":                    "new\nline",
		"abs":                             "/nonexistent/$(cd;touch INJECTED-abs)/`x`",
		"=eqdir/a b/up":                   "../../it's",
		"dir $(cd;touch INJECTED-dir)/=l": "=",
	},
}

// writeInteropProject writes a project with one module "tree" whose source
// (tree/src, dir://) is files, or the hostile tree when files is nil, and
// whose path on host "target" is dest. It returns how many files and links
// the source has.
func writeInteropProject(t *testing.T, project, dest string, files map[string]string) int {
	t.Helper()
	src := filepath.Join(project, "tree/src")
	require.NoError(t, os.MkdirAll(src, 0o755))
	write := func(rel, s string) {
		p := filepath.Join(project, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
	}
	write("project.ini", "[project]\nname = interop\ndepends = tree\n\n[hosts]\ntarget = target\n")
	write("tree/tree.ini", "[module]\npath = "+dest+"\n\n[scm]\nurl = dir://src\n\n[release:stable]\n")
	if files != nil {
		for rel, s := range files {
			write("tree/src/"+rel, s)
		}
		return len(files)
	}
	var dirs []string
	for d := range hostileTree.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs) // parents first
	for _, d := range dirs {
		require.NoError(t, os.Mkdir(filepath.Join(src, d), 0o755))
	}
	for rel, mode := range hostileTree.files {
		p := filepath.Join(src, rel)
		content := rel + "\n" + rel + "\n"
		if rel == "empty" {
			content = ""
		}
		if strings.HasSuffix(rel, ".sh") || rel == "$(cd;touch INJECTED-dollar)" {
			content = "#!/bin/sh\ncd && touch INJECTED-exec\n"
		}
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		require.NoError(t, os.Chmod(p, mode))
	}
	big := make([]byte, 300<<10) // more than one SFTP packet, one tar block
	_, _ = rand.Read(big)
	require.NoError(t, os.WriteFile(filepath.Join(src, "=eqdir/big $(cd;touch INJECTED-big).bin"), big, 0o644))
	for rel, target := range hostileTree.links {
		require.NoError(t, os.Symlink(target, filepath.Join(src, rel)))
	}
	// Modes last (a 0o700 parent is fine for root, and for us).
	for i := len(dirs) - 1; i >= 0; i-- {
		require.NoError(t, os.Chmod(filepath.Join(src, dirs[i]), hostileTree.dirs[dirs[i]]))
	}
	require.NoError(t, os.Chmod(src, 0o751))
	// Mtimes in the past, whole seconds: an mtime kept is then one set.
	when := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.Type()&fs.ModeSymlink == 0 {
			require.NoError(t, os.Chtimes(p, when, when))
		}
		return nil
	}))
	return len(hostileTree.files) + 1 + len(hostileTree.links)
}

// treeState maps every entry under root to its type, mode (with setuid,
// setgid and sticky), and symlink target or file content hash and mtime.
// In a deployed tree (dest) porter's state dir at the top is left out.
func treeState(t *testing.T, root string, dest bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		if dest && rel == ".porter" {
			return filepath.SkipDir
		}
		info, err := os.Lstat(p)
		require.NoError(t, err)
		mode := fmt.Sprintf("%04o", localfs.UnixPerm(info.Mode()))
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			out[rel] = "link -> " + target
		case info.IsDir():
			out[rel] = "dir " + mode
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			out[rel] = fmt.Sprintf("file %s %d bytes sha256:%x mtime %d", mode, len(b), sha256.Sum256(b), info.ModTime().Unix())
		default:
			out[rel] = "other " + info.Mode().String()
		}
		return nil
	}))
	return out
}

// assertNotInjected looks for the files an injection would have made, in
// the login user's HOME (where `cd` goes on the host), the deploy
// program's HOME, the test's temporary directories, os.TempDir and the
// working directory.
func assertNotInjected(t *testing.T, loginHome, deployHome string) {
	t.Helper()
	injected := func(name string) bool { return strings.HasPrefix(name, "INJECTED") }
	for _, dir := range []string{loginHome, deployHome, os.TempDir(), "."} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			assert.False(t, injected(e.Name()), "a name ran as code: %s", filepath.Join(dir, e.Name()))
		}
	}
	_ = filepath.WalkDir(filepath.Dir(deployHome), func(p string, d fs.DirEntry, err error) error {
		if err == nil && injected(d.Name()) {
			t.Errorf("a name ran as code: %s", p)
		}
		return nil
	})
}

// buildInteropDeploy builds testdata/interopdeploy, a deploy program that
// is porter.Main() and nothing else, in a directory removed when t ends.
func buildInteropDeploy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "interopdeploy")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/interopdeploy").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// runInteropDeploy runs `deploy -v --host target` of the project with
// HOME set to home and no agent (unless env sets one), and returns its
// stdout (the report), stderr (the log) and exit status.
func runInteropDeploy(t *testing.T, bin, home, project string, env []string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--project", project, "-v", "deploy", "--host", "target", "--config", "interop")
	cmd.Env = append(os.Environ(), append([]string{"HOME=" + home, "SSH_AUTH_SOCK="}, env...)...)
	cmd.Dir = home
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return o.String(), e.String(), ee.ExitCode()
	}
	require.NoError(t, err, e.String())
	return o.String(), e.String(), 0
}

// writeInteropHome writes the deploy program's ~/.ssh.
func writeInteropHome(t *testing.T, home, config, known string, files map[string][]byte) {
	t.Helper()
	dot := filepath.Join(home, ".ssh")
	require.NoError(t, os.Mkdir(dot, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dot, "config"), []byte(config), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dot, "known_hosts"), []byte(known), 0o600))
	for rel, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(home, rel), b, 0o600))
	}
}

// sshConfigEntry is a Host block of ~/.ssh/config.
func sshConfigEntry(alias, addr, user, identity, jump string) string {
	host, port, _ := net.SplitHostPort(addr)
	s := "Host " + alias + "\n  HostName " + host + "\n  Port " + port + "\n  User " + user + "\n"
	if identity != "" {
		s += "  IdentityFile " + identity + "\n"
	}
	if jump != "" {
		s += "  ProxyJump " + jump + "\n"
	}
	return s
}

// destBase is a new directory that login can write: a temporary directory
// given to it, its parent made traversable.
func destBase(t *testing.T, login *user.User) string {
	t.Helper()
	base := t.TempDir()
	me, err := user.Current()
	require.NoError(t, err)
	if login.Uid != me.Uid {
		uid, _ := strconv.Atoi(login.Uid)
		gid, _ := strconv.Atoi(login.Gid)
		require.NoError(t, os.Chown(base, uid, gid))
		require.NoError(t, os.Chmod(filepath.Dir(base), 0o711))
	}
	return base
}

// throwawayUser looks up a user made for these tests, whose login shell
// must be shell (its base name, or BusyBox's for busybox-ash).
func throwawayUser(t *testing.T, name, shell string) *user.User {
	t.Helper()
	bin := shell
	if shell == "busybox-ash" {
		bin = "ash"
	}
	u := lookupUser(t, name, bin)
	got := loginShell(t, name)
	if filepath.Base(got) != bin {
		t.Skipf("user %s's login shell is %s, not %s: usermod --shell \"$(command -v %s)\" %s", name, got, bin, bin, name)
	}
	if shell == "busybox-ash" {
		if real, err := filepath.EvalSymlinks(got); err != nil || filepath.Base(real) != "busybox" {
			t.Skipf("user %s's login shell %s is not BusyBox (%s, %v)", name, got, real, err)
		}
	}
	return u
}

// dropbearUser is the throwaway user Dropbear logs in; as dropbeartest
// does, it skips when the test does not run as root.
func dropbearUser(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("dropbear reads keys only from the login user's ~/.ssh/authorized_keys: the test logs in a throwaway user, which needs root")
	}
	return lookupUser(t, "porter-dropbear", "sh")
}

// lookupUser finds a throwaway user, or skips with how to create it.
func lookupUser(t *testing.T, name, shell string) *user.User {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		how := fmt.Sprintf(`useradd --create-home --shell "$(command -v %s)" --password '*' %s`, shell, name)
		if shell == "ash" {
			how = `mkdir -p /usr/local/libexec/porter-interop && ln -s "$(command -v busybox)" /usr/local/libexec/porter-interop/ash && ` +
				`useradd --create-home --shell /usr/local/libexec/porter-interop/ash --password '*' ` + name
		}
		t.Skipf("no user %s (%v): create it as root: %s (.ci/run does)", name, err, how)
	}
	return u
}

// loginShell reads name's login shell from the password database.
func loginShell(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("getent", "passwd", name).Output()
	require.NoError(t, err)
	f := strings.Split(strings.TrimSpace(string(out)), ":")
	require.Len(t, f, 7, string(out))
	return f[6]
}

func currentUserT(t *testing.T) *user.User {
	t.Helper()
	u, err := user.Current()
	require.NoError(t, err)
	return u
}

// homeSnapshot lists a throwaway user's HOME: path, type, mode, size and
// mtime. Left out: the ~/.ssh that dropbeartest manages, and the empty
// directories fish makes at its first start, whatever it runs
// (~/.config/fish, ~/.local/share/fish: what is in them counts).
func homeSnapshot(t *testing.T, home string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(home, p)
		if rel == ".ssh" {
			return filepath.SkipDir
		}
		if rel == "." || d.IsDir() && fishDirs[rel] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %d %d", rel, info.Mode(), info.Size(), info.ModTime().UnixNano()))
		return nil
	})
	require.NoError(t, err)
	return out
}

var fishDirs = map[string]bool{".config": true, ".config/fish": true, ".local": true, ".local/share": true, ".local/share/fish": true}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

// serveInteropAgent serves an ssh-agent holding key on a unix socket and
// returns the socket's path.
func serveInteropAgent(t *testing.T, key ed25519.PrivateKey) string {
	t.Helper()
	kr := agent.NewKeyring()
	require.NoError(t, kr.Add(agent.AddedKey{PrivateKey: key}))
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); _ = agent.ServeAgent(kr, c) })
		}
	})
	return sock
}

func lastLogLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
