package rsync

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// progressLog records the calls of Options.Progress and whether any two
// overlapped.
type progressLog struct {
	mu      sync.Mutex
	calls   []Progress
	in      atomic.Int32
	overlap atomic.Bool
}

// record is an Options.Progress.
func (l *progressLog) record(p Progress) {
	if l.in.Add(1) != 1 {
		l.overlap.Store(true)
	}
	defer l.in.Add(-1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, p)
}

func (l *progressLog) get() []Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Progress(nil), l.calls...)
}

// check asserts the calls' contract: the first has the plan's totals and
// nothing done, the totals stay, the counts never go down, the last is
// what Apply reports (st, of a successful Apply whose plan counted
// planned).
func (l *progressLog) check(t *testing.T, planned, st Stats) []Progress {
	t.Helper()
	calls := l.get()
	require.GreaterOrEqual(t, len(calls), 2, "a first call and a last")
	assert.False(t, l.overlap.Load(), "calls overlapped")
	total := Progress{FilesTotal: planned.Sent, BytesTotal: planned.BytesSent}
	assert.Equal(t, total, calls[0], "the first call: totals, nothing done")
	for i := 1; i < len(calls); i++ {
		p, q := calls[i-1], calls[i]
		assert.Equal(t, total.FilesTotal, q.FilesTotal, "call %d", i)
		assert.Equal(t, total.BytesTotal, q.BytesTotal, "call %d", i)
		assert.True(t, q.Files >= p.Files && q.Bytes >= p.Bytes, "call %d went down: %+v after %+v", i, q, p)
	}
	last := calls[len(calls)-1]
	assert.Equal(t, Progress{Files: st.Sent, FilesTotal: st.Sent, Bytes: st.BytesSent, BytesTotal: st.BytesSent}, last, "the last call: all done")
	return calls
}

func TestSyncProgress(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		h := dialTest(t)
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
		nodes := sample(tmp)
		for i := range 40 { // more files than the SFTP writes in flight
			nodes = append(nodes, f("many/"+strings.Repeat("m", i+1), strings.Repeat("x", 64<<10), 0o644))
		}
		build(t, src, nodes...)
		var log progressLog
		opts.Progress, opts.ProgressInterval = log.record, time.Nanosecond
		c, err := Plan(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		planned := c.Stats()
		st, err := c.Apply(context.Background())
		require.NoError(t, err)
		assert.Positive(t, planned.PlanTook)
		assert.Equal(t, planned.PlanTook, st.PlanTook)
		assert.Positive(t, st.ApplyTook)
		assert.Equal(t, counts(planned), counts(st))
		assert.Equal(t, 51, st.Sent)
		log.check(t, planned, st)
		assert.Equal(t, snapshot(t, src), snapshot(t, dst))

		// One changed file: its bytes only.
		writeFile(t, filepath.Join(src, "a/b/c/deep.txt"), "changed", time.Time{})
		log = progressLog{}
		opts.ProgressInterval = 0
		st, err = Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		calls := log.check(t, st, st)
		assert.Equal(t, Progress{Files: 1, FilesTotal: 1, Bytes: 7, BytesTotal: 7}, calls[len(calls)-1])

		// Up to date: a first call and a last, with nothing to do.
		log = progressLog{}
		st, err = Sync(context.Background(), h, src, dst, opts)
		require.NoError(t, err)
		assert.Equal(t, 0, st.Sent)
		assert.Equal(t, []Progress{{}, {}}, log.check(t, st, st))
	})
}

// Between the first call and the last, calls are at least
// ProgressInterval apart: with an hour, there are only those two.
func TestSyncProgressInterval(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
		build(t, src, sample(tmp)...)
		var log progressLog
		opts.Progress, opts.ProgressInterval = log.record, time.Hour
		st, err := Sync(context.Background(), dialTest(t), src, dst, opts)
		require.NoError(t, err)
		calls := log.check(t, st, st)
		assert.Len(t, calls, 2)
	})
}

