// Package scm gets the source of a module and names its version.
//
// The url key of a module's scm section chooses the source by its scheme,
// written "<scheme>://<rest>" as in the original ini files:
//
//	url = git://git@myrepo.tld:reponame.git   a git repository, cloned once into <module>/repo
//	url = dir://build/out                     a local directory (relative to the module dir, or absolute)
//	url = none://                             nothing to ship; the version comes from the release section
//
// [New] turns a url into a [Source]; [Source.Checkout] then brings the source
// of one release (a [release:NAME] section, see [Release]) onto the local
// disk and returns a [Checkout]: the directory to ship and the version that
// is deployed. The version is what a deploy records for the host: for git it
// is the resolved commit id, never a branch name, so a new commit on a branch
// is a new version.
//
// # dir urls
//
// A dir:// source's version is a hash of its tree ([HashDir]): every path,
// type, permission bit, symlink target and byte. So that a deploy does not
// read every file again, [HashDirCached] keeps what it hashed in a cache of
// the user's, [DefaultDirCache] (os.UserCacheDir()/porter/dirhash, one
// file per source directory, mode 0600; delete it at any time): a file
// whose size, mtime, inode and ctime are those it had is not read, as git's
// index does, and a file written in the second of the hash (or the one
// before) is read again next time (git's racy-second rule). The cache
// lives with the user, not in the project, so that a project checked out
// read-only, or kept in git, has no file to ignore; with no user cache dir
// (no HOME) every deploy reads the whole tree. Tests that deploy set
// XDG_CACHE_HOME to a directory of their own.
//
// # git urls
//
// The text after "git://" is given to git as it is when it is itself a git
// url or a path; a relative path is relative to the module directory:
//
//	git://https://github.com/x/y.git    -> https://github.com/x/y.git   (contains "://")
//	git://ssh://git@host/srv/y.git      -> ssh://git@host/srv/y.git
//	git://file:///srv/git/y.git         -> file:///srv/git/y.git
//	git://git@myrepo.tld:reponame.git   -> git@myrepo.tld:reponame.git  (scp-like [user@]host:path)
//	git:///srv/git/y.git                -> /srv/git/y.git               (starts with "/")
//	git://../upstream.git               -> <module>/../upstream.git     (starts with ".")
//
// Anything else is a real git-protocol url and is given to git whole:
//
//	git://github.com/x/y.git            -> git://github.com/x/y.git
//	git://host:9418/y.git               -> git://host:9418/y.git        (":digits/" is a port)
//
// Every git operation runs the real git binary (no shell) with
// GIT_TERMINAL_PROMPT=0, so that a missing credential fails instead of
// waiting for a password nobody types, and LC_ALL=C.
package scm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Release is the [release:NAME] section of a module, with the KEY-<host>
// overrides already applied by the caller.
//
// git uses Commit if set, else Tag, else Branch (which, as in the original
// tool, may also name a tag). none uses Version. dir uses none of them.
type Release struct {
	Name    string // the release name, e.g. "stable"; used in messages only
	Branch  string // git: branch name, or tag name (the original used `branch =` for both)
	Tag     string // git: tag name
	Commit  string // git: commit id, full or abbreviated (at least 4 hex digits)
	Version string // none: the version string
}

// Checkout is a release's source on the local disk.
type Checkout struct {
	// Dir is the local directory that holds the source to ship, as a clean
	// absolute path. It is "" when there is nothing to ship (none://).
	Dir string
	// Version names what is deployed: a git commit id (40 hex digits), a
	// directory content hash ("sha256:<64 hex>") or the version of a none://
	// release.
	Version string
	// Ref describes the checkout for people, e.g.
	// "branch release/0.1.2 @ 1a2b3c4".
	Ref string
	// Stamp is the StatDir of Dir taken before it was hashed (dir://
	// sources; "" for the others): a sender compares it with a new one
	// once it has sent the tree, to know that what it sent is Version.
	Stamp string
}

// Source gets the source of one module. New returns one per scm url.
//
// A Source may be used for several Checkouts, one after another or at the
// same time: git checkouts of the same repository directory are serialized.
type Source interface {
	// Scheme returns the url scheme of the source: "dir", "git" or "none".
	Scheme() string
	// Check makes the checks of Checkout that need neither the network nor
	// a read of the tree (a release that names nothing to check out, a
	// dir:// directory that is missing), with Checkout's errors: a deploy
	// makes them before it dials its hosts, and checks out while it dials.
	Check(rel Release) error
	// Checkout brings the source of rel onto the local disk and names its
	// version. It stops when ctx ends.
	Checkout(ctx context.Context, rel Release) (Checkout, error)
}

// ErrUnknownScheme is wrapped by the error New returns for a url whose
// scheme is not one of [Schemes] (or that has no scheme at all).
var ErrUnknownScheme = errors.New("unknown scm scheme")

type factory func(rawURL, rest, moduleDir string) (Source, error)

var schemes = map[string]factory{
	"dir":  newDir,
	"git":  newGit,
	"none": newNone,
}

// Schemes returns the known url schemes, sorted: "dir", "git", "none".
func Schemes() []string {
	names := make([]string, 0, len(schemes))
	for name := range schemes {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// New returns the Source for the scm url of the module in moduleDir.
// Relative paths in the url (dir://build, git://../upstream.git) are relative
// to moduleDir; a relative moduleDir is made absolute against the current
// directory.
//
// The scheme is matched without regard to case. A url with no scheme or an
// unknown one returns an error that wraps [ErrUnknownScheme] and lists the
// known schemes. The package documentation lists the url forms, and what a
// git:// url gives git as the repository url.
func New(rawURL, moduleDir string) (Source, error) {
	url := strings.TrimSpace(rawURL)
	known := strings.Join(Schemes(), ", ")
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("scm url %q (module %s): %w: want <scheme>://..., scheme one of %s, e.g. url = git://git@host.tld:repo.git",
			rawURL, moduleDir, ErrUnknownScheme, known)
	}
	f, ok := schemes[strings.ToLower(scheme)]
	if !ok {
		return nil, fmt.Errorf("scm url %q (module %s): %w %q: use one of %s",
			rawURL, moduleDir, ErrUnknownScheme, scheme, known)
	}
	abs, err := filepath.Abs(moduleDir)
	if err != nil {
		return nil, fmt.Errorf("scm url %q: module dir %q: %w", rawURL, moduleDir, err)
	}
	return f(url, rest, abs)
}

// releaseName returns the release name for messages.
func releaseName(rel Release) string {
	return fmt.Sprintf("release %q", rel.Name)
}
