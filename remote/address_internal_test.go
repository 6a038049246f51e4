package remote

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitAddress(t *testing.T) {
	for in, want := range map[string]struct {
		user, host string
		port       int
	}{
		"host":              {"", "host", 0},
		"host:2222":         {"", "host", 2222},
		"u@host":            {"u", "host", 0},
		"u@host:22":         {"u", "host", 22},
		"me@corp@host:2200": {"me@corp", "host", 2200},
		"[::1]:2222":        {"", "::1", 2222},
		"u@[::1]":           {"u", "::1", 0},
		"fe80::1":           {"", "fe80::1", 0},
	} {
		u, h, p, err := splitAddress(in)
		require.NoError(t, err, in)
		assert.Equal(t, want.user, u, in)
		assert.Equal(t, want.host, h, in)
		assert.Equal(t, want.port, p, in)
	}
}

func TestAlgorithmsFor(t *testing.T) {
	assert.Equal(t, []string{"ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"},
		algorithmsFor([]string{"ssh-rsa", "ssh-ed25519"}))
	assert.Nil(t, algorithmsFor(nil))
}
