package rsync

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/porter-deploy/porter/remote"
)

// The shared agent.
//
// A deploy syncs many modules to the same host. A sync whose remote shell is
// not up writes a small change set with SFTP requests (many round trips)
// rather than wait for a login shell; it also starts, in the background, one
// agent for the host (kept with remote.Host.Value, closed with the Host),
// which the later syncs of the host use while it is idle: their change set
// goes as one tar archive, built in memory (at most sharedBytes of content),
// sent with its exact length and read by `head -c` into `tar -x`, so that the
// agent is back in its loop afterwards. The prepare script and the tar run
// in subshells: nothing they do (set -e, cd) stays in the agent. Any error
// drops the agent for good (the next syncs do as if there were none).

// sharedBytes bounds the content of a change set sent through the shared
// agent (it is held in memory).
const sharedBytes = 16 << 20

type sharedKey struct{}

// sharedAgent is the host's agent kept across syncs.
type sharedAgent struct {
	h      *remote.Host
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	ready   chan struct{} // closed once the start is over
	ag      *agent        // nil when not up, dropped, or in use
	failed  bool          // dropped or could not start: never started again
}

// sharedAgentOf returns the host's shared agent (not started).
func sharedAgentOf(h *remote.Host) *sharedAgent {
	return h.Value(sharedKey{}, func() any {
		ctx, cancel := context.WithCancel(context.Background())
		return &sharedAgent{h: h, ctx: ctx, cancel: cancel, ready: make(chan struct{})}
	}).(*sharedAgent)
}

// start starts the agent in the background, once.
func (s *sharedAgent) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.failed {
		return
	}
	s.started = true
	go func() {
		defer close(s.ready)
		ag, err := startAgent(s.ctx, s.h, ".", false)
		if err == nil {
			if _, _, _, _, err = ag.readListing("start a shell on " + s.h.Name()); err != nil {
				ag.abort()
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case err != nil:
			s.failed = true
		case s.ctx.Err() != nil:
			ag.abort()
		default:
			s.ag = ag
		}
	}()
}

// take returns the agent if it is up and idle (nil otherwise); it is then
// the caller's until put or drop.
func (s *sharedAgent) take() *agent {
	s.mu.Lock()
	defer s.mu.Unlock()
	ag := s.ag
	s.ag = nil
	return ag
}

// wait waits for the start (tests).
func (s *sharedAgent) wait(ctx context.Context) {
	s.start()
	select {
	case <-s.ready:
	case <-ctx.Done():
	}
}

// put gives back an agent that is in its loop again.
func (s *sharedAgent) put(ag *agent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil || s.failed {
		ag.abort()
		return
	}
	s.ag = ag
}

// drop ends an agent taken that is no longer usable.
func (s *sharedAgent) drop(ag *agent) {
	ag.abort()
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

// Close ends the agent (with the Host).
func (s *sharedAgent) Close() error {
	s.cancel() // startShell's AfterFunc closes the session
	s.mu.Lock()
	ag := s.ag
	s.ag = nil
	s.mu.Unlock()
	if ag != nil {
		ag.abort()
	}
	return nil
}

// sendTarShared runs the prepare script and a `tar -x` of the whole
// archive through the shared agent, which stays in its loop.
func (a *applier) sendTarShared(ctx context.Context, ag *agent) error {
	c := a.c
	what := "extract files into " + c.dst + " with tar"
	var buf bytes.Buffer
	buf.Grow(int(c.stats.BytesSent) + 1024*(len(a.staged)+len(a.newDirs)+2))
	if err := a.writeTar(ctx, &buf, false); err != nil {
		a.shared.put(ag) // nothing sent: the agent is in its loop
		return err
	}
	errAt := len(ag.stderr.Bytes())
	// Whatever happens, head reads the whole archive and cat drains what
	// tar leaves: no byte of it is ever read as the agent's next program.
	// Nothing but the status goes to stdout.
	prog := "( " + a.prepareScript() + " ) </dev/null >&2; s=$?; head -c " + strconv.Itoa(buf.Len()) +
		" | ( if [ \"$s\" -eq 0 ]; then cd -- " + quote(c.dst) + " && tar -x -p --no-same-owner -f -; r=$?; else r=$s; fi; cat >/dev/null; exit \"$r\" ) >&2; " +
		`printf 'X\0%s\0' "$?"`
	ok := false // the agent is in its loop again
	defer func() {
		if ok {
			a.shared.put(ag)
		} else {
			a.shared.drop(ag)
		}
	}()
	stop := context.AfterFunc(ctx, func() { ag.sess.Close() })
	defer stop()
	err := ag.send(prog)
	if err == nil {
		_, err = ag.stdin.Write(buf.Bytes())
	}
	var st []byte
	if err == nil {
		var x []byte
		if x, err = ag.field(); err == nil && string(x) != "X" {
			err = fmt.Errorf("unexpected output from the remote shell: %.80q", x)
		}
		if err == nil {
			st, err = ag.field()
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ag.fail(what, err)
	}
	if string(st) != "0" {
		msg := ag.stderr.Bytes()
		if errAt <= len(msg) {
			msg = msg[errAt:]
		}
		return fmt.Errorf("%s: exit status %s: %s", what, st, bytes.TrimSpace(msg))
	}
	ok = true
	return nil
}
