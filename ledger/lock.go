package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/remote"
)

// DefaultLease is how long a deploy's lock holds without being renewed;
// the deploy renews it every quarter of that.
const DefaultLease = 2 * time.Minute

// ClockSkew is how much the clocks of two deploying machines may differ:
// a lease has expired for another machine once it was not renewed for its
// length plus ClockSkew.
const ClockSkew = time.Minute

// LockInfo is who holds a module's deploy lock (lock.json): who, where,
// since when, and until when its lease runs.
type LockInfo struct {
	By      string    `json:"by"`  // user@hostname
	PID     int       `json:"pid"` // of the deploy program
	Since   time.Time `json:"since"`
	Module  string    `json:"module"`
	Host    string    `json:"host"`              // the [hosts] name
	Machine string    `json:"machine,omitempty"` // the deploying machine's host name
	BootID  string    `json:"boot_id,omitempty"` // the deploying machine's boot (Linux), to tell a restart
	Token   string    `json:"token,omitempty"`   // random, this hold's own
	Renewed time.Time `json:"renewed,omitempty"` // last renewal, by the holder's clock
	Lease   int       `json:"lease_seconds,omitempty"`
}

// Age returns how long the lock has been held, as text: "an unknown time"
// when the lock does not say since when.
func (l *LockInfo) Age() string {
	if l.Since.IsZero() {
		return "an unknown time"
	}
	return time.Since(l.Since).Round(time.Second).String()
}

// Expires returns when the lease ends unless renewed (zero when the lock
// has no lease: a lock of an older porter).
func (l *LockInfo) Expires() time.Time {
	if l.Lease <= 0 {
		return time.Time{}
	}
	at := l.Renewed
	if at.IsZero() {
		at = l.Since
	}
	return at.Add(time.Duration(l.Lease) * time.Second)
}

// holder describes the holder for a message, escaped: "u@h (pid 7 on m)".
func (l *LockInfo) holder() string {
	by := l.By
	if by == "" {
		by = "an unknown deploy"
	}
	s := OneLine(by)
	where := ""
	if l.Machine != "" {
		where = " on " + OneLine(l.Machine)
	}
	if l.PID != 0 || where != "" {
		s += fmt.Sprintf(" (pid %d%s)", l.PID, where)
	}
	return s
}

// OneLine returns text that comes from a host (a record's field, a lock's
// holder) made safe to show on one line of a terminal: its control
// characters escaped as remote.Printable does, and tabs and newlines too,
// so that it can neither act on the terminal nor add a line or a column.
func OneLine(s string) string { return lineBreaks.Replace(remote.Printable(s)) }

var lineBreaks = strings.NewReplacer("\t", `\t`, "\n", `\n`)

// LockedError is returned when another deploy holds a module's lock and
// is not provably gone.
type LockedError struct {
	Lock   LockInfo
	Path   string // the lock file
	Module string
	Host   string // the address of the host
	Err    error  // why the lock file could not be read, if it could not (it is then held by an unknown deploy)
}

// Error says who holds the lock, since when, and until when its lease
// runs. What the host's lock file says is shown escaped.
func (e *LockedError) Error() string {
	since := "an unknown time"
	if !e.Lock.Since.IsZero() {
		since = fmt.Sprintf("%s, %s ago", e.Lock.Since.Local().Format(time.TimeOnly), e.Lock.Age())
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: lock %s on %s: %v: taken for held by an unknown deploy", e.Module, e.Path, e.Host, e.Err)
	}
	s := fmt.Sprintf("%s is locked by %s since %s", e.Module, e.Lock.holder(), since)
	if exp := e.Lock.Expires(); !exp.IsZero() {
		s += fmt.Sprintf("; its lease runs until %s unless renewed", exp.Local().Format(time.TimeOnly))
	}
	return s
}

