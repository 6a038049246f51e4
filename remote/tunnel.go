package remote

import (
	"context"
	"fmt"
	"net"
)

// DialContext opens a TCP connection from the host to addr ("host:port" as
// the host sees it: "127.0.0.1:8000" is the host's own loopback) through
// the SSH connection, in a direct-tcpip channel, as `ssh -W` does: nothing
// runs on the host, and nothing listens on this machine. network is "tcp",
// "tcp4" or "tcp6". Its signature is net.Dialer's, so it can be an
// http.Transport's DialContext.
//
// The open is bounded by ctx and by the Host's [WithTimeout] (30 s): a
// server that never answers the channel open is an error, and a channel
// that opens after that is closed. The connection, once open, does not
// follow ctx; close it, or close the Host, to end it. Its deadlines are
// not supported (x/crypto/ssh's channels have none): bound reads with a
// context and close the connection when it ends. The server refuses the
// channel when the host cannot connect (connection refused) or when its
// sshd forbids it (AllowTcpForwarding no); the error names the host and
// addr and wraps what the server said.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("connect to %s from %s: network %q: want tcp", addr, h.name, network)
	}
	if h.startTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, h.startTimeout, fmt.Errorf("the server did not answer within %s", h.startTimeout))
		defer cancel()
	}
	conn, err := h.client.DialContext(ctx, network, addr)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			err = cause
		}
		return nil, fmt.Errorf("connect to %s from %s: %w", addr, h.name, err)
	}
	return conn, nil
}
