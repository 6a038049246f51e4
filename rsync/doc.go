// Package rsync syncs a local directory tree to a host over porter's one SSH
// connection, sending only what changed. No rsync binary is needed on either
// side (see Transport below for what the host needs).
//
// Sync(ctx, h, "build/", "/srv/app", opts) behaves like `rsync -a build/
// host:/srv/app`:
//
//   - dst is created (mkdir -p) and made to hold exactly the entries of src
//     (src's own mode and mtime go to dst, as with a trailing slash in rsync);
//   - a file is sent when it is new, its size or mtime (whole seconds)
//     differs, or with Options.Checksum when its SHA-256 differs (mtime is
//     then not compared); a file whose content is equal but whose mode or
//     mtime differ only has those set;
//   - modes (permission bits with setuid, setgid and sticky) and mtimes of
//     files and directories are kept; owners are not (files belong to the
//     SSH user);
//   - symbolic links are recreated as links with the same target, whatever
//     it points to; they are never followed, on either side (link mtimes
//     are not kept);
//   - a remote entry of another type (a file where src has a directory, a
//     directory where src has a file or a link...) is removed and replaced;
//   - remote entries that are not in src are deleted only with
//     Options.Delete;
//   - other file types in src (sockets, devices, FIFOs) are skipped and
//     logged.
//
// # Atomicity
//
// Every file and link lands atomically: it is written under a staging
// directory ".porter-tmp-<random>" (mode 0700) at the top of dst, then
// renamed over its final name, so a reader on the host sees the old file or
// the new one, never a part. A new directory is filled in the staging
// directory and renamed into place whole. On error or cancellation the
// staging directory is removed (what was already renamed stays, each file
// whole); one left over by a killed process is removed by the next Apply.
// A change of type (file to directory...) is a removal followed by a
// creation.
//
// # Transport
//
// Everything goes over the host's one SSH connection. dst is listed with an
// SFTP walk (many requests in flight); on a far host, or when the walk is
// slow (a big tree), a remote shell (the "agent") starts and its one
// `find -printf` races the walk: the first complete listing wins. What is
// new or changed then goes as one tar stream into a remote `tar -x`
// (GNU tar or bsdtar) through that shell, which also removes and prepares;
// renames, modes and mtimes are SFTP requests. A small change set (up to
// 1,024 files and 32 MiB, no links to make, no directory to remove) does
// not wait for a remote shell that is not up yet: it is written with SFTP
// requests only, since a login shell may cost more than the whole change
// (100 ms and more with rbenv, pyenv or nvm in .bashrc); it also starts in
// the background one shell kept for the host until the Host is closed, and
// the later syncs to that host (a deploy's other modules) send such change
// sets (up to 16 MiB) as one tar archive through it, when it is idle.
// Without tar, or with Options.SFTPOnly, files are written with concurrent
// SFTP writes.
// The host needs an SFTP server; a POSIX shell, find -printf (else the
// walk), tar (else SFTP writes) and sha256sum -z (else hashing over SFTP)
// make it faster. On a host with no remote shell at all (an SFTP-only
// account, a login shell that fails), SFTP requests do everything: trees
// are removed entry by entry, and symlinks are made after a probe, before
// anything is removed, that the server makes them as asked (the order of
// the two paths differs between servers) and stores a relative target as
// given (pkg/sftp's server does not); each is read back too. A server that
// does not fails the sync with the reason, nothing changed.
//
// # Symlinks swapped in
//
// A host is not trusted to stay as it was listed: between the listing and
// the change, anyone who can write in a directory under dst (a web app's
// upload directory, another local user) can put a symlink in place of a
// listed file or directory. No change goes through one:
//
//   - Removals run in the remote shell, each name from inside its parent
//     directory, entered with `cd -P` and checked: its physical path must
//     be dst's followed by the listed path, so no directory on the way is a
//     symlink, and the shell then holds that directory whatever is renamed
//     along the path. `rm -rf -- ./name` removes a symlink put at name,
//     never what it points to. With no remote shell, a tree is removed
//     with SFTP requests as renames are (below): listed first, each
//     directory lstat-checked before it is read and again before what it
//     holds is removed; a symlink in it is removed, never followed.
//   - The staging directory is made (mode 0700) and entered the same way,
//     and must belong to the SSH user; tar extracts into it, and links and
//     directories are made in it, by names relative to it.
//   - Renames, modes and mtimes are SFTP requests, which name paths: there
//     is no directory to hold. Right before a step, each directory below
//     dst on the way of its requests is checked with lstat (a directory,
//     not a symlink), once per step; right before each chmod or chtimes,
//     the entry itself (of its listed type, not a symlink). A rename never
//     follows a symlink at the last name: it replaces the link. What is
//     left is the time between the check and the request (one round trip):
//     an attacker who wins that race makes porter set a mode or mtime, or
//     rename a new file, through the link. The shell could hold the
//     directory for those too, but at a process per file.
//   - Copies from Options.Basis read through the same checks: each
//     directory of Basis they are in is entered with `cd -P` and checked,
//     and each file must be a regular file, not a symlink (shell
//     built-ins), right before one `cp -p -P` per round of distinct names
//     (with Options.NotLive, a tar out of Basis); what is left is the time
//     between those checks and the copy, which reads by path.
//   - With Options.NotLive, tar extracts in dst itself, by names relative
//     to it, and follows a symlink put in place of a directory on the way:
//     right before, each directory of dst it writes in or sets is entered
//     with `cd -P` and checked, as for removals; what is left is the time
//     between those checks and tar.
//   - A refusal is an error wrapping ErrChanged that names the path; what
//     was renamed before it stays, the rest goes with the staging
//     directory, as for any error.
//   - Locally, every file is opened without following a symlink
//     (O_NOFOLLOW) and must be the file the walk listed (same device and
//     inode), so that a directory above it swapped for a symlink is caught
//     too: a swap is an error wrapping ErrChanged, and nothing of what the
//     link points to is read.
//   - Names in a remote listing with "..", a leading "/", a NUL or an
//     empty element are refused.
//
// dst itself and the directories above it are trusted: dst may be a
// symlink (a release's "current"), and whoever can write in its parent can
// replace it.
//
// # Excludes
//
// Options.Exclude holds gitignore-like patterns, checked against every entry
// of src and of dst (a path is relative to the top of its tree, with "/"
// separators):
//
//   - a pattern without a "/" matches the entry's name at any depth:
//     ".git*", "*.pyc", "node_modules";
//   - a pattern with a "/" in it, or starting with "/", matches the whole
//     relative path from the top: "/build", "docs/*.md", "a/**/tmp";
//   - a trailing "/" matches directories only: "cache/";
//   - "*" matches any run of characters but "/", "?" one character but "/",
//     "[abc]", "[a-z]" and "[!abc]" one character of a class, "**" any run
//     including "/" ("**/x", "a/**"), "\" quotes the next character;
//   - an excluded directory excludes everything beneath it;
//   - blank patterns and patterns starting with "#" are ignored; negation
//     ("!pattern") is refused with an error.
//
// An excluded entry is neither sent nor compared, and an excluded remote
// entry is never deleted, even with Delete (nor is the directory holding
// it). ".porter" (porter's state directory on the host) and ".porter-tmp-*"
// at the top of the tree are always excluded on both sides. Porter's deploy
// adds ".git*" to a module's patterns; this package adds nothing else.
//
// # Decide, then do
//
// Plan lists the remote tree and compares it with src without changing the
// host; Changes.List tells what would be done and Changes.Apply does it.
// Sync is Plan followed by Apply (or only Plan with Options.DryRun).
// Options.Progress follows Apply live (files and content bytes written of
// the plan's totals, at most every Options.ProgressInterval, never two
// calls at once), for a progress line per host; Plan and DryRun never call
// it.
package rsync
