package remote_test

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/portertest"
)

type valueKey struct{}

type closer struct{ closed atomic.Int32 }

func (c *closer) Close() error { c.closed.Add(1); return nil }

func TestValue(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	made := 0
	mk := func() any { made++; return &closer{} }
	v := h.Value(valueKey{}, mk).(*closer)
	assert.Same(t, v, h.Value(valueKey{}, mk), "made once, then stored")
	assert.Equal(t, 1, made)
	other := h.Value("other", func() any { return 42 })
	assert.Equal(t, 42, other)

	require.NoError(t, h.Close())
	assert.Equal(t, int32(1), v.closed.Load(), "closed with the host")
	late := h.Value(valueKey{}, mk).(*closer)
	assert.NotSame(t, v, late)
	assert.Equal(t, int32(1), late.closed.Load(), "a value made after Close is closed at once")
	require.NoError(t, h.Close())
	assert.Equal(t, int32(1), v.closed.Load(), "once")
}
