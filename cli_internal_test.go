package porter

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCLIPrintsErrorsWithControlCharactersEscaped(t *testing.T) {
	var errb bytes.Buffer
	r := (&CLI{Args: []string{}, Stderr: &errb}).defaults()
	// An error no layer below escaped: an SSH server's disconnect message,
	// a plugin's own error type.
	assert.Equal(t, ExitError, r.exitStatus(errors.New("dial: the server says \x1b[2J\x1b[31m\rok")))
	assert.Equal(t, progName()+`: dial: the server says \x1b[2J\x1b[31m\x0dok`+"\n", errb.String())
}

func TestOneLineEscapesControlsTabsAndNewlines(t *testing.T) {
	assert.Equal(t, `a\x1b[2J\x0d\tb\nc\u202e\xff`, oneLine("a\x1b[2J\r\tb\nc\u202e\xff"))
	assert.Equal(t, "alice@laptop", oneLine("alice@laptop"))
}

func TestCorruptRecordErrorEscapesWhatTheHostWrote(t *testing.T) {
	err := &CorruptRecordError{Path: "/srv/a/.porter/a/state.json", Host: "u@h", Err: errors.New("field \x1b[2J\r")}
	assert.Equal(t, `/srv/a/.porter/a/state.json on u@h is not a porter record (field \x1b[2J\x0d): treating the module as never deployed; the next deploy replaces it`, err.Error())
}