// ErrLocked is matched by errors.Is for every *LockedError.
var ErrLocked = errors.New("module locked by another deploy")

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// ErrLockLost is wrapped by the error of Lock.Release (and Lock.Err) when
// the lock is no longer this deploy's: another deploy took it over (its
// lease had expired) or removed it. The lock is then left alone.
var ErrLockLost = errors.New("the lock is no longer this deploy's")

// Holder is who takes a lock.
type Holder struct {
	By    string        // user@hostname
	Host  string        // the [hosts] name
	Lease time.Duration // default DefaultLease
}

// A Lock is a module's deploy lock, held. It renews its lease until
// Release.
type Lock struct {
	place Place
	c     *sftp.Client
	lease time.Duration

	// TookOver is the lock of a deploy that was provably gone, which this
	// one replaced (nil when the lock was free); TookOverWhy says how it
	// was known to be gone.
	TookOver    *LockInfo
	TookOverWhy string

	mu      sync.Mutex
	info    LockInfo
	lost    error
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// Info returns what the lock file says of this hold.
func (l *Lock) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Err returns why the lock was lost while held (wrapping ErrLockLost), or
// nil.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// held is the registry of the locks this process holds, by token: a lock
// of this pid whose token is not in it was left by a deploy of this
// process that has ended (its connection was lost before the release).
var held sync.Map

func heldHere(token string) bool { _, ok := held.Load(token); return ok }

// self is this machine and process, as a lock records them.
type self struct {
	machine, bootID string
	pid             int
}

func thisProcess() self {
	m, _ := os.Hostname()
	return self{machine: m, bootID: bootID(), pid: os.Getpid()}
}

// Lock takes the module's deploy lock with an exclusive create (never
// check-then-write) and renews its lease until Release. A lock held by a
// deploy that is provably gone is taken over: one of this machine whose
// process is dead or whose machine restarted since, or one whose lease
// expired (not renewed for its length plus ClockSkew); the Lock's TookOver
// says which. Any other holder makes it fail at once with a *LockedError.
func (p Place) Lock(ctx context.Context, h Holder) (*Lock, error) {
	c, err := p.mkdir(ctx)
	if err != nil {
		return nil, err
	}
	me := thisProcess()
	lease := h.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	now := time.Now().UTC().Truncate(time.Second)
	info := LockInfo{By: h.By, PID: me.pid, Since: now, Module: p.Module, Host: h.Host, Machine: me.machine,
		BootID: me.bootID, Token: newToken(), Renewed: now, Lease: int(lease / time.Second)}
	l := &Lock{place: p, c: c, lease: lease, info: info, stop: make(chan struct{}), stopped: make(chan struct{})}
	f := p.File("lock.json")
	// Known as this process's before the file exists: another deploy of
	// this process that reads it must not take it for a dead one's.
	held.Store(info.Token, struct{}{})
	ok := false
	defer func() {
		if !ok {
			held.Delete(info.Token)
		}
	}()
	for attempt := 0; ; attempt++ {
		err := l.create()
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) && !isFailure(err) || attempt >= 2 {
			return nil, fmt.Errorf("lock %s on %s: %w", f, p.hostName(), err)
		}
		raw, held, rerr := p.readLock(c)
		if errors.Is(rerr, fs.ErrNotExist) {
			continue // the holder let go between the create and the read
		}
		if errors.Is(rerr, ErrTooLarge) {
			// Not porter's lock, but nothing may deploy past it.
			return nil, &LockedError{Path: f, Module: p.Module, Host: p.hostName(), Err: rerr}
		}
		if rerr != nil {
			return nil, fmt.Errorf("lock %s on %s: %w", f, p.hostName(), rerr)
		}
		why := gone(held, me, time.Now())
		if why == "" {
			return nil, &LockedError{Lock: *held, Path: f, Module: p.Module, Host: p.hostName()}
		}
		if err := l.takeOver(raw); err != nil {
			if errors.Is(err, ErrLocked) {
				// Someone else was faster: name who holds it now.
				if _, now, rerr := p.readLock(c); rerr == nil {
					return nil, &LockedError{Lock: *now, Path: f, Module: p.Module, Host: p.hostName()}
				}
			}
			return nil, fmt.Errorf("lock %s on %s: take over the lock of %s (%s): %w", f, p.hostName(), held.holder(), why, err)
		}
		l.TookOver, l.TookOverWhy = held, why
		break
	}
	ok = true
	go l.renewLoop()
	return l, nil
}

