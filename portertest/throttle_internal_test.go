package portertest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Throttle's pace, on a clock of the test's: bytes wait behind those read
// before them, and a network that was idle sends no faster after.
func TestThrottlePacesWhatClientsSend(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	f := &faults{}
	assert.Zero(t, f.throttle(1<<20, t0), "no limit")
	f.rate = 1000
	assert.Equal(t, 500*time.Millisecond, f.throttle(500, t0))
	assert.Equal(t, time.Second, f.throttle(500, t0), "behind the first 500")
	assert.Equal(t, 500*time.Millisecond, f.throttle(250, t0.Add(750*time.Millisecond)))
	assert.Equal(t, 100*time.Millisecond, f.throttle(100, t0.Add(5*time.Second)), "idle time is not saved up")
}
