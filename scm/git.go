package scm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// gitSource is git://...: a git repository cloned once into <module>/repo.
type gitSource struct {
	url       string // the [scm] url as written
	remote    string // what git is given as the origin url
	moduleDir string
	repoDir   string // <moduleDir>/repo
}

// newGit applies the git:// rule of the package documentation.
func newGit(rawURL, rest, moduleDir string) (Source, error) {
	remote, err := gitRemote(rawURL, rest, moduleDir)
	if err != nil {
		return nil, err
	}
	return &gitSource{
		url:       rawURL,
		remote:    remote,
		moduleDir: moduleDir,
		repoDir:   filepath.Join(moduleDir, "repo"),
	}, nil
}

var portRE = regexp.MustCompile(`^[0-9]+(/|$)`)

func gitRemote(rawURL, rest, moduleDir string) (string, error) {
	switch {
	case rest == "":
		return "", fmt.Errorf("scm url %q (module %s): no repository: write e.g. git://git@host.tld:repo.git or git://https://host.tld/repo.git", rawURL, moduleDir)
	case strings.HasPrefix(rest, "-"):
		return "", fmt.Errorf("scm url %q (module %s): a repository url cannot start with \"-\"", rawURL, moduleDir)
	case strings.Contains(rest, "://"):
		return rest, nil
	case strings.HasPrefix(rest, "/"):
		return filepath.Clean(rest), nil
	case strings.HasPrefix(rest, "."):
		return filepath.Join(moduleDir, filepath.FromSlash(rest)), nil
	}
	// scp-like: a colon before any slash, not followed by a port number.
	colon := strings.IndexByte(rest, ':')
	slash := strings.IndexByte(rest, '/')
	if colon > 0 && (slash < 0 || colon < slash) && !portRE.MatchString(rest[colon+1:]) {
		return rest, nil
	}
	return "git://" + rest, nil
}

var _ Source = (*gitSource)(nil)

// Scheme returns "git".
func (s *gitSource) Scheme() string { return "git" }

// String returns the url.
func (s *gitSource) String() string { return s.url }

// repoLocks serializes checkouts of the same <module>/repo: hosts deployed
// in parallel share the module directory.
var repoLocks sync.Map // repoDir -> *sync.Mutex

