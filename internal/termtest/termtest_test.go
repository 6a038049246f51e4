package termtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlayRedrawsOverTheLinesBefore(t *testing.T) {
	s, err := Play([]byte("log one\nbar 1\nbar 2\n\x1b[2A\x1b[Jlog two\nbar 1.\nbar 2.\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"log one", "log two", "bar 1.", "bar 2."}, s.Lines)
	assert.Equal(t, [][]string{{"bar 1", "bar 2"}}, s.Frames)
	assert.Equal(t, 4, s.Row)
	assert.Equal(t, 0, s.Col)
}

func TestPlayRefusesWhatItDoesNotKnow(t *testing.T) {
	for out, want := range map[string]string{
		"a\x1b[3":   `escape sequence left open at 1: "\x1b[3"`,
		"a\x1b":     `escape sequence left open or unknown at 1: "\x1b"`,
		"a\x1b[31m": `unknown escape sequence "\x1b[31m" at 1`,
		"a\x1b[2J":  `unknown erase "\x1b[2J" at 1`,
		"a\bb":      `control character '\b' at 1`,
	} {
		_, err := Play([]byte(out))
		assert.EqualError(t, err, want, "%q", out)
	}
}

func TestPlayCarriageReturnOverwrites(t *testing.T) {
	s, err := Play([]byte("abc\rX\x1b[K\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"X"}, s.Lines)
}
