package remote

import (
	"context"
	"fmt"

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
func (h *Host) SFTP(ctx context.Context) (*sftp.Client, error) {
	h.sftpMu.Lock()
	defer h.sftpMu.Unlock()
	if h.sftp != nil {
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
		c, err := sftp.NewClient(h.client, sftpOptions...)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("sftp on %s: %w (is the sftp subsystem enabled in sshd_config?)", h.name, r.err)
		}
		h.sftp = r.c
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