// isFailure reports an SFTP failure status: servers of protocol version 3
// answer an exclusive create of an existing file with a bare failure.
func isFailure(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure
}

// create writes the lock file with an exclusive create.
func (l *Lock) create() error {
	f := l.place.File("lock.json")
	fh, err := l.c.OpenFile(f, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		if _, serr := l.c.Lstat(f); serr == nil {
			return fs.ErrExist
		}
		return err
	}
	body, _ := json.Marshal(l.info)
	_, werr := fh.Write(body)
	if err := errors.Join(werr, fh.Close()); err != nil {
		l.c.Remove(f)
		return err
	}
	return nil
}

// takeOver replaces the lock file whose bytes are raw (a gone holder's)
// with this one: it renames the file aside, checks it is still the one
// judged gone (else puts it back: another deploy got there first), removes
// it, then creates its own exclusively. A rename is atomic: of two deploys
// taking over at once, one moves the gone holder's file, and the other
// finds either nothing or the winner's lock.
func (l *Lock) takeOver(raw []byte) error {
	f := l.place.File("lock.json")
	aside := f + ".takeover-" + l.info.Token
	if err := l.c.Rename(f, aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return l.createOrLocked()
		}
		return err
	}
	moved, err := readFile(l.c, aside)
	if err != nil || !bytes.Equal(moved, raw) {
		// Not the gone holder's: put it back.
		if rerr := l.c.Rename(aside, f); rerr != nil {
			return fmt.Errorf("%w; and the lock moved aside could not be put back (%s): %w", ErrLocked, aside, rerr)
		}
		return ErrLocked
	}
	if err := l.c.Remove(aside); err != nil {
		return err
	}
	return l.createOrLocked()
}

func (l *Lock) createOrLocked() error {
	err := l.create()
	if errors.Is(err, fs.ErrExist) {
		return ErrLocked
	}
	return err
}

// gone says how the holder of held is known to be gone, or "" when it may
// be alive.
func gone(held *LockInfo, me self, now time.Time) string {
	machine := held.Machine
	if machine == "" {
		// A lock of an older porter: user@hostname.
		if i := strings.LastIndexByte(held.By, '@'); i >= 0 {
			machine = held.By[i+1:]
		}
	}
	if machine != "" && machine == me.machine {
		switch {
		case held.BootID != "" && me.bootID != "" && held.BootID != me.bootID:
			return fmt.Sprintf("this machine (%s) restarted since it was taken", OneLine(machine))
		case held.PID > 0 && held.PID != me.pid && !processAlive(held.PID):
			return fmt.Sprintf("its process %d on this machine is gone", held.PID)
		case held.PID == me.pid && held.Token != "" && !heldHere(held.Token):
			return "it was taken by an earlier deploy of this process, which lost its connection before it could release it"
		}
	}
	if exp := held.Expires(); !exp.IsZero() && now.After(exp.Add(ClockSkew)) {
		return fmt.Sprintf("its lease expired at %s, not renewed since", exp.Local().Format(time.DateTime))
	}
	return ""
}

// readLock reads the lock file: its bytes and what they say. A lock file
// that is empty or not JSON (being written) reads as held by an unknown
// deploy, with no lease.
func (p Place) readLock(c *sftp.Client) ([]byte, *LockInfo, error) {
	b, err := readFile(c, p.File("lock.json"))
	if err != nil {
		return nil, nil, err
	}
	var l LockInfo
	if json.Unmarshal(b, &l) != nil {
		return b, &LockInfo{}, nil
	}
	return b, &l, nil
}

