package rsync

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/porter-deploy/porter/remote"
)

// Options tune a sync. The zero value is a plain `rsync -a`.
type Options struct {
	// Exclude lists patterns of entries to leave out (see the package doc).
	// Porter's deploy passes ".git*" plus the module's own patterns.
	Exclude []string
	// Delete removes remote entries that are not in src (never excluded ones,
	// never ".porter").
	Delete bool
	// Checksum compares files by SHA-256 of their content instead of by size
	// and mtime. Slower: every file of the same size is read on both sides.
	Checksum bool
	// RacyAfter, when set, is the time the previous sync of dst began to
	// read src. A file whose size and mtime match but whose mtime is at or
	// after that second may have been changed after it was read, within the
	// same second (mtimes on the host have one-second precision): its
	// content is compared, as in Checksum mode. This is git's "racily
	// clean" rule; porter's deploy passes the previous deploy's start time.
	RacyAfter time.Time
	// DryRun makes Sync plan only: it reports what it would do (in the Stats
	// and the log) and changes nothing.
	DryRun bool
	// Compress gzips the tar stream (when the host has tar and gzip). It
	// helps on slow links only; leave it off on a LAN.
	Compress bool
	// SFTPOnly sends every file with SFTP writes even when the host has tar.
	SFTPOnly bool
	// Concurrency bounds parallel SFTP requests and local hashing
	// (0 means 16).
	Concurrency int
	// Logger receives one line per change at Debug and a summary at Info
	// (nil: no logs).
	Logger *slog.Logger

	// Basis, when set, is a directory on the host (absolute, or relative to
	// the login directory as dst is) that
	// holds an earlier copy of src, such as the live release when dst is a
	// new one: a file to send that Basis holds with the same size, mtime
	// and mode is copied there on the host instead (Stats.Copied), so that
	// only changes travel. BasisRacyAfter is to Basis what RacyAfter is to
	// dst: a file whose mtime is at or after it is sent. The copies are
	// made by the host's remote shell (with tar), or, when no shell is up
	// and the change set is small, by the host's SFTP server itself where
	// it can (OpenSSH's copy-data, from OpenSSH 9.0: see
	// remote.Host.CopyFiles), so a sync need not wait for a login shell to
	// copy; without either, every file is sent.
	Basis          string
	BasisRacyAfter time.Time
	// NotLive says nothing uses dst while the sync runs, as with a release
	// that is switched to only afterwards. When the host has tar, Apply
	// then writes every new file, link and directory at its final name
	// (the copies from Basis too, with one tar on the host), without a
	// rename each, and the archive sets the directories' modes and mtimes.
	// Each directory written in is still checked to be the listed one
	// first. A sync that fails leaves such a dst a mix of old and new
	// files, one perhaps cut short, and not always detectably (bsdtar pads
	// a file cut short to its size and gives it its mtime): the caller
	// discards it.
	NotLive bool
	// LinkedDst says dst's files may be hard links into another tree (a
	// release seeded with cp -al): a file whose only change is its mode or
	// mtime is then sent whole, which replaces its inode, rather than
	// changed in place, which would change the other tree's file too.
	LinkedDst bool

	// NoShellAfter says nothing will want a remote shell of this host
	// soon after the sync: no other sync follows (the last module of a
	// deploy) and the caller runs no command. A sync that needs no shell
	// then starts none in the background for what follows: a login shell
	// costs the host CPU while the sync still runs, and its rc files run
	// for nothing.
	NoShellAfter bool

	// MaxEntries bounds the entries a listing of dst on the host may hold
	// (0 means 5,000,000): a host that lists more fails the sync, rather
	// than the deployer's memory.
	MaxEntries int

	// Progress, when set, is called as Apply works: first with the totals
	// and nothing done, then as files and bytes are done, at most every
	// ProgressInterval (default 100 ms) and always once at the end. Calls
	// never overlap and their counts never go down; a DryRun or a Plan
	// makes none. It runs on the goroutine that counted: a slow Progress
	// slows the transfer, so it should only record or draw.
	Progress func(Progress)
	// ProgressInterval is the least time between two calls of Progress,
	// but for the last, made at the end whatever the time (0 means 100 ms).
	ProgressInterval time.Duration

	// for tests
	hooks *testHooks
}

type testHooks struct {
	listSFTP  bool             // list the remote tree by an SFTP walk
	listFind  bool             // list the remote tree by the agent's find (the walk fails)
	slowWalk  bool             // the agent's find wins the race against the walk
	walkFirst bool             // a sync from Basis: the agent's shell comes up once the walk has ended, and the agent ends first
	basisLost bool             // in place, a file of Basis is removed between its check and its copy
	noShell   bool             // apply without a remote shell when the plan allows it
	useShell  bool             // always wait for the remote shell
	shared    bool             // wait for an idle pooled shell and send the change set through it
	late      bool             // no remote shell is up when the plan hashes (small sets are read over SFTP)
	onBytes   func(sent int64) // called as file content is sent
	onRename  func(done int)   // called after each rename
	// treeListed is called when a tree removed over SFTP was listed
	// (rel: its top), before anything in it is removed.
	treeListed func(rel string)
}

