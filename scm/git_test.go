package scm

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run runs git in dir with a fixed identity and no user or system config,
// so that tests work on a clean machine.
func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
		"LC_ALL=C",
	)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v in %s: %s", args, dir, out)
	return strings.TrimSpace(string(out))
}

// upstream is a git repository made for a test.
type upstream struct {
	t   *testing.T
	dir string
}

func newUpstream(t *testing.T, dir string) *upstream {
	t.Helper()
	needGit(t)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	run(t, dir, "init", "--quiet", "-b", "main")
	u := &upstream{t: t, dir: dir}
	u.commit("README", "hello\n")
	return u
}

// commit writes name with content and commits it on the current branch,
// returning the new commit id.
func (u *upstream) commit(name, content string) string {
	u.t.Helper()
	p := filepath.Join(u.dir, name)
	require.NoError(u.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(u.t, os.WriteFile(p, []byte(content), 0o644))
	run(u.t, u.dir, "add", "--", name)
	run(u.t, u.dir, "commit", "--quiet", "-m", "change "+name)
	return u.head()
}

func (u *upstream) head() string { return run(u.t, u.dir, "rev-parse", "HEAD") }

func (u *upstream) git(args ...string) string { u.t.Helper(); return run(u.t, u.dir, args...) }

// setup makes an upstream with branch release/0.1 and a module dir whose
// source is git://<upstream>.
func setup(t *testing.T) (*upstream, string, Source) {
	t.Helper()
	root := t.TempDir()
	u := newUpstream(t, filepath.Join(root, "upstream"))
	u.git("checkout", "--quiet", "-b", "release/0.1")
	u.commit("app.txt", "v1\n")
	modDir := filepath.Join(root, "project", "mod")
	require.NoError(t, os.MkdirAll(modDir, 0o755))
	src, err := New("git://"+u.dir, modDir)
	require.NoError(t, err)
	return u, modDir, src
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

func TestGitBranchFollowsNewCommits(t *testing.T) {
	t.Parallel()
	u, modDir, src := setup(t)
	ctx := context.Background()
	assert.Equal(t, "git", src.Scheme())

	rel := Release{Name: "stable", Branch: "release/0.1"}
	co, err := src.Checkout(ctx, rel)
	require.NoError(t, err)
	first := u.head()
	assert.Equal(t, first, co.Version)
	assert.Len(t, co.Version, 40)
	assert.Equal(t, filepath.Join(modDir, "repo"), co.Dir)
	assert.Equal(t, "branch release/0.1 @ "+first[:7], co.Ref)
	assert.Equal(t, "v1\n", readFile(t, filepath.Join(co.Dir, "app.txt")))

	second := u.commit("app.txt", "v2\n")
	co2, err := src.Checkout(ctx, rel)
	require.NoError(t, err)
	assert.Equal(t, second, co2.Version, "the version is the commit id, so a new commit on the branch is a new version")
	assert.NotEqual(t, co.Version, co2.Version)
	assert.Equal(t, "v2\n", readFile(t, filepath.Join(co2.Dir, "app.txt")))

	// A commit on another branch does not move this release.
	u.git("checkout", "--quiet", "main")
	u.commit("other.txt", "x\n")
	co3, err := src.Checkout(ctx, rel)
	require.NoError(t, err)
	assert.Equal(t, second, co3.Version)
	assert.NoFileExists(t, filepath.Join(co3.Dir, "other.txt"))
}

func TestGitTag(t *testing.T) {
	t.Parallel()
	u, modDir, src := setup(t)
	tagged := u.head()
	u.git("tag", "-a", "-m", "release one", "v1.0") // annotated: must peel to the commit
	u.git("tag", "light")
	u.commit("app.txt", "after tag\n")

	co, err := src.Checkout(context.Background(), Release{Name: "stable", Tag: "v1.0", Branch: "release/0.1"})
	require.NoError(t, err)
	assert.Equal(t, tagged, co.Version, "tag wins over branch")
	assert.Equal(t, "tag v1.0 @ "+tagged[:7], co.Ref)
	assert.Equal(t, "v1\n", readFile(t, filepath.Join(modDir, "repo", "app.txt")))

	// As in the original tool, branch = may name a tag.
	co, err = src.Checkout(context.Background(), Release{Name: "stable", Branch: "light"})
	require.NoError(t, err)
	assert.Equal(t, tagged, co.Version)

	// A tag moved upstream is force-updated on the next fetch.
	moved := u.head()
	u.git("tag", "-f", "light", moved)
	co, err = src.Checkout(context.Background(), Release{Name: "stable", Tag: "light"})
	require.NoError(t, err)
	assert.Equal(t, moved, co.Version)

	_, err = src.Checkout(context.Background(), Release{Name: "stable", Tag: "v9"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `tag "v9" not found`)
	assert.Contains(t, err.Error(), "v1.0")
}

func TestGitCommit(t *testing.T) {
	t.Parallel()
	u, modDir, src := setup(t)
	old := u.head()
	u.commit("app.txt", "v2\n")

	for _, id := range []string{old, old[:8], strings.ToUpper(old[:10])} {
		co, err := src.Checkout(context.Background(), Release{Name: "stable", Commit: id, Branch: "release/0.1"})
		require.NoError(t, err, id)
		assert.Equal(t, old, co.Version, "commit wins over branch")
		assert.Equal(t, "commit "+strings.ToLower(id)+" @ "+old[:7], co.Ref)
		assert.Equal(t, "v1\n", readFile(t, filepath.Join(modDir, "repo", "app.txt")))
	}

	_, err := src.Checkout(context.Background(), Release{Name: "stable", Commit: strings.Repeat("0", 40)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "commit "+strings.Repeat("0", 40)+" is not in")

	_, err = src.Checkout(context.Background(), Release{Name: "stable", Commit: "HEAD~1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not a commit id")
}

func TestGitUnknownBranch(t *testing.T) {
	t.Parallel()
	u, _, src := setup(t)
	_, err := src.Checkout(context.Background(), Release{Name: "stable", Branch: "release/9.9"})
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `release "stable" of git://`+u.dir)
	assert.Contains(t, msg, `branch "release/9.9" not found`)
	assert.Contains(t, msg, "main")
	assert.Contains(t, msg, "release/0.1")
	assert.NotContains(t, msg, "HEAD,")
}

func TestGitMissingReleaseKeys(t *testing.T) {
	t.Parallel()
	u, modDir, src := setup(t)
	_, err := src.Checkout(context.Background(), Release{Name: "stable"})
	require.EqualError(t, err, `release "stable" of git://`+u.dir+`: set branch, tag or commit in [release:stable]`)
	assert.NoDirExists(t, filepath.Join(modDir, "repo"), "nothing is cloned for a release that names nothing")

	_, err = src.Checkout(context.Background(), Release{})
	require.EqualError(t, err, `release "" of git://`+u.dir+`: set branch, tag or commit in [release:]`)

	_, err = src.Checkout(context.Background(), Release{Name: "stable", Branch: "--upload-pack=touch /tmp/x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a valid git ref name")
}

func TestGitReusesClone(t *testing.T) {
	t.Parallel()
	u, modDir, src := setup(t)
	rel := Release{Name: "stable", Branch: "release/0.1"}
	_, err := src.Checkout(context.Background(), rel)
	require.NoError(t, err)
	marker := filepath.Join(modDir, "repo", ".git", "porter-test-marker")
	require.NoError(t, os.WriteFile(marker, []byte("x"), 0o644))

	want := u.commit("app.txt", "v2\n")
	// A fresh Source for the same module (the next deploy) reuses repo/ too.
	src2, err := New("git://"+u.dir, modDir)
	require.NoError(t, err)
	co, err := src2.Checkout(context.Background(), rel)
	require.NoError(t, err)
	assert.Equal(t, want, co.Version)
	assert.FileExists(t, marker, "repo/ was cloned again")

	entries, err := os.ReadDir(modDir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary clone left behind")
	assert.Equal(t, "repo", entries[0].Name())
}

func TestGitForeignRepoDirUntouched(t *testing.T) {
	t.Parallel()
	rel := Release{Name: "stable", Branch: "release/0.1"}

	t.Run("not a git repository", func(t *testing.T) {
		t.Parallel()
		_, modDir, src := setup(t)
		repo := filepath.Join(modDir, "repo")
		require.NoError(t, os.MkdirAll(repo, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repo, "precious.txt"), []byte("mine"), 0o644))
		_, err := src.Checkout(context.Background(), rel)
		require.Error(t, err)
		assert.Contains(t, err.Error(), repo+" exists but is not a git repository")
		assert.Contains(t, err.Error(), "move or delete")
		assert.Equal(t, "mine", readFile(t, filepath.Join(repo, "precious.txt")))
		entries, _ := os.ReadDir(repo)
		assert.Len(t, entries, 1)
	})

	t.Run("a clone of another url", func(t *testing.T) {
		t.Parallel()
		u, modDir, src := setup(t)
		other := newUpstream(t, filepath.Join(filepath.Dir(u.dir), "other"))
		repo := filepath.Join(modDir, "repo")
		run(t, modDir, "clone", "--quiet", other.dir, "repo")
		require.NoError(t, os.WriteFile(filepath.Join(repo, "precious.txt"), []byte("mine"), 0o644))
		_, err := src.Checkout(context.Background(), rel)
		require.Error(t, err)
		assert.Contains(t, err.Error(), repo+" is a clone of "+other.dir+", not of "+u.dir)
		assert.Contains(t, err.Error(), "delete "+repo)
		assert.Equal(t, "mine", readFile(t, filepath.Join(repo, "precious.txt")))
		assert.Equal(t, other.head(), run(t, repo, "rev-parse", "HEAD"))
	})

	t.Run("an empty directory is cloned into", func(t *testing.T) {
		t.Parallel()
		u, modDir, src := setup(t)
		require.NoError(t, os.MkdirAll(filepath.Join(modDir, "repo"), 0o755))
		co, err := src.Checkout(context.Background(), rel)
		require.NoError(t, err)
		assert.Equal(t, u.head(), co.Version)
	})
}

func TestGitCleansWorkingTree(t *testing.T) {
	t.Parallel()
	u, modDir, src := setup(t)
	u.commit(".gitignore", "*.log\n")
	rel := Release{Name: "stable", Branch: "release/0.1"}
	co, err := src.Checkout(context.Background(), rel)
	require.NoError(t, err)

	repo := filepath.Join(modDir, "repo")
	require.NoError(t, os.WriteFile(filepath.Join(repo, "stray.txt"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "debug.log"), []byte("x"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "build", "deep"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "build", "deep", "a.o"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "app.txt"), []byte("edited\n"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(repo, "README")))

	co2, err := src.Checkout(context.Background(), rel)
	require.NoError(t, err)
	assert.Equal(t, co.Version, co2.Version)
	assert.NoFileExists(t, filepath.Join(repo, "stray.txt"))
	assert.NoFileExists(t, filepath.Join(repo, "debug.log"), "ignored files go too")
	assert.NoDirExists(t, filepath.Join(repo, "build"))
	assert.Equal(t, "v1\n", readFile(t, filepath.Join(repo, "app.txt")))
	assert.Equal(t, "hello\n", readFile(t, filepath.Join(repo, "README")))
	assert.Empty(t, run(t, repo, "status", "--porcelain", "--ignored"))
}

func TestGitRelativeURL(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	u := newUpstream(t, filepath.Join(root, "upstream.git"))
	modDir := filepath.Join(root, "project", "mod")
	require.NoError(t, os.MkdirAll(modDir, 0o755))

	src, err := New("git://../../upstream.git", modDir)
	require.NoError(t, err)
	co, err := src.Checkout(context.Background(), Release{Name: "stable", Branch: "main"})
	require.NoError(t, err)
	assert.Equal(t, u.head(), co.Version)
	assert.Equal(t, u.dir, run(t, co.Dir, "config", "--get", "remote.origin.url"))

	// A relative module dir is taken from the current directory; the url is
	// relative to the module dir, not to the current directory.
	src2, err := New("git://./sub/../../../upstream.git", filepath.Join(modDir, "."))
	require.NoError(t, err)
	co2, err := src2.Checkout(context.Background(), Release{Name: "stable", Branch: "main"})
	require.NoError(t, err, "same origin once cleaned: repo/ is reused")
	assert.Equal(t, co.Version, co2.Version)
}

func TestGitRemoteRule(t *testing.T) {
	t.Parallel()
	mod := "/home/me/project/mod"
	for _, tc := range []struct{ url, want string }{
		{"git://git@myrepo.tld:reponame.git", "git@myrepo.tld:reponame.git"},
		{"git://myrepo.tld:team/reponame.git", "myrepo.tld:team/reponame.git"},
		{"git://https://github.com/x/y.git", "https://github.com/x/y.git"},
		{"git://ssh://git@host:2222/srv/y.git", "ssh://git@host:2222/srv/y.git"},
		{"git://file:///srv/git/y.git", "file:///srv/git/y.git"},
		{"git:///srv/git/y.git", "/srv/git/y.git"},
		{"git://../upstream.git", "/home/me/project/upstream.git"},
		{"git://./y.git", "/home/me/project/mod/y.git"},
		{"git://github.com/x/y.git", "git://github.com/x/y.git"},
		{"git://host:9418/y.git", "git://host:9418/y.git"},
		{"git://host:9418", "git://host:9418"},
		{"git://host", "git://host"},
		{"GIT://git@myrepo.tld:reponame.git", "git@myrepo.tld:reponame.git"},
	} {
		src, err := New(tc.url, mod)
		require.NoError(t, err, tc.url)
		assert.Equal(t, tc.want, src.(*gitSource).remote, tc.url)
		assert.Equal(t, filepath.Join(mod, "repo"), src.(*gitSource).repoDir)
	}
	for _, bad := range []string{"git://", "git://--upload-pack=x"} {
		_, err := New(bad, mod)
		assert.Error(t, err, bad)
	}
}

func needGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: apt-get install git (the CI script installs it)")
	}
}

func TestGitCloneFailure(t *testing.T) {
	t.Parallel()
	needGit(t)
	modDir := t.TempDir()
	src, err := New("git://"+filepath.Join(modDir, "nope.git"), modDir)
	require.NoError(t, err)
	_, err = src.Checkout(context.Background(), Release{Name: "stable", Branch: "main"})
	require.Error(t, err)
	var gerr *GitError
	require.ErrorAs(t, err, &gerr)
	assert.Contains(t, gerr.Stderr, "does not exist")
	assert.Contains(t, err.Error(), "clone "+filepath.Join(modDir, "nope.git"))
	entries, _ := os.ReadDir(modDir)
	assert.Empty(t, entries, "a failed clone leaves nothing behind")
}

func TestGitContextCanceled(t *testing.T) {
	t.Parallel()
	_, modDir, src := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := src.Checkout(ctx, Release{Name: "stable", Branch: "release/0.1"})
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.NoDirExists(t, filepath.Join(modDir, "repo"))
}

func TestGitConcurrentCheckouts(t *testing.T) {
	t.Parallel()
	u, modDir, _ := setup(t)
	want := u.head()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	versions := make([]string, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src, err := New("git://"+u.dir, modDir) // one Source per host, as in a fleet
			if err != nil {
				errs[i] = err
				return
			}
			co, err := src.Checkout(context.Background(), Release{Name: "stable", Branch: "release/0.1"})
			errs[i], versions[i] = err, co.Version
		}()
	}
	wg.Wait()
	for i := range errs {
		require.NoError(t, errs[i])
		assert.Equal(t, want, versions[i])
	}
}

func TestGitSubmodules(t *testing.T) {
	// git refuses file:// submodules unless told; the setting reaches the
	// git that Checkout runs through the environment.
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.file.allow")
	t.Setenv("GIT_CONFIG_VALUE_0", "always")

	u, modDir, src := setup(t)
	lib := newUpstream(t, filepath.Join(filepath.Dir(u.dir), "lib"))
	lib.commit("lib.txt", "lib v1\n")
	u.git("submodule", "--quiet", "add", lib.dir, "vendor/lib")
	u.git("commit", "--quiet", "-m", "add lib")

	co, err := src.Checkout(context.Background(), Release{Name: "stable", Branch: "release/0.1"})
	require.NoError(t, err)
	assert.Equal(t, "lib v1\n", readFile(t, filepath.Join(co.Dir, "vendor", "lib", "lib.txt")))

	stray := filepath.Join(co.Dir, "vendor", "lib", "stray")
	require.NoError(t, os.WriteFile(stray, nil, 0o644))
	_, err = src.Checkout(context.Background(), Release{Name: "stable", Branch: "release/0.1"})
	require.NoError(t, err)
	assert.NoFileExists(t, stray)
	assert.Equal(t, filepath.Join(modDir, "repo"), co.Dir)
}

// TestGitRunsWithAFixedEnvironment checks the environment Checkout gives
// git, with a stand-in git first on the PATH that writes it down and fails:
// no prompt (GIT_TERMINAL_PROMPT=0, whatever the caller's), messages in
// English (LC_ALL=C), no repository above the module's directory
// (GIT_CEILING_DIRECTORIES), and none of the caller's variables that point
// git at another repository. TestGitNeverPromptsForCredentials checks what
// the first one does.
func TestGitRunsWithAFixedEnvironment(t *testing.T) {
	bin, modDir := t.TempDir(), t.TempDir()
	envFile := filepath.Join(t.TempDir(), "env")
	require.NoError(t, os.WriteFile(filepath.Join(bin, "git"),
		[]byte("#!/bin/sh\nenv > '"+envFile+"'\necho 'fatal: stand-in git' >&2\nexit 128\n"), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("GIT_TERMINAL_PROMPT", "1")
	t.Setenv("LC_ALL", "fr_FR.UTF-8")
	t.Setenv("GIT_DIR", "/elsewhere/.git")
	t.Setenv("GIT_WORK_TREE", "/elsewhere")
	t.Setenv("PORTER_TEST_KEPT", "yes")

	src, err := New("git:///srv/git/app.git", modDir)
	require.NoError(t, err)
	_, err = src.Checkout(context.Background(), Release{Name: "stable", Branch: "main"})
	var gerr *GitError
	require.ErrorAs(t, err, &gerr)
	assert.Equal(t, "fatal: stand-in git", gerr.Stderr)

	env := map[string][]string{} // only the values asked for show in a failure
	for _, kv := range strings.Split(readFile(t, envFile), "\n") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = append(env[k], v)
		}
	}
	assert.Equal(t, []string{"0"}, env["GIT_TERMINAL_PROMPT"], "GIT_TERMINAL_PROMPT")
	assert.Equal(t, []string{"C"}, env["LC_ALL"], "LC_ALL")
	assert.Equal(t, []string{modDir}, env["GIT_CEILING_DIRECTORIES"], "GIT_CEILING_DIRECTORIES")
	assert.Nil(t, env["GIT_DIR"], "GIT_DIR")
	assert.Nil(t, env["GIT_WORK_TREE"], "GIT_WORK_TREE")
	assert.Equal(t, []string{"yes"}, env["PORTER_TEST_KEPT"], "the rest of the environment is kept")
}
