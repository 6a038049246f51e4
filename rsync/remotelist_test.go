package rsync

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A first answer slower than farRTT is asked again: the faster of the two
// decides whether the host is far, so that one request held up by a busy
// CPU does not start a login shell to race the walk. A near first answer
// asks nothing more.
func TestConfirmRTT(t *testing.T) {
	asked := 0
	again := func(d time.Duration) func() time.Duration {
		return func() time.Duration { asked++; return d }
	}
	assert.Equal(t, time.Millisecond, confirmRTT(time.Millisecond, again(time.Hour)))
	assert.Equal(t, 0, asked, "a near host is asked once")
	assert.Equal(t, 2*time.Millisecond, confirmRTT(40*time.Millisecond, again(2*time.Millisecond)))
	assert.Equal(t, 30*time.Millisecond, confirmRTT(30*time.Millisecond, again(50*time.Millisecond)))
	assert.Equal(t, 2, asked)
	assert.Greater(t, confirmRTT(30*time.Millisecond, again(50*time.Millisecond)), farRTT, "far twice: far")
}