// Files copied on the host from Basis count as files written, without
// bytes.
func TestSyncProgressBasis(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		src, old, live := basisTrees(t, opts)
		var log progressLog
		opts.Basis, opts.Delete = live, true
		opts.Progress, opts.ProgressInterval = log.record, time.Nanosecond
		st, err := Sync(context.Background(), dialTest(t), src, old, opts)
		require.NoError(t, err)
		assert.Equal(t, snapshot(t, src), snapshot(t, old))
		assert.Equal(t, 4, st.Sent)
		if !opts.SFTPOnly {
			assert.Equal(t, 2, st.Copied)
		}
		log.check(t, st, st)
	})
}

// A plan whose copies from Basis turn into sends (SFTP writes only, for
// the test: a host without tar) counts them in the totals of the first
// call.
func TestSyncProgressBasisDropped(t *testing.T) {
	opts := Options{hooks: &testHooks{useShell: true}}
	src, old, live := basisTrees(t, opts)
	opts.Basis = live
	c, err := Plan(context.Background(), dialTest(t), src, old, opts)
	require.NoError(t, err)
	require.Equal(t, 2, c.Stats().Copied)
	c.opts.SFTPOnly = true // as if the host had no tar
	var log progressLog
	c.opts.Progress = log.record
	st, err := c.Apply(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 0, st.Copied)
	assert.Equal(t, 4, st.Sent)
	assert.Equal(t, int64(len("b, second version")+len("c, second version")+len("e, second version")+len("d")), st.BytesSent)
	log.check(t, st, st)
	assert.Equal(t, snapshot(t, src), snapshot(t, old))
}

func TestSyncProgressNotOnDryRunOrPlan(t *testing.T) {
	h := dialTest(t)
	tmp := tempDir(t)
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	build(t, src, sample(tmp)...)
	called := func(Progress) { t.Error("Progress called") }
	st, err := Sync(context.Background(), h, src, dst, Options{DryRun: true, Progress: called})
	require.NoError(t, err)
	assert.Equal(t, 11, st.Sent)
	c, err := Plan(context.Background(), h, src, dst, Options{Progress: called})
	require.NoError(t, err)
	assert.False(t, c.Empty())
	assert.NoDirExists(t, dst)
}

// A cancelled Apply still makes a last call, after which none comes; the
// counts go up to what was written, and never past the totals.
func TestSyncProgressCancelled(t *testing.T) {
	modes(t, func(t *testing.T, opts Options) {
		tmp := tempDir(t)
		src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
		var nodes []node
		for i := range 20 {
			nodes = append(nodes, f(strings.Repeat("x", i+1), strings.Repeat("y", 256<<10), 0o644))
		}
		build(t, src, nodes...)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		opts.hooks = with(opts, func(h *testHooks) {
			h.onBytes = func(sent int64) {
				if sent >= 2<<20 {
					cancel()
				}
			}
		})
		var log progressLog
		var after atomic.Bool
		opts.Progress = func(p Progress) {
			if after.Load() {
				t.Errorf("Progress called after Apply returned: %+v", p)
			}
			log.record(p)
		}
		opts.ProgressInterval = time.Nanosecond
		st, err := Sync(ctx, dialTest(t), src, dst, opts)
		after.Store(true)
		require.ErrorIs(t, err, context.Canceled)
		calls := log.get()
		require.GreaterOrEqual(t, len(calls), 2)
		assert.False(t, log.overlap.Load())
		assert.Equal(t, Progress{FilesTotal: 20, BytesTotal: 20 * 256 << 10}, calls[0])
		for i := 1; i < len(calls); i++ {
			p, q := calls[i-1], calls[i]
			assert.True(t, q.Files >= p.Files && q.Bytes >= p.Bytes, "call %d went down: %+v after %+v", i, q, p)
		}
		last := calls[len(calls)-1]
		assert.GreaterOrEqual(t, last.Bytes, int64(2<<20))
		assert.LessOrEqual(t, last.Bytes, last.BytesTotal)
		assert.Less(t, last.Files, last.FilesTotal)
		assert.GreaterOrEqual(t, last.Files, st.Sent, "renamed files were written")
	})
}
