package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordingWriter records each Write it gets; gate, when set, holds every
// Write until it can receive.
type recordingWriter struct {
	mu     sync.Mutex
	writes [][]byte
	closed chan struct{}
	gate   chan struct{}
	err    error
}

func newRecordingWriter() *recordingWriter { return &recordingWriter{closed: make(chan struct{})} }

func (r *recordingWriter) Write(p []byte) (int, error) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (r *recordingWriter) Close() error { close(r.closed); return nil }

// TestBatchWriterKeepsEachWriteWhole: 16 goroutines write 200 records
// each; what reaches w, in fewer writes than records, holds every record
// once, whole, each goroutine's in its order; Close sends all, then closes.
func TestBatchWriterKeepsEachWriteWhole(t *testing.T) {
	rw := newRecordingWriter()
	b := newBatchWriter(rw)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				_, err := fmt.Fprintf(b, "<%d:%d>", g, i)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, b.Close())
	<-rw.closed
	all := bytes.Join(rw.writes, nil)
	next := make([]int, 16)
	n := 0
	for _, rec := range bytes.SplitAfter(all, []byte(">")) {
		if len(rec) == 0 {
			continue
		}
		var g, i int
		_, err := fmt.Sscanf(string(rec), "<%d:%d>", &g, &i)
		require.NoError(t, err, "record %q", rec)
		require.Equal(t, next[g], i, "goroutine %d's records in order", g)
		next[g]++
		n++
	}
	assert.Equal(t, 16*200, n)
	assert.Less(t, len(rw.writes), 16*200, "batched")
	_, err := b.Write([]byte("late"))
	assert.ErrorIs(t, err, io.ErrClosedPipe)
}

// TestBatchWriterBoundsWhatItHolds: while w is stuck, writes queue up to
// batchLimit; the next one waits until w takes the queue.
func TestBatchWriterBoundsWhatItHolds(t *testing.T) {
	rw := newRecordingWriter()
	rw.gate = make(chan struct{})
	b := newBatchWriter(rw)
	chunk := bytes.Repeat([]byte("x"), batchLimit/4)
	_, err := b.Write(chunk) // taken by run, which is stuck in w.Write
	require.NoError(t, err)
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.sending })
	for range 4 {
		_, err := b.Write(chunk)
		require.NoError(t, err)
	}
	done := make(chan struct{})
	go func() {
		b.Write(chunk)
		close(done)
	}()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == batchLimit })
	select {
	case <-done:
		t.Fatal("a write past the limit did not wait")
	default:
	}
	close(rw.gate) // w takes everything from now on
	<-done
	require.NoError(t, b.Close())
	<-rw.closed
	assert.Equal(t, 6*len(chunk), len(bytes.Join(rw.writes, nil)))
}

// TestBatchWriterReturnsTheErrorOfW: once w fails, every Write returns its
// error, and w is closed.
func TestBatchWriterReturnsTheErrorOfW(t *testing.T) {
	rw := newRecordingWriter()
	boom := errors.New("channel closed")
	rw.err = boom
	b := newBatchWriter(rw)
	_, err := b.Write([]byte("a"))
	require.NoError(t, err) // queued
	<-rw.closed
	_, err = b.Write([]byte("b"))
	assert.ErrorIs(t, err, boom)
}

// waitFor polls cond (no sleep: it yields) until it holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		runtime.Gosched()
	}
}
