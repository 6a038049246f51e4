package porter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/porter-deploy/porter/remote"
)

// LockInfo is who holds a module's deploy lock (<path>/.porter/lock.json).
type LockInfo struct {
	By     string    `json:"by"`  // user@hostname
	PID    int       `json:"pid"` // of the deploy program
	Since  time.Time `json:"since"`
	Module string    `json:"module"`
	Host   string    `json:"host"` // the [hosts] name
}

// Age returns how long the lock has been held, as text: "unknown" when the
// lock does not say since when.
func (l *LockInfo) Age() string {
	if l.Since.IsZero() {
		return "an unknown time"
	}
	return time.Since(l.Since).Round(time.Second).String()
}

// LockedError is returned when another deploy holds a module's lock.
type LockedError struct {
	Lock   LockInfo
	Path   string // the lock file
	Module string
	Host   string // the [hosts] name, for the unlock command
}

// Error says who holds the lock, since when, and how to remove it. The
// holder, as the host's lock file names it, is shown with its control
// characters escaped.
func (e *LockedError) Error() string {
	by := oneLine(orUnknown(e.Lock.By))
	since := "an unknown time"
	if !e.Lock.Since.IsZero() {
		since = fmt.Sprintf("%s, %s ago", e.Lock.Since.Local().Format(time.TimeOnly), e.Lock.Age())
	}
	return fmt.Sprintf("%s is locked by %s since %s (pid %d): if that deploy is dead, run: %s unlock --host %s %s",
		e.Module, by, since, e.Lock.PID, progName(), e.Host, e.Module)
}

// ErrLocked is matched by errors.Is for every *LockedError.
var ErrLocked = errors.New("module locked by another deploy")

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

func lockPath(module, modulePath string) string { return statePath(module, modulePath, "lock.json") }

// acquireLock takes the module's lock on the host with an exclusive create
// (never check-then-write), and returns the function that releases it.
// The release runs even after ctx is cancelled.
func acquireLock(ctx context.Context, m *Module, who string) (release func() error, err error) {
	c, err := m.host.SFTP(ctx)
	if err != nil {
		return nil, err
	}
	p := lockPath(m.Name(), m.Path())
	dir := path.Dir(p)
	if err := c.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", dir, err)
	}
	info := LockInfo{By: who, PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Second), Module: m.Name(), Host: m.hostName}
	body, _ := json.Marshal(info)
	f, err := c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		held, rerr := ReadLock(ctx, m.host, m.Name(), m.Path())
		if rerr == nil && held != nil {
			return nil, &LockedError{Lock: *held, Path: p, Module: m.Name(), Host: m.hostName}
		}
		if errors.Is(rerr, ErrTooLarge) {
			return nil, fmt.Errorf("%w: if no deploy of %s runs, run: %s unlock --host %s %s", rerr, m.Name(), progName(), m.hostName, m.Name())
		}
		if rerr == nil {
			// The holder let go between the create and the read: try once more.
			f, err = c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		}
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
	}
	_, werr := f.Write(body)
	cerr := f.Close()
	release = func() error {
		if err := c.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unlock %s: %w", p, err)
		}
		return nil
	}
	if err := errors.Join(werr, cerr); err != nil {
		release()
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	m.log.Debug("locked", "lock", p)
	return release, nil
}

// ReadLock returns who holds the lock of the module deployed at modulePath,
// or nil when nobody does. A lock file still being written reads as held by
// an unknown deploy. A lock file larger than MaxStateFileSize is not read:
// the error wraps ErrTooLarge and names the host and the file.
func ReadLock(ctx context.Context, h *remote.Host, module, modulePath string) (*LockInfo, error) {
	c, err := h.SFTP(ctx)
	if err != nil {
		return nil, err
	}
	p := lockPath(module, modulePath)
	b, err := readStateFile(c, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s on %s: %w", p, h.Name(), err)
	}
	var l LockInfo
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&l); err != nil {
		return &LockInfo{}, nil
	}
	return &l, nil
}

// Unlock removes the lock of the module deployed at modulePath and returns
// who held it (nil when nobody did; an empty LockInfo when the lock file
// does not say, or is too large to read). Use it only when the deploy that
// held it is dead.
func Unlock(ctx context.Context, h *remote.Host, module, modulePath string) (*LockInfo, error) {
	held, err := ReadLock(ctx, h, module, modulePath)
	if errors.Is(err, ErrTooLarge) {
		held, err = &LockInfo{}, nil
	}
	if err != nil || held == nil {
		return nil, err
	}
	c, err := h.SFTP(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.Remove(lockPath(module, modulePath)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("unlock %s: %w", lockPath(module, modulePath), err)
	}
	return held, nil
}
