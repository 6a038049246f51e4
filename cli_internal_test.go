package porter

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/ledger"
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
	err := &ledger.CorruptRecordError{Path: "/srv/a/.porter/a/state.json", Host: "u@h", Err: errors.New("field \x1b[2J\r")}
	assert.Equal(t, `/srv/a/.porter/a/state.json on u@h is not a porter record (field \x1b[2J\x0d): treating the module as never deployed; the next deploy replaces it`, err.Error())
}

func TestCLIAddsTheUnlockHintToALockedError(t *testing.T) {
	var errb bytes.Buffer
	r := (&CLI{Args: []string{}, Stderr: &errb}).defaults()
	r.host = "prod"
	err := fmt.Errorf("deploy app to prod: %w", &ledger.LockedError{Module: "app", Lock: ledger.LockInfo{By: "a@b", PID: 7}})
	assert.Equal(t, ExitLocked, r.exitStatus(err))
	assert.Regexp(t, `^\S+: deploy app to prod: app is locked by a@b \(pid 7\) since an unknown time: if that deploy is dead, run: \S+ unlock --host prod app\n$`, errb.String())
	assert.NotContains(t, (&ledger.LockedError{Module: "app"}).Error(), "unlock", "the library's error has no CLI words")
}

func TestCLIHintsForLibraryErrors(t *testing.T) {
	r := (&CLI{Args: []string{}}).defaults()
	_, err := LoadProject(t.TempDir())
	require.ErrorIs(t, err, ErrNotAProject)
	assert.NotContains(t, err.Error(), "--project", "no CLI words in the library's error")
	assert.Contains(t, r.hint(err), "pass --project DIR, or create one with")
	err = fmt.Errorf("x: %w", ErrNoConfig)
	assert.Equal(t, ": pass --config NAME", r.hint(err))
}

// The re-run line is made from the parsed flags, not by editing the
// arguments: a repeated --host, or a value that is literally "--host",
// cannot leak the old selection into it.
func TestRerunCommandFromTheParsedFlags(t *testing.T) {
	fs := pflag.NewFlagSet("deploy", pflag.ContinueOnError)
	fs.String("host", "", "")
	fs.String("config", "", "")
	fs.String("msg", "", "")
	fs.Bool("dry", false, "")
	require.NoError(t, fs.Parse([]string{"--host", "staging", "--config", "c", "--msg", "--host", "--dry", "--host=prod"}))
	assert.Equal(t, progName()+" --project '/my project' deploy --host=web2,deploy@web3:2222 --config=c --dry=true --msg=--host",
		rerunCommand([]string{"--project", "/my project"}, fs, "web2,deploy@web3:2222"))
}

func TestExitLockedOnlyWhenLocksAloneStoppedIt(t *testing.T) {
	locked := fmt.Errorf("deploy app to web1: %w", &ledger.LockedError{Module: "app"})
	other := errors.New("deploy app to web2: deploy-start: migration failed")
	for name, tc := range map[string]struct {
		err  error
		want int
	}{
		"one host locked":                  {locked, ExitLocked},
		"fleet, every failure a lock":      {&FleetError{Hosts: 3, Failed: []string{"web1"}, Errs: []error{locked}, NotStarted: []string{"web2", "web3"}}, ExitLocked},
		"fleet, a lock and a failure":      {&FleetError{Hosts: 2, Failed: []string{"web1", "web2"}, Errs: []error{locked, other}}, ExitError},
		"locked, and then the undo failed": {also(locked, other), ExitError},
		"no lock":                          {other, ExitError},
	} {
		var errb bytes.Buffer
		r := (&CLI{Args: []string{}, Stderr: &errb}).defaults()
		assert.Equal(t, tc.want, r.exitStatus(tc.err), name)
	}
}
