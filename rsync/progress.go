// Live progress of Apply, for Options.Progress.

package rsync

import (
	"sync"
	"sync/atomic"
	"time"
)

// Progress is how far Apply is, as passed to Options.Progress. The totals
// are those of the plan and the same in every call; the counts only grow.
// Bytes may end above or below BytesTotal when a file changed size after
// Plan. In the last call of a successful Apply, Files is Stats.Sent and
// Bytes is Stats.BytesSent; after a failed one, Files also counts the
// files written but not renamed into place (removed with the staging
// directory), which Stats.Sent does not.
type Progress struct {
	Files, FilesTotal int   // files and symlinks written (sent or copied on the host) of those the plan writes
	Bytes, BytesTotal int64 // content bytes sent of those the plan sends
}

// defaultProgressInterval is Options.ProgressInterval when it is 0.
const defaultProgressInterval = 100 * time.Millisecond

func (o *Options) progressInterval() time.Duration {
	if o.ProgressInterval > 0 {
		return o.ProgressInterval
	}
	return defaultProgressInterval
}

// reporter calls Options.Progress: once at the start, then, from whichever
// goroutine counted something, at most every interval, then once at the
// end. Calls never overlap: a goroutine that finds a call under way does
// not wait for it (the transfer goes on; a later call has its counts),
// and nothing of the transfer is locked while fn runs but mu, which only
// reporters take.
type reporter struct {
	fn       func(Progress)
	interval time.Duration
	total    Progress      // FilesTotal and BytesTotal
	files    *atomic.Int64 // files and links written
	bytes    *atomic.Int64 // content bytes sent
	start    time.Time     // of the reporter (monotonic clock)
	next     atomic.Int64  // time since start before which tick makes no call

	mu   sync.Mutex // held while fn runs
	done bool       // the last call was made
}

// progress starts reporting, with the plan's totals as they are now,
// unless Options.Progress is nil or it was started already: the first call
// to fn is made here.
func (a *applier) progress() {
	c := a.c
	if c.opts.Progress == nil || a.prog != nil {
		return
	}
	r := &reporter{
		fn:       c.opts.Progress,
		interval: c.opts.progressInterval(),
		total:    Progress{FilesTotal: c.stats.Sent, BytesTotal: c.stats.BytesSent},
		files:    &a.written,
		bytes:    &a.sent,
		start:    time.Now(),
	}
	a.prog = r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next.Store(int64(r.interval))
	r.fn(r.now())
}

// now is the progress so far (called with mu held).
func (r *reporter) now() Progress {
	p := r.total
	p.Files, p.Bytes = int(r.files.Load()), r.bytes.Load()
	return p
}

// tick calls fn with the progress so far if the interval has passed since
// the last call and no call is under way (r may be nil: no reporting).
func (r *reporter) tick() {
	if r == nil || int64(time.Since(r.start)) < r.next.Load() || !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	at := int64(time.Since(r.start))
	if r.done || at < r.next.Load() {
		return
	}
	r.next.Store(at + int64(r.interval))
	r.fn(r.now())
}

// finish makes the last call, after a call under way if any; no call
// follows it (r may be nil: no reporting).
func (r *reporter) finish() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	r.fn(r.now())
}

// wrote counts n files or links written.
func (a *applier) wrote(n int) {
	if n > 0 {
		a.written.Add(int64(n))
		a.prog.tick()
	}
}
