package rsync

import (
	"sync"

	"github.com/porter-deploy/porter/remote"
)

// What a host's shell offers (tar, gzip, sha256sum -z) is learnt from the
// first listing and kept with the Host (remote.Host.Value), so that a sync
// through an idle pooled shell need not ask again.

type capsKey struct{}

type capsBox struct {
	mu    sync.Mutex
	caps  hostCaps
	known bool
}

func capsOf(h *remote.Host) *capsBox {
	return h.Value(capsKey{}, func() any { return &capsBox{} }).(*capsBox)
}

func rememberCaps(h *remote.Host, caps hostCaps) {
	b := capsOf(h)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.caps, b.known = caps, true
}

func knownCaps(h *remote.Host) (hostCaps, bool) {
	b := capsOf(h)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.caps, b.known
}
