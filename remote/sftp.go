package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pkg/sftp"
)

// sftpOptions tune the shared client for throughput: many requests in
// flight per file, concurrent writes (a file's blocks may land out of order,
// which is why files are written under a temporary name and renamed).
var sftpOptions = []sftp.ClientOption{
	sftp.UseConcurrentWrites(true),
	sftp.UseConcurrentReads(true),
	sftp.MaxConcurrentRequestsPerFile(64),
}

// SFTP returns the host's one shared SFTP client, opened on first use on the
// host's connection. A failed open is not remembered: the next call tries
// again. The client is closed by [Host.Close]; callers must not close it.
//
// A stalled sftp-server (one that stops answering while sshd still answers
// keepalives) cannot hold a caller past its context: when ctx ends, the
// client is probed with one request, and if no answer comes within
// [SFTPGrace] it is closed, so that every call still waiting on it returns
// an error, and the next SFTP opens a new one. A server that answers is
// left alone. An open that does not finish within ctx is given up.
//
// A server without an SFTP subsystem is an error that names the server
// software it announced and what to install (see [ErrNoSFTP]).
func (h *Host) SFTP(ctx context.Context) (*sftp.Client, error) {
	h.sftpMu.Lock()
	defer h.sftpMu.Unlock()
	if h.sftp != nil {
		h.watchSFTP(ctx, h.sftp)
		return h.sftp, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sftp on %s: %w", h.name, err)
	}
	type result struct {
		c   *sftp.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := h.openSFTP()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("sftp on %s: %w", h.name, h.noSFTP(r.err))
		}
		h.sftp = r.c
		h.watchSFTP(ctx, r.c)
		return r.c, nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("sftp on %s: %w", h.name, ctx.Err())
	}
}

// SFTPGrace is how long a stalled SFTP server may take to answer a probe
// after a caller's context ended, before its client is closed.
const SFTPGrace = 2 * time.Second

// watchSFTP arms, once per ctx, the probe of c for when ctx ends; h.sftpMu
// is held.
func (h *Host) watchSFTP(ctx context.Context, c *sftp.Client) {
	if ctx.Done() == nil {
		return // never ends
	}
	if h.sftpWatch == nil {
		h.sftpWatch = map[context.Context]bool{}
	}
	if h.sftpWatch[ctx] {
		return
	}
	h.sftpWatch[ctx] = true
	context.AfterFunc(ctx, func() {
		h.sftpMu.Lock()
		delete(h.sftpWatch, ctx)
		current := h.sftp == c
		h.sftpMu.Unlock()
		if current {
			h.probeSFTP(c)
		}
	})
}

// probeSFTP closes c unless it answers a request within SFTPGrace.
func (h *Host) probeSFTP(c *sftp.Client) {
	answered := make(chan struct{})
	go func() {
		_, _ = c.Getwd()
		close(answered)
	}()
	t := time.NewTimer(SFTPGrace)
	defer t.Stop()
	select {
	case <-answered:
		return
	case <-t.C:
	}
	h.log.Warn("ssh: the SFTP server stopped answering: closing its client", "host", h.name)
	h.sftpMu.Lock()
	if h.sftp == c {
		h.sftp = nil
	}
	h.sftpMu.Unlock()
	h.sftpKillMu.Lock()
	kill := h.sftpKill[c]
	delete(h.sftpKill, c)
	delete(h.sftpRaw, c)
	h.sftpKillMu.Unlock()
	if kill != nil {
		kill()
	}
	go c.Close()
}

// errSFTPStalled fails the calls of a client whose server stopped answering.
var errSFTPStalled = errors.New("the SFTP server stopped answering")

// openSFTP opens an SFTP client on a session of its own, whose replies
// pass through a pipe that probeSFTP can break: a client's Close waits for
// the server, which a stalled server never answers.
func (h *Host) openSFTP() (*sftp.Client, error) {
	s, err := h.client.NewSession()
	if err != nil {
		return nil, err
	}
	w, err := s.StdinPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	r, err := s.StdoutPipe()
	if err != nil {
		s.Close()
		return nil, err
	}
	if err := s.RequestSubsystem("sftp"); err != nil {
		s.Close()
		return nil, err
	}
	bw := newBatchWriter(w)
	raw := &rawSFTP{w: bw, next: rawIDBase, wait: map[uint32]chan rawReply{}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	go demux(r, pw, raw)
	kill := func() {
		pw.CloseWithError(errSFTPStalled)
		raw.stop(errSFTPStalled)
		s.Close()
	}
	// pkg/sftp closes only its writer when it gives up on the session (a
	// reply it did not expect): pr is closed with it, so that demux stops
	// and the raw client's callers are told.
	c, err := sftp.NewClientPipe(pr, sessionCloser{&packetFramer{bw: bw}, closers{pr, s}}, sftpOptions...)
	if err != nil {
		kill()
		return nil, err
	}
	h.sftpKillMu.Lock()
	if h.sftpKill == nil {
		h.sftpKill, h.sftpRaw = map[*sftp.Client]func(){}, map[*sftp.Client]*rawSFTP{}
	}
	if v, ok := c.HasExtension("copy-data"); ok {
		raw.exts = map[string]string{"copy-data": v} // for CopyFiles on this session
	}
	raw.shortBatchEnds = h.shortBatchEnds(c)
	h.sftpKill[c], h.sftpRaw[c] = kill, raw
	h.sftpKillMu.Unlock()
	return c, nil
}

// closers closes each in turn.
type closers []io.Closer

func (cs closers) Close() error {
	for _, c := range cs {
		_ = c.Close()
	}
	return nil
}

// sessionCloser closes the session after its stdin.
type sessionCloser struct {
	io.WriteCloser
	s interface{ Close() error }
}

func (c sessionCloser) Close() error {
	err := c.WriteCloser.Close()
	c.s.Close()
	return err
}

// ErrNoSFTP is wrapped by the error of a host that has no SFTP subsystem.
var ErrNoSFTP = errors.New("the SSH server offers no SFTP subsystem")

// noSFTP explains an SFTP open that failed: the server's software and the
// fix.
func (h *Host) noSFTP(err error) error {
	version := Printable(string(h.client.ServerVersion()))
	fix := "enable the sftp subsystem in sshd_config (Subsystem sftp internal-sftp)"
	switch {
	case strings.Contains(strings.ToLower(version), "dropbear"):
		fix = "Dropbear runs an external sftp-server: install it (Debian, Ubuntu, Alpine: the openssh-sftp-server package)"
	case strings.Contains(version, "OpenSSH"):
		fix = "enable the sftp subsystem in sshd_config (Subsystem sftp internal-sftp, or the path of sftp-server from openssh-sftp-server)"
	}
	return fmt.Errorf("%w (%v): the server is %s: %s", ErrNoSFTP, err, version, fix)
}
