package remote

import (
	"errors"
	"time"
)

// keepAliveFailures is how many keepalives in a row may go unanswered before
// the connection is closed.
const keepAliveFailures = 3

// startKeepAlive sends a "keepalive@openssh.com" request every interval, as
// ssh's ServerAliveInterval does. A reply (even a refusal) proves the server
// alive; a request that fails, or that is not answered within interval,
// counts as a failure, and after keepAliveFailures in a row the connection is
// closed, so that every call waiting on it returns an error instead of
// hanging. It stops on Close.
func (h *Host) startKeepAlive(interval time.Duration) {
	h.stopKeepAlive = make(chan struct{})
	h.keepAliveDone = make(chan struct{})
	ping := keepAlivePing
	go func() {
		defer close(h.keepAliveDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		failures := 0
		for {
			select {
			case <-h.stopKeepAlive:
				return
			case <-t.C:
			}
			err := ping(h, interval)
			if errors.Is(err, errStopped) {
				return
			}
			if err == nil {
				failures = 0
				continue
			}
			failures++
			h.log.Debug("ssh: keepalive failed", "host", h.name, "failures", failures, "err", err)
			if failures >= keepAliveFailures {
				h.log.Warn("ssh: connection dead, closing it", "host", h.name, "keepalives unanswered", failures)
				h.client.Close()
				return
			}
		}
	}()
}

// keepAlivePing sends one keepalive and waits for its reply, at most
// timeout; errStopped when h is closed meanwhile. Tests replace it (before
// Dial) to make keepalives fail at will.
var keepAlivePing = func(h *Host, timeout time.Duration) error {
	reply := make(chan error, 1)
	go func() {
		_, _, err := h.client.SendRequest("keepalive@openssh.com", true, nil)
		reply <- err
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-h.stopKeepAlive:
		return errStopped
	case err := <-reply:
		return err
	case <-timer.C:
		return errTimeout
	}
}

type timeoutError struct{}

func (timeoutError) Error() string { return "no reply" }

var (
	errTimeout error = timeoutError{}
	errStopped       = errors.New("keepalives stopped")
)