// renewLoop renews the lease every quarter of it until Release.
func (l *Lock) renewLoop() {
	defer close(l.stopped)
	t := time.NewTicker(l.lease / 4)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.lease/4)
			err := l.renew(ctx)
			cancel()
			if errors.Is(err, ErrLockLost) {
				return
			}
		}
	}
}

// renew rewrites the lock file with a new renewal time, if it is still
// this deploy's.
func (l *Lock) renew(ctx context.Context) error {
	if err := l.stillMine(); err != nil {
		return err
	}
	l.mu.Lock()
	l.info.Renewed = time.Now().UTC().Truncate(time.Second)
	body, _ := json.Marshal(l.info)
	l.mu.Unlock()
	return sftpx.WriteAtomic(ctx, l.c, l.place.File("lock.json"), bytes.NewReader(body), 0o644, time.Time{})
}

// stillMine checks that the lock file is this hold's; when it is not, the
// lock is lost.
func (l *Lock) stillMine() error {
	_, held, err := l.place.readLock(l.c)
	var lost error
	switch {
	case errors.Is(err, fs.ErrNotExist):
		lost = fmt.Errorf("%w: %s was removed", ErrLockLost, l.place.File("lock.json"))
	case err != nil:
		return err
	case held.Token != l.info.Token:
		lost = fmt.Errorf("%w: %s now holds it", ErrLockLost, held.holder())
	default:
		return nil
	}
	l.mu.Lock()
	l.lost = lost
	l.mu.Unlock()
	return lost
}

// Release stops the renewal and removes the lock file if it is still this
// deploy's: a lock another deploy took over is never removed (the error
// wraps ErrLockLost). It works after ctx is cancelled (give it a context
// with a deadline). When the host cannot be reached, the error says what
// the next deploy will do.
func (l *Lock) Release(ctx context.Context) error {
	l.once.Do(func() { close(l.stop) })
	<-l.stopped
	defer held.Delete(l.info.Token) // released or not, this hold has ended
	f := l.place.File("lock.json")
	err := l.stillMine()
	if err == nil {
		err = l.c.Remove(f)
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	if err == nil || errors.Is(err, ErrLockLost) {
		return err
	}
	exp := time.Now().Add(l.lease)
	return fmt.Errorf("release the lock %s on %s: %w: it stays until the next deploy takes it over: at once from this machine once this process has ended, from another machine once its lease ends (%s)",
		f, l.place.hostName(), err, exp.Local().Format(time.DateTime))
}

// ReadLock returns who holds the module's lock, or nil when nobody does. A
// lock file still being written reads as held by an unknown deploy. A lock
// file larger than MaxFileSize is not read: the error wraps ErrTooLarge
// and names the host and the file.
func (p Place) ReadLock(ctx context.Context) (*LockInfo, error) {
	c, err := p.sftp(ctx)
	if err != nil {
		return nil, err
	}
	_, l, err := p.readLock(c)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s on %s: %w", p.File("lock.json"), p.hostName(), err)
	}
	return l, nil
}

// Unlock removes the module's lock whoever holds it and returns who did
// (nil when nobody did; an empty LockInfo when the lock file does not say,
// or is too large to read). Use it only when the deploy that held it is
// dead and could not be told so (a lock of an older porter, without a
// lease).
func (p Place) Unlock(ctx context.Context) (*LockInfo, error) {
	held, err := p.ReadLock(ctx)
	if errors.Is(err, ErrTooLarge) {
		held, err = &LockInfo{}, nil
	}
	if err != nil || held == nil {
		return nil, err
	}
	c, err := p.sftp(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.Remove(p.File("lock.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("unlock %s on %s: %w", p.File("lock.json"), p.hostName(), err)
	}
	return held, nil
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