func lockRepo(dir string) func() {
	m, _ := repoLocks.LoadOrStore(dir, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// Checkout clones the repository into <module>/repo unless it is there
// already, fetches (branches pruned, tags force-updated), resolves the
// release to a commit (Commit if set, else Tag, else Branch, which may name
// a remote branch or a tag), checks that commit out detached and removes
// every file git does not track, so that repo/ holds exactly the commit.
// Submodules are updated when the commit has a .gitmodules file.
//
// repo/ is porter's own working copy: changes made in it are lost. A repo/
// that is not a git repository, or is a clone of another url, is an error
// and is left untouched.
func (s *gitSource) Checkout(ctx context.Context, rel Release) (Checkout, error) {
	what, kind, name, err := s.pick(rel)
	if err != nil {
		return Checkout{}, err
	}
	unlock := lockRepo(s.repoDir)
	defer unlock()

	if err := s.ensureRepo(ctx); err != nil {
		return Checkout{}, err
	}
	if _, err := s.git(ctx, s.repoDir, "fetch", "--quiet", "--prune", "--tags", "--force", "origin"); err != nil {
		return Checkout{}, fmt.Errorf("%s: fetch %s: %w: check the url and your access to the repository", what, s.remote, err)
	}
	sha, err := s.resolve(ctx, what, kind, name)
	if err != nil {
		return Checkout{}, err
	}
	if _, err := s.git(ctx, s.repoDir, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "--detach", sha); err != nil {
		return Checkout{}, fmt.Errorf("%s: check out %s: %w", what, sha, err)
	}
	if _, err := s.git(ctx, s.repoDir, "clean", "-ffdxq"); err != nil {
		return Checkout{}, fmt.Errorf("%s: clean %s: %w", what, s.repoDir, err)
	}
	if _, err := os.Lstat(filepath.Join(s.repoDir, ".gitmodules")); err == nil {
		for _, args := range [][]string{
			{"submodule", "sync", "--quiet", "--recursive"},
			{"submodule", "update", "--init", "--recursive", "--force", "--quiet"},
			{"submodule", "foreach", "--quiet", "--recursive", "git", "clean", "-ffdxq"},
		} {
			if _, err := s.git(ctx, s.repoDir, args...); err != nil {
				return Checkout{}, fmt.Errorf("%s: submodules of %s: %w", what, sha, err)
			}
		}
	}
	head, err := s.git(ctx, s.repoDir, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return Checkout{}, fmt.Errorf("%s: %w", what, err)
	}
	if head != sha {
		return Checkout{}, fmt.Errorf("%s: %s holds %s after checking out %s: remove %s and deploy again", what, s.repoDir, head, sha, s.repoDir)
	}
	return Checkout{
		Dir:     s.repoDir,
		Version: sha,
		Ref:     fmt.Sprintf("%s %s @ %s", kind, name, sha[:7]),
	}, nil
}

var hexRE = regexp.MustCompile(`^[0-9a-fA-F]{4,64}$`)

// Check reports whether the release names a commit, tag or branch (one
// that looks like one: whether the repository has it, only the fetch of
// Checkout knows).
func (s *gitSource) Check(rel Release) error {
	_, _, _, err := s.pick(rel)
	return err
}

// pick chooses what to check out: commit, else tag, else branch.
func (s *gitSource) pick(rel Release) (what, kind, name string, err error) {
	what = fmt.Sprintf("%s of %s", releaseName(rel), s.url)
	commit, tag, branch := strings.TrimSpace(rel.Commit), strings.TrimSpace(rel.Tag), strings.TrimSpace(rel.Branch)
	switch {
	case commit != "":
		if !hexRE.MatchString(commit) {
			return what, "", "", fmt.Errorf("%s: commit %q is not a commit id: write 4 to 40 hex digits in [release:%s] commit", what, commit, rel.Name)
		}
		return what, "commit", strings.ToLower(commit), nil
	case tag != "":
		kind, name = "tag", tag
	case branch != "":
		kind, name = "branch", branch
	default:
		return what, "", "", fmt.Errorf("%s: set branch, tag or commit in [release:%s]", what, rel.Name)
	}
	if strings.HasPrefix(name, "-") || strings.ContainsAny(name, " \t\n~^:?*[\\") || strings.Contains(name, "..") {
		return what, "", "", fmt.Errorf("%s: %s %q is not a valid git ref name: fix [release:%s]", what, kind, name, rel.Name)
	}
	return what, kind, name, nil
}

// resolve returns the full commit id the release names.
func (s *gitSource) resolve(ctx context.Context, what, kind, name string) (string, error) {
	var candidates []string
	switch kind {
	case "commit":
		candidates = []string{name}
	case "tag":
		candidates = []string{"refs/tags/" + name}
	case "branch":
		candidates = []string{"refs/remotes/origin/" + name, "refs/tags/" + name}
	}
	for _, c := range candidates {
		sha, err := s.git(ctx, s.repoDir, "rev-parse", "--verify", "--quiet", c+"^{commit}")
		// A hex name could also be a ref name: a commit must be what it says.
		if err == nil && sha != "" && (kind != "commit" || strings.HasPrefix(sha, name)) {
			return sha, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", ctxErr
		}
	}
	switch kind {
	case "commit":
		return "", fmt.Errorf("%s: commit %s is not in %s (or is ambiguous): fix [release] commit, or push the commit", what, name, s.remote)
	case "tag":
		return "", fmt.Errorf("%s: tag %q not found in %s%s: fix [release] tag, or push the tag", what, name, s.remote, s.listRefs(ctx, "refs/tags/", "tags"))
	default:
		return "", fmt.Errorf("%s: branch %q not found in %s%s: fix [release] branch, or push the branch", what, name, s.remote, s.listRefs(ctx, "refs/remotes/origin/", "branches"))
	}
}

// listRefs returns ", known <label>: a, b, c" for some refs under prefix, or
// ", no <label>".
func (s *gitSource) listRefs(ctx context.Context, prefix, label string) string {
	const max = 10
	out, err := s.git(ctx, s.repoDir, "for-each-ref", "--format=%(refname)", prefix)
	if err != nil {
		return ""
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		n := strings.TrimPrefix(line, prefix)
		if n == "" || n == "HEAD" {
			continue
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return ", it has no " + label
	}
	more := ""
	if len(names) > max {
		more = fmt.Sprintf(" (and %d more)", len(names)-max)
		names = names[:max]
	}
	return fmt.Sprintf(" (%s: %s%s)", label, strings.Join(names, ", "), more)
}

// ensureRepo makes sure repoDir is a clone of s.remote.
func (s *gitSource) ensureRepo(ctx context.Context) error {
	fi, err := os.Lstat(s.repoDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.clone(ctx)
	case err != nil:
		return fmt.Errorf("scm url %s: %w", s.url, err)
	case !fi.IsDir():
		return fmt.Errorf("scm url %s: %s exists and is not a directory: porter clones %s there; move it away", s.url, s.repoDir, s.remote)
	}
	if des, err := os.ReadDir(s.repoDir); err == nil && len(des) == 0 {
		return s.clone(ctx)
	}
	if fi, err := os.Lstat(filepath.Join(s.repoDir, ".git")); err != nil || !fi.IsDir() {
		return fmt.Errorf("scm url %s: %s exists but is not a git repository: porter keeps its own clone of %s there; move or delete %s and deploy again", s.url, s.repoDir, s.remote, s.repoDir)
	}
	origin, err := s.git(ctx, s.repoDir, "config", "--get", "remote.origin.url")
	if err != nil {
		origin = ""
	}
	if origin != s.remote {
		if origin == "" {
			origin = "no origin"
		}
		return fmt.Errorf("scm url %s: %s is a clone of %s, not of %s: delete %s to let porter clone %s, or fix [scm] url", s.url, s.repoDir, origin, s.remote, s.repoDir, s.remote)
	}
	return nil
}

// clone clones into a temporary directory next to repoDir and renames it,
// so that an interrupted clone never leaves a half-made repo/.
func (s *gitSource) clone(ctx context.Context) error {
	tmp, err := os.MkdirTemp(s.moduleDir, ".repo-clone-")
	if err != nil {
		return fmt.Errorf("scm url %s: clone into module dir %s: %w", s.url, s.moduleDir, err)
	}
	defer os.RemoveAll(tmp) // after a successful rename, tmp no longer exists
	if _, err := s.git(ctx, s.moduleDir, "clone", "--quiet", "--no-checkout", "--origin", "origin", "--", s.remote, tmp); err != nil {
		return fmt.Errorf("scm url %s: clone %s: %w: check the url and your access to the repository", s.url, s.remote, err)
	}
	if err := os.Remove(s.repoDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("scm url %s: %w", s.url, err)
	}
	if err := os.Rename(tmp, s.repoDir); err != nil {
		return fmt.Errorf("scm url %s: %w", s.url, err)
	}
	return nil
}

// GitError is a git command that failed. Errors from a git:// Checkout wrap
// it when git itself failed; Stderr holds git's message.
type GitError struct {
	Args   []string // the git arguments, without "git"
	Dir    string   // the directory git ran in
	Stderr string   // git's standard error, trimmed
	Err    error    // usually an *exec.ExitError
}

// Error returns the command, its directory, the exit status and git's message.
func (e *GitError) Error() string {
	msg := fmt.Sprintf("git %s (in %s): %v", strings.Join(e.Args, " "), e.Dir, e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Unwrap returns Err.
func (e *GitError) Unwrap() error { return e.Err }

// gitEnvDrop lists variables that would point git at another repository.
var gitEnvDrop = map[string]bool{
	"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true,
	"GIT_OBJECT_DIRECTORY": true, "GIT_ALTERNATE_OBJECT_DIRECTORIES": true,
	"GIT_COMMON_DIR": true, "GIT_NAMESPACE": true, "GIT_CEILING_DIRECTORIES": true,
	"GIT_TERMINAL_PROMPT": true, "LC_ALL": true,
}

// git runs git in dir and returns its standard output, trimmed.
func (s *gitSource) git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	env := make([]string, 0, len(os.Environ())+3)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !gitEnvDrop[k] {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
		// Never find the repository of a directory above the module's own
		// (the project may live in a git checkout).
		"GIT_CEILING_DIRECTORIES="+s.moduleDir,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second // an ssh child may hold the pipes after git is killed
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w: install git to deploy git:// sources", err)
		}
		return "", &GitError{Args: args, Dir: dir, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	return strings.TrimSpace(stdout.String()), nil
}