// testHooks returns the test hooks, none set outside tests.
func (o *Options) testHooks() *testHooks {
	if o.hooks == nil {
		return &testHooks{}
	}
	return o.hooks
}

// racy reports whether a file with this mtime (Unix seconds) may have
// changed after the previous sync read it.
func (o *Options) racy(mtime int64) bool {
	return !o.RacyAfter.IsZero() && mtime >= o.RacyAfter.Unix()
}

func (o *Options) maxEntries() int {
	if o.MaxEntries > 0 {
		return o.MaxEntries
	}
	return 5_000_000
}

func (o *Options) concurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	return 16
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Stats counts what a sync found and did. After a DryRun (or from
// Changes.Stats) the counts are what Apply would do.
type Stats struct {
	Files, Dirs, Symlinks int   // entries of src, after excludes (src itself not counted)
	BytesTotal            int64 // size of src's files

	Sent        int   // files and symlinks written (new or changed)
	BytesSent   int64 // content bytes of the files sent
	Copied      int   // of Sent, files copied on the host from Options.Basis (their bytes are not in BytesSent)
	Unchanged   int   // files and symlinks already up to date
	AttrsSet    int   // files whose content was equal but mode or mtime were set
	DirsCreated int   // directories created on the host
	Deleted     int   // remote entries removed: not in src (with Delete), or of another type than in src

	// Where the time went: planning (the local walk, the host's listing
	// and the comparison, with checksums when needed) and applying.
	PlanTook, ApplyTook time.Duration
}

// String summarizes the stats on one line, for logs.
func (s Stats) String() string {
	copied := ""
	if s.Copied > 0 {
		copied = fmt.Sprintf(" (%d of them copied on the host)", s.Copied)
	}
	return fmt.Sprintf("%d files, %d dirs, %d symlinks: %d sent (%d bytes)%s, %d unchanged, %d attrs set, %d dirs created, %d deleted",
		s.Files, s.Dirs, s.Symlinks, s.Sent, s.BytesSent, copied, s.Unchanged, s.AttrsSet, s.DirsCreated, s.Deleted)
}

// Sync makes dst on h hold the tree under the local directory src: Plan,
// then Apply (see the package doc for the rules). With opts.DryRun it only
// plans and returns what it would do.
//
// Errors name the file and the step; a cancelled ctx returns an error that
// wraps ctx.Err() and leaves no temporary file behind.
func Sync(ctx context.Context, h *remote.Host, src, dst string, opts Options) (Stats, error) {
	c, err := plan(ctx, h, src, dst, opts)
	if err != nil {
		return Stats{}, err
	}
	if opts.DryRun {
		c.dropAgent()
		c.log.Info("sync plan (dry run)", "src", src, "dst", dst, "stats", c.stats.String())
		for _, ch := range c.list {
			c.log.Info("would "+ch.Op.String(), "path", ch.Path, "reason", ch.Reason)
		}
		return c.Stats(), nil
	}
	return c.Apply(ctx)
}

// Op is what a Change does.
type Op int

// The operations of a plan.
const (
	OpMkdir  Op = iota + 1 // create a directory
	OpSend                 // write a file (new or changed)
	OpLink                 // create or replace a symbolic link
	OpAttrs                // set a file's or directory's mode and/or mtime only
	OpDelete               // remove a remote entry (and what it holds)
	OpCopy                 // write a file by copying it on the host from Options.Basis
)

// String names the operation (mkdir, send, link, attrs, delete, copy).
func (o Op) String() string {
	switch o {
	case OpMkdir:
		return "mkdir"
	case OpSend:
		return "send"
	case OpLink:
		return "link"
	case OpAttrs:
		return "attrs"
	case OpDelete:
		return "delete"
	case OpCopy:
		return "copy"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Change is one step of a plan.
type Change struct {
	Op     Op
	Path   string // relative to dst, "/"-separated; "" is dst itself
	Size   int64  // bytes to send (OpSend)
	Reason string // why: "new", "size", "mtime", "checksum", "type", "target", "mode", "extraneous"...
}

// String describes the change: the operation, the path and why.
func (c Change) String() string {
	p := c.Path
	if p == "" {
		p = "."
	}
	return fmt.Sprintf("%s %s (%s)", c.Op, p, c.Reason)
}
