package porter

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/porter-deploy/porter/scm"
)

// sourceCache holds a deploy's checkouts: each module's source is fetched
// once and shared, read-only, by every host it goes to. A module has one
// working copy, so two hosts that want different sources of it (a per-host
// [scm] or [release] override) are an error, not a race.
type sourceCache struct {
	mu   sync.Mutex
	mods map[string]*sharedSource
}

type sharedSource struct {
	key  string // what was asked for: url and release
	host string // the first host that asked
	once sync.Once
	co   scm.Checkout
	err  error
}

func newSourceCache() *sourceCache { return &sourceCache{mods: map[string]*sharedSource{}} }

// sourceKey is what decides a module's checkout on its host.
func (m *Module) sourceKey() string {
	rel := m.Release()
	return strings.Join([]string{m.Section("scm").String("url", ""), m.release,
		rel.String("branch", ""), rel.String("tag", ""), rel.String("commit", ""), rel.String("version", "")}, "\x00")
}

func (c *sourceCache) get(ctx context.Context, m *Module) (scm.Checkout, error) {
	s, err := c.claim(m)
	if err != nil {
		return scm.Checkout{}, err
	}
	s.once.Do(func() { s.co, s.err = m.fetchSource(ctx) })
	return s.co, s.err
}

// claim returns m's shared source, or the error of a host that wants
// another source of the same module.
func (c *sourceCache) claim(m *Module) (*sharedSource, error) {
	key := m.sourceKey()
	c.mu.Lock()
	s, ok := c.mods[m.Name()]
	if !ok {
		s = &sharedSource{key: key, host: m.hostName}
		c.mods[m.Name()] = s
	}
	c.mu.Unlock()
	if s.key != key {
		return nil, fmt.Errorf("%s: hosts %s and %s want different sources of %s (an [scm] or [release] override), and a module has one working copy: deploy them separately",
			m.def.ini, s.host, m.hostName, m.Name())
	}
	return s, nil
}
