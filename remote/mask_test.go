package remote_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// A command with credentials in it is quoted by the errors and the debug
// log with them masked, while it runs as given: the host saw the password.
func TestFailingCommandMasksItsCredentials(t *testing.T) {
	srv := portertest.NewServer(t)
	var log bytes.Buffer
	h := srv.Dial(t, remote.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	const cmd = `DB_PASSWORD=hunter2 mysql --password "hunter2" https://bob:hunter2@db.example/ 2>/dev/null; echo 'no db' >&2; exit 3`
	const shown = `DB_PASSWORD=******** mysql --password "********" https://********@db.example/ 2>/dev/null; echo 'no db' >&2; exit 3`

	_, err := h.Run(context.Background(), cmd)
	var ee *remote.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, fmt.Sprintf("run %q on %s: exit status 3: no db", shown, srv.Address()), err.Error())
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Equal(t, cmd, ee.Cmd, "the field keeps the command as run")

	_, err = h.RunInput(context.Background(), "exit 4; TOKEN=t0ps3cret", strings.NewReader(""))
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, fmt.Sprintf(`run "exit 4; TOKEN=********" on %s: exit status 4`, srv.Address()), err.Error())

	// What the command printed is masked too: git names the URL it failed on.
	_, err = h.Run(context.Background(), `p=hunter; echo "fatal: unable to access 'https://bob:${p}2@git.example/app.git/': 403; API_TOKEN=${p}2" >&2; exit 128`)
	require.ErrorAs(t, err, &ee)
	assert.True(t, strings.HasSuffix(err.Error(), `: exit status 128: fatal: unable to access 'https://********@git.example/app.git/': 403; API_TOKEN=********`), err.Error())
	assert.NotContains(t, err.Error(), "hunter2")
	assert.Contains(t, ee.Stderr, "hunter2", "the field keeps what was printed")

	// ... before the line is cut short: no part of a secret that straddles the cut.
	_, err = h.Run(context.Background(), `p=hunter; printf '%0290d https://bob:${p}2@git.example/\n' 0 >&2; exit 1`)
	require.ErrorAs(t, err, &ee)
	assert.NotContains(t, err.Error(), "bob:hun")
	assert.Contains(t, err.Error(), "https://****")

	// A failure before the command runs quotes it masked too.
	_, err = h.Run(context.Background(), "TOKEN=t0ps3cret\x00")
	require.ErrorIs(t, err, remote.ErrNUL)
	assert.Contains(t, err.Error(), `run "TOKEN=********`)
	assert.NotContains(t, err.Error(), "t0ps3cret")

	logged := log.String()
	assert.Contains(t, logged, "cmd="+fmt.Sprintf("%q", shown))
	assert.Contains(t, logged, `cmd="exit 4; TOKEN=********"`)
	assert.NotContains(t, logged, "hunter2")
	assert.NotContains(t, logged, "t0ps3cret")
}
