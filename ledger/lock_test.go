package ledger_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
)

func place(t *testing.T) ledger.Place {
	t.Helper()
	srv := portertest.NewServer(t)
	return ledger.Place{Host: srv.Dial(t), Module: "app", Path: filepath.Join(t.TempDir(), "app")}
}

func writeLock(t *testing.T, p ledger.Place, l ledger.LockInfo) []byte {
	t.Helper()
	b, err := json.Marshal(l)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(p.Dir(), 0o755))
	require.NoError(t, os.WriteFile(p.File("lock.json"), b, 0o644))
	return b
}

func readLock(t *testing.T, p ledger.Place) ledger.LockInfo {
	t.Helper()
	b, err := os.ReadFile(p.File("lock.json"))
	require.NoError(t, err)
	var l ledger.LockInfo
	require.NoError(t, json.Unmarshal(b, &l))
	return l
}

// deadPID returns the pid of a process of this machine that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

var ctx = context.Background()

func TestLockIsExclusiveAndNamesItsHolder(t *testing.T) {
	p := place(t)
	l, err := p.Lock(ctx, ledger.Holder{By: "alice@laptop", Host: "prod"})
	require.NoError(t, err)
	assert.Nil(t, l.TookOver)
	info := readLock(t, p)
	machine, boot := ledger.ThisMachine()
	assert.Equal(t, "alice@laptop", info.By)
	assert.Equal(t, os.Getpid(), info.PID)
	assert.Equal(t, machine, info.Machine)
	assert.Equal(t, boot, info.BootID)
	assert.Equal(t, int(ledger.DefaultLease/time.Second), info.Lease)
	assert.Len(t, info.Token, 32)

	// This process is alive: a second deploy fails at once, naming it.
	_, err = p.Lock(ctx, ledger.Holder{By: "bob@desk", Host: "prod"})
	var le *ledger.LockedError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, ledger.ErrLocked)
	assert.Equal(t, info, le.Lock)
	assert.Regexp(t, `^app is locked by alice@laptop \(pid \d+ on .+\) since \d\d:\d\d:\d\d, \d+s ago; its lease runs until \d\d:\d\d:\d\d unless renewed$`, err.Error())
	assert.Equal(t, info, readLock(t, p), "a deploy that did not get the lock leaves it alone")

	require.NoError(t, l.Release(ctx))
	assert.NoFileExists(t, p.File("lock.json"))
	held, err := p.ReadLock(ctx)
	require.NoError(t, err)
	assert.Nil(t, held)
}

func TestLockTakesOverAHolderThatIsProvablyGone(t *testing.T) {
	machine, boot := ledger.ThisMachine()
	now := time.Now().UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name string
		held ledger.LockInfo
		why  string // "" = not gone: locked
	}{
		{"dead process here", ledger.LockInfo{By: "a@x", PID: deadPID(t), Machine: machine, BootID: boot, Since: now, Renewed: now, Lease: 120, Token: "t1"},
			"on this machine is gone"},
		{"machine restarted", ledger.LockInfo{By: "a@x", PID: os.Getpid(), Machine: machine, BootID: "an-earlier-boot", Since: now, Renewed: now, Lease: 120, Token: "t2"},
			"restarted since"},
		{"lease expired elsewhere", ledger.LockInfo{By: "a@x", PID: 1, Machine: "elsewhere", Since: now.Add(-time.Hour), Renewed: now.Add(-10 * time.Minute), Lease: 120, Token: "t3"},
			"its lease expired at"},
		{"older porter, dead process here", ledger.LockInfo{By: "a@" + machine, PID: deadPID(t), Since: now}, "on this machine is gone"},
		{"live process here", ledger.LockInfo{By: "a@x", PID: os.Getppid(), Machine: machine, BootID: boot, Since: now, Renewed: now.Add(-time.Hour), Lease: 0, Token: "t4"}, ""},
		{"an earlier deploy of this process", ledger.LockInfo{By: "a@x", PID: os.Getpid(), Machine: machine, BootID: boot, Since: now, Renewed: now, Lease: 120, Token: "t7"},
			"an earlier deploy of this process"},
		{"lease running elsewhere", ledger.LockInfo{By: "a@x", PID: 1, Machine: "elsewhere", Since: now.Add(-time.Hour), Renewed: now.Add(-time.Minute), Lease: 120, Token: "t5"}, ""},
		{"lease within the clock skew", ledger.LockInfo{By: "a@x", PID: 1, Machine: "elsewhere", Since: now.Add(-time.Hour), Renewed: now.Add(-150 * time.Second), Lease: 120, Token: "t6"}, ""},
		{"older porter elsewhere", ledger.LockInfo{By: "a@elsewhere", PID: 1, Since: now.Add(-24 * time.Hour)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "machine restarted" && boot == "" {
				t.Skip("no boot id on this machine")
			}
			p := place(t)
			writeLock(t, p, tc.held)
			l, err := p.Lock(ctx, ledger.Holder{By: "bob@desk"})
			if tc.why == "" {
				require.ErrorIs(t, err, ledger.ErrLocked)
				assert.Equal(t, tc.held, readLock(t, p))
				return
			}
			require.NoError(t, err)
			require.NotNil(t, l.TookOver)
			assert.Equal(t, tc.held, *l.TookOver)
			assert.Contains(t, l.TookOverWhy, tc.why)
			assert.Equal(t, "bob@desk", readLock(t, p).By)
			entries, _ := os.ReadDir(p.Dir())
			assert.Len(t, entries, 1, "nothing left of the takeover but the lock")
			require.NoError(t, l.Release(ctx))
		})
	}
}

