package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// maxShells bounds the pooled shells of one Host: each one holds a session
// (OpenSSH allows 10 per connection by default, MaxSessions).
const maxShells = 4

// shellPool is a Host's shells: up to max, started when a caller finds
// them all busy, kept until Close.
type shellPool struct {
	h   *Host
	max int

	mu       sync.Mutex
	idle     []*Shell
	all      map[*Shell]struct{} // idle and busy
	live     int                 // shells running or starting
	starting int
	waiting  int // callers waiting for a shell
	failures int // starts that failed, ever
	lastErr  error
	closed   bool
	wake     chan struct{}  // closed and replaced on every change
	starts   sync.WaitGroup // the start goroutines: Host.Close waits for them
}

func newShellPool(h *Host, max int) *shellPool {
	return &shellPool{h: h, max: max, all: map[*Shell]struct{}{}, wake: make(chan struct{})}
}

// ErrClosed is returned for a Host that was closed.
var ErrClosed = errors.New("connection closed")

// Shell returns an idle shell of the Host's pool, or starts one when all
// are busy and there is room (up to 4 per host), whichever is free first.
// Give it back with [Shell.Release] once the reply of its last program was
// read whole, or end it with [Shell.Kill]. With [WithoutSharedShell] it is
// a new shell that Release ends.
func (h *Host) Shell(ctx context.Context) (*Shell, error) {
	if h.shells == nil {
		return h.startShell(ctx)
	}
	return h.shells.get(ctx)
}

// IdleShell returns an idle pooled shell, or nil when none is idle (it
// never waits for one to start).
func (h *Host) IdleShell() *Shell {
	if h.shells == nil {
		return nil
	}
	return h.shells.takeIdle()
}

// PrewarmShell starts a pooled shell in the background when none is idle
// or starting, so that a later [Host.Shell] need not wait for the login
// shell.
func (h *Host) PrewarmShell() {
	if h.shells != nil {
		h.shells.prewarm()
	}
}

// ShellWarm reports whether a pooled shell is idle or starting: a
// [Host.Shell] now costs no login shell of its own.
func (h *Host) ShellWarm() bool {
	if h.shells == nil {
		return false
	}
	p := h.shells
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed && (len(p.idle) > 0 || p.starting > p.waiting)
}

// broadcast wakes the waiting callers; p.mu is held.
func (p *shellPool) broadcast() {
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *shellPool) takeIdle() *Shell {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		n := len(p.idle)
		sh := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if !sh.exited() {
			return sh
		}
		p.drop(sh)
	}
	return nil
}

func (p *shellPool) prewarm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) > 0 || p.starting > 0 || p.live >= p.max {
		return
	}
	p.live++
	p.starting++
	p.starts.Add(1)
	p.h.log.Debug("ssh: starting a shell", "host", p.h.name, "why", "prewarm")
	go p.start()
}

// get returns an idle shell, or starts one when all are busy and there is
// room. It fails when ctx ends, the Host is closed, or a start fails while
// no other shell is live.
func (p *shellPool) get(ctx context.Context) (*Shell, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiting++
	defer func() { p.waiting-- }()
	failures := p.failures
	for {
		if p.closed {
			return nil, ErrClosed
		}
		for len(p.idle) > 0 {
			n := len(p.idle)
			sh := p.idle[n-1]
			p.idle = p.idle[:n-1]
			if !sh.exited() {
				return sh, nil
			}
			p.drop(sh)
		}
		if p.failures != failures && p.live == 0 {
			return nil, p.lastErr
		}
		if p.live < p.max && p.starting < p.waiting {
			p.live++
			p.starting++
			p.starts.Add(1)
			p.h.log.Debug("ssh: starting a shell", "host", p.h.name, "why", "needed")
			go p.start()
		}
		wake := p.wake
		p.mu.Unlock()
		select {
		case <-wake:
			p.mu.Lock()
		case <-ctx.Done():
			p.mu.Lock()
			return nil, ctx.Err()
		}
	}
}

// start starts one shell and makes it idle. It is bounded by the start
// timeout, not by the context of the caller that asked for it: a shell
// that comes up after that caller gave up serves the next one.
func (p *shellPool) start() {
	defer p.starts.Done()
	sh, err := p.h.startShell(context.Background())
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	defer p.broadcast()
	if err != nil {
		p.live--
		p.failures++
		p.lastErr = fmt.Errorf("start a shell on %s: %w", p.h.name, err)
		if !p.closed { // after Close, the caller's logger may be gone
			p.h.log.Debug("ssh: shell did not start", "host", p.h.name, "err", err)
		}
		return
	}
	if p.closed {
		p.live--
		go sh.stop(time.Second)
		return
	}
	sh.pooled = true
	p.h.log.Debug("ssh: shell started", "host", p.h.name, "dir", sh.dir)
	p.all[sh] = struct{}{}
	p.idle = append(p.idle, sh)
}

// put gives back a shell whose last reply was read whole.
func (p *shellPool) put(sh *Shell) {
	if sh.exited() || sh.isKilled() {
		p.discard(sh)
		sh.sess.Close()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.all[sh]; !ok {
		go sh.stop(time.Second)
		return
	}
	if p.closed {
		p.drop(sh)
		go sh.stop(time.Second)
		return
	}
	for _, s := range p.idle {
		if s == sh {
			return // given back twice
		}
	}
	p.idle = append(p.idle, sh)
	p.broadcast()
}

// discard drops a shell that was killed, broke or is being closed.
func (p *shellPool) discard(sh *Shell) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.idle {
		if s == sh {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	p.drop(sh)
}

// drop forgets sh; p.mu is held.
func (p *shellPool) drop(sh *Shell) {
	if _, ok := p.all[sh]; !ok {
		return
	}
	delete(p.all, sh)
	p.live--
	p.broadcast()
}

// close stops every shell: an idle one cleanly (it removes its temp dir),
// a busy one by closing its session.
func (p *shellPool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	isIdle := map[*Shell]bool{}
	for _, sh := range idle {
		isIdle[sh] = true
	}
	var busy []*Shell
	for sh := range p.all {
		delete(p.all, sh)
		if !isIdle[sh] {
			busy = append(busy, sh)
		}
	}
	p.live = 0
	p.broadcast()
	p.mu.Unlock()
	for _, sh := range busy {
		sh.sess.Close()
	}
	var wg sync.WaitGroup
	for _, sh := range idle {
		wg.Go(func() { sh.stop(2 * time.Second) })
	}
	wg.Wait()
}
