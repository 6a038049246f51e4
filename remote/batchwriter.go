package remote

import (
	"io"
	"sync"
)

// batchLimit bounds the bytes a batchWriter holds: a writer that finds
// that much pending waits until it is sent.
const batchLimit = 1 << 20

// keepSpare is the largest buffer a batchWriter keeps for its next batch.
const keepSpare = 64 << 10

// batchWriter sends what concurrent callers write in as few writes to w
// as it can: each Write only queues its bytes (whole, after those queued
// before it), and one goroutine sends everything queued at once while
// the callers go on. On an SSH channel every write is an SSH packet and a
// system call of its own; an SFTP walk writes thousands of small requests
// from many goroutines, which then go out hundreds to a packet.
//
// An error of w is returned by every later Write. Close returns at once,
// without waiting for the queue to be sent nor for w to close (a caller
// closing a session that no longer answers must not hang): the queue is
// still sent, then w closed, unless the caller closes what is under w
// first, as an SFTP client's Close does once no request awaits a reply.
type batchWriter struct {
	w io.WriteCloser

	mu      sync.Mutex
	cond    *sync.Cond // queue, sending, err or closed changed
	queue   []byte
	spare   []byte
	sending bool
	closed  bool
	err     error
}

func newBatchWriter(w io.WriteCloser) *batchWriter {
	b := &batchWriter{w: w}
	b.cond = sync.NewCond(&b.mu)
	go b.run()
	return b
}

func (b *batchWriter) Write(p []byte) (int, error) {
	if err := b.writeParts(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeParts queues the parts one after the other, nothing of another
// write between them (a packet whose header and payload come apart).
func (b *batchWriter) writeParts(parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && !b.closed && len(b.queue) > 0 && len(b.queue)+n > batchLimit {
		b.cond.Wait()
	}
	switch {
	case b.err != nil:
		return b.err
	case b.closed:
		return io.ErrClosedPipe
	}
	for _, p := range parts {
		b.queue = append(b.queue, p...)
	}
	b.cond.Broadcast()
	return nil
}

// run sends the queue until Close, then closes w.
func (b *batchWriter) run() {
	b.mu.Lock()
	for {
		for len(b.queue) == 0 && !b.closed && b.err == nil {
			b.cond.Wait()
		}
		if len(b.queue) == 0 || b.err != nil {
			break // closed, and all sent; or w failed
		}
		out := b.queue
		b.queue, b.spare = b.spare[:0], nil
		b.sending = true
		b.mu.Unlock()
		_, err := b.w.Write(out)
		b.mu.Lock()
		b.sending = false
		if cap(out) <= keepSpare {
			b.spare = out // reused: a burst of big writes is not kept per host
		}
		if err != nil {
			b.err = err
		}
		b.cond.Broadcast()
	}
	b.mu.Unlock()
	b.w.Close()
}

// Close stops new writes and returns nil; see batchWriter.
func (b *batchWriter) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.cond.Broadcast()
	return nil
}
