package remote

import "io"

// Value returns the value stored on h under key, made by mk (under a lock)
// the first time key is asked for. It is the extension point for packages
// built on remote that keep something per host without state of their own
// (package rsync keeps what the host's shell offers: tar, gzip,
// sha256sum). Remote shells are not kept here: use [Host.Shell]. Keys
// are compared like map keys: use a value of an unexported type. When h is
// closed, each value that is an [io.Closer] is closed, before the
// connection; Value then returns mk's values without storing them.
func (h *Host) Value(key any, mk func() any) any {
	h.valuesMu.Lock()
	defer h.valuesMu.Unlock()
	if v, ok := h.values[key]; ok {
		return v
	}
	v := mk()
	if h.valuesClosed {
		if c, ok := v.(io.Closer); ok {
			c.Close()
		}
		return v
	}
	if h.values == nil {
		h.values = map[any]any{}
	}
	h.values[key] = v
	return v
}

// closeValues closes the values that are io.Closers.
func (h *Host) closeValues() {
	h.valuesMu.Lock()
	vals := h.values
	h.values = nil
	h.valuesClosed = true
	h.valuesMu.Unlock()
	for _, v := range vals {
		if c, ok := v.(io.Closer); ok {
			c.Close()
		}
	}
}
