package units

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRateAndBytes(t *testing.T) {
	assert.Equal(t, "2.5 MB/s", Rate(2.5e6))
	assert.Equal(t, "12.0 KB/s", Rate(12e3))
	assert.Equal(t, "900 B/s", Rate(900))
	assert.Equal(t, "40.0 MB", Bytes(40e6))
	assert.Equal(t, "1.5 KB", Bytes(1500))
	assert.Equal(t, "0 B", Bytes(0))
}

func TestSpeed(t *testing.T) {
	bps, left, ok := Speed(10e6, 40e6, time.Second)
	assert.True(t, ok)
	assert.Equal(t, 10e6, bps)
	assert.Equal(t, 3*time.Second, left)
	_, left, _ = Speed(399, 400, time.Second)
	assert.Equal(t, 2506265*time.Nanosecond, left, "a little left is not none")

	_, left, ok = Speed(40e6, 40e6, 4*time.Second)
	assert.True(t, ok)
	assert.Zero(t, left, "nothing left")

	_, _, ok = Speed(0, 40e6, time.Second)
	assert.False(t, ok, "nothing sent yet")
	_, _, ok = Speed(10, 40, 0)
	assert.False(t, ok, "no time passed")
}
