package systemd

import (
	"context"
	"sync"
	"time"

	"github.com/porter-deploy/porter"
)

// UnitsOf returns the units a section names, with their suffixes.
func UnitsOf(s porter.Settings) ([]string, error) {
	c, err := readConfig(s)
	return c.units, err
}

// FakeClock is a clock for the wait of the plugin's handlers that moves
// only when the wait sleeps: each Sleep returns at once, d later.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// WithFakeClock returns ctx with a new FakeClock for the plugin's waits,
// which the deploy passes to the handlers.
func WithFakeClock(ctx context.Context) (context.Context, *FakeClock) {
	c := &FakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return context.WithValue(ctx, clockKey{}, clock(c)), c
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the clock d on and returns ctx's error, if any.
func (c *FakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return ctx.Err()
}

// Sleeps returns how long each sleep was, in order.
func (c *FakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