// TestTwoDeploysTakingOverAtOnce: of two deploys that find the same gone
// holder, one takes the lock and the other is told who has it now.
func TestTwoDeploysTakingOverAtOnce(t *testing.T) {
	p := place(t)
	srv2 := ledger.Place{Host: p.Host, Module: p.Module, Path: p.Path}
	machine, boot := ledger.ThisMachine()
	for range 20 {
		writeLock(t, p, ledger.LockInfo{By: "gone", PID: deadPID(t), Machine: machine, BootID: boot, Token: "dead"})
		var wg sync.WaitGroup
		locks := make([]*ledger.Lock, 2)
		errs := make([]error, 2)
		for i, pl := range []ledger.Place{p, srv2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				locks[i], errs[i] = pl.Lock(ctx, ledger.Holder{By: []string{"a", "b"}[i]})
			}()
		}
		wg.Wait()
		won := 0
		for i := range locks {
			if errs[i] == nil {
				won++
				assert.Equal(t, locks[i].Info().Token, readLock(t, p).Token)
			} else {
				assert.ErrorIs(t, errs[i], ledger.ErrLocked)
			}
		}
		require.Equal(t, 1, won, "%v", errs)
		for _, l := range locks {
			if l != nil {
				require.NoError(t, l.Release(ctx))
			}
		}
		entries, _ := os.ReadDir(p.Dir())
		assert.Empty(t, entries)
	}
}

// TestReleaseNeverRemovesALockItDoesNotHold is Deployer's PR #958 case:
// deploy A's lease expired and B took the lock over; A ending must leave
// B's lock in place.
func TestReleaseNeverRemovesALockItDoesNotHold(t *testing.T) {
	p := place(t)
	a, err := p.Lock(ctx, ledger.Holder{By: "a"})
	require.NoError(t, err)
	// B takes over (A's lease as if expired on another machine).
	mine := readLock(t, p)
	b := writeLock(t, p, ledger.LockInfo{By: "b", PID: 1, Machine: "elsewhere", Token: "b's", Renewed: time.Now().UTC(), Lease: 120})

	err = a.Renew(ctx)
	require.ErrorIs(t, err, ledger.ErrLockLost)
	assert.ErrorContains(t, err, "b (pid 1 on elsewhere) now holds it")
	require.ErrorIs(t, a.Err(), ledger.ErrLockLost)
	err = a.Release(ctx)
	require.ErrorIs(t, err, ledger.ErrLockLost)
	got, rerr := os.ReadFile(p.File("lock.json"))
	require.NoError(t, rerr)
	assert.Equal(t, b, got, "B's lock stays")
	assert.NotEqual(t, mine.Token, readLock(t, p).Token)
}

func TestRenewMovesTheLease(t *testing.T) {
	p := place(t)
	l, err := p.Lock(ctx, ledger.Holder{By: "a", Lease: time.Hour})
	require.NoError(t, err)
	// Put the renewal back in time, as if an hour had passed.
	info := readLock(t, p)
	info.Renewed = info.Renewed.Add(-time.Hour)
	writeLock(t, p, info)
	require.NoError(t, l.Renew(ctx))
	got := readLock(t, p)
	assert.Equal(t, info.Token, got.Token)
	assert.WithinDuration(t, time.Now(), got.Renewed, 2*time.Second)
	assert.Equal(t, 3600, got.Lease)
	require.NoError(t, l.Release(ctx))
}

// TestReleaseOverALostConnectionSaysWhatHappensNext.
func TestReleaseOverALostConnectionSaysWhatHappensNext(t *testing.T) {
	p := place(t)
	l, err := p.Lock(ctx, ledger.Holder{By: "a"})
	require.NoError(t, err)
	require.NoError(t, p.Host.Close())
	err = l.Release(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "release the lock "+p.File("lock.json"))
	assert.Contains(t, err.Error(), "it stays until the next deploy takes it over: at once from this machine once this process has ended")
	assert.FileExists(t, p.File("lock.json"))
}

func TestOversizedLockIsHeldByAnUnknownDeploy(t *testing.T) {
	p := place(t)
	require.NoError(t, os.MkdirAll(p.Dir(), 0o755))
	require.NoError(t, os.WriteFile(p.File("lock.json"), make([]byte, ledger.MaxFileSize+1), 0o644))
	_, err := p.Lock(ctx, ledger.Holder{By: "a"})
	var le *ledger.LockedError
	require.ErrorAs(t, err, &le)
	require.ErrorIs(t, le.Err, ledger.ErrTooLarge)
	held, err := p.Unlock(ctx)
	require.NoError(t, err)
	assert.Equal(t, &ledger.LockInfo{}, held)
	assert.NoFileExists(t, p.File("lock.json"))
}
