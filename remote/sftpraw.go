// A minimal SFTP version 3 client for the requests pkg/sftp does not send
// (see copy.go): packets are built and read here, replies matched to
// requests by id. Everything read from the server is bounded.

package remote

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// SFTP packet types and flags (draft-ietf-secsh-filexfer-02).
const (
	sftpInit     = 1
	sftpVersion  = 2
	sftpOpen     = 3
	sftpClose    = 4
	sftpLstat    = 7
	sftpFstat    = 8
	sftpFsetstat = 10
	sftpRemove   = 13
	sftpStatus   = 101
	sftpHandle   = 102
	sftpAttrs    = 105
	sftpExtended = 200

	sftpRead   = 0x01
	sftpWrite  = 0x02
	sftpCreate = 0x08
	sftpExcl   = 0x20

	attrSize     = 0x01
	attrUIDGID   = 0x02
	attrPerms    = 0x04
	attrTimes    = 0x08
	attrExtended = 0x80000000
)

// maxRawPacket bounds a packet read from the server: the replies asked for
// here are a status, a handle or attributes.
const maxRawPacket = 256 << 10

// rawSFTP is one SFTP session of its own, or requests made on the shared
// client's session (see sharedRaw), with request ids of their own.
type rawSFTP struct {
	s    *ssh.Session   // nil on the shared session: not closed here
	w    io.WriteCloser // a batchWriter: each packet is written whole
	exts map[string]string

	mu   sync.Mutex
	next uint32
	wait map[uint32]chan rawReply
	err  error         // why the reader stopped
	done chan struct{} // closed when it did
	once sync.Once     // stop's

	// shortBatchEnds: a READDIR reply of fewer than 100 names is the
	// last (OpenSSH's sftp-server, on the shared session: see ListDir).
	shortBatchEnds bool
	readdirs       atomic.Int64 // READDIRs sent by ListDir (tests)
}

type rawReply struct {
	typ  byte
	data []byte // after the id
}

// openRawSFTP opens an SFTP session on h's connection and exchanges the
// versions; the session is closed if ctx ends first. The channel's open is
// bounded as a shell's is (see openSession).
func (h *Host) openRawSFTP(ctx context.Context) (*rawSFTP, error) {
	s, err := h.openSession(ctx, h.sessionLimit())
	if err != nil {
		return nil, fmt.Errorf("open an sftp session: %w", err)
	}
	w, err := s.StdinPipe()
	if err == nil {
		var r io.Reader
		if r, err = s.StdoutPipe(); err == nil {
			if err = s.RequestSubsystem("sftp"); err == nil {
				c := &rawSFTP{s: s, w: newBatchWriter(w), wait: map[uint32]chan rawReply{}, done: make(chan struct{})}
				stop := context.AfterFunc(ctx, func() { s.Close() })
				err = c.init(r)
				if !stop() {
					err = ctx.Err()
				}
				if err == nil {
					go c.read(r)
					return c, nil
				}
			} else {
				err = h.noSFTP(err)
			}
		}
	}
	s.Close()
	return nil, fmt.Errorf("open an sftp session: %w", err)
}

// init sends SSH_FXP_INIT and reads the server's version and extensions.
func (c *rawSFTP) init(r io.Reader) error {
	if _, err := c.w.Write([]byte{0, 0, 0, 5, sftpInit, 0, 0, 0, 3}); err != nil {
		return err
	}
	p, err := readRawPacket(r)
	if err != nil {
		return err
	}
	d := decoder{b: p}
	if typ := d.byte(); typ != sftpVersion {
		return fmt.Errorf("the server answered the version with packet type %d", typ)
	}
	if v := d.u32(); v != 3 && d.err == nil {
		return fmt.Errorf("the server speaks SFTP version %d, not 3", v)
	}
	c.exts = map[string]string{}
	for len(d.b) > 0 && d.err == nil && len(c.exts) < 256 {
		name, data := d.str(), d.str()
		c.exts[name] = data
	}
	return d.err
}

// readRawPacket reads one length-prefixed packet of at most maxRawPacket.
func readRawPacket(r io.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n < 1 || n > maxRawPacket {
		return nil, fmt.Errorf("the SFTP server sent a packet of %d bytes (at most %d expected)", n, maxRawPacket)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	return p, nil
}

// read hands each reply to its request until the session ends or the
// server sends what was not asked for.
func (c *rawSFTP) read(r io.Reader) {
	var err error
	for err == nil {
		var p []byte
		if p, err = readRawPacket(r); err != nil {
			break
		}
		if len(p) < 5 {
			err = fmt.Errorf("the SFTP server sent a packet of %d bytes, without a request id", len(p))
			break
		}
		if !c.deliver(p) {
			err = fmt.Errorf("the SFTP server answered request %d, which was not made or was answered", binary.BigEndian.Uint32(p[1:5]))
		}
	}
	c.stop(err)
}

// deliver hands the reply p (type, id, data) to the request that waits
// for it, and reports whether one did.
func (c *rawSFTP) deliver(p []byte) bool {
	id := binary.BigEndian.Uint32(p[1:5])
	c.mu.Lock()
	ch, ok := c.wait[id]
	delete(c.wait, id)
	c.mu.Unlock()
	if ok {
		ch <- rawReply{typ: p[0], data: p[5:]}
	}
	return ok
}

// stop ends the client: every request still waiting fails with err.
func (c *rawSFTP) stop(err error) {
	if err == nil || errors.Is(err, io.EOF) {
		err = errors.New("the SFTP session ended")
	}
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	})
	if c.s != nil {
		c.s.Close()
	}
}

// send writes one request, its payload appended by body after the id, and
// returns where its reply will come.
func (c *rawSFTP) send(typ byte, body func([]byte) []byte) <-chan rawReply {
	ch := make(chan rawReply, 1)
	c.mu.Lock()
	c.next++
	id := c.next
	c.wait[id] = ch
	c.mu.Unlock()
	b := body(appendU32([]byte{0, 0, 0, 0, typ}, id))
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.w.Write(b); err != nil {
		c.mu.Lock()
		delete(c.wait, id)
		c.mu.Unlock()
		ch <- rawReply{typ: 0, data: []byte(err.Error())}
	}
	return ch
}

// reply waits for a reply, the end of the session or of ctx.
func (c *rawSFTP) reply(ctx context.Context, ch <-chan rawReply) (rawReply, error) {
	select {
	case r := <-ch:
		if r.typ == 0 {
			return r, fmt.Errorf("send an sftp request: %s", r.data)
		}
		return r, nil
	case <-c.done:
		select {
		case r := <-ch: // answered just before the end
			if r.typ == 0 {
				return r, fmt.Errorf("send an sftp request: %s", r.data)
			}
			return r, nil
		default:
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return rawReply{}, c.err
	case <-ctx.Done():
		if c.s != nil {
			c.s.Close() // the copies stop with the session
		}
		return rawReply{}, ctx.Err()
	}
}

// statusReply waits for a reply that is a status, and returns it as an
// error unless it is OK.
func (c *rawSFTP) statusReply(ctx context.Context, ch <-chan rawReply) error {
	r, err := c.reply(ctx, ch)
	if err != nil {
		return err
	}
	if r.typ != sftpStatus {
		return fmt.Errorf("the SFTP server answered with packet type %d, not a status", r.typ)
	}
	return statusOf(r.data)
}

// handleReply waits for a handle.
func (c *rawSFTP) handleReply(ctx context.Context, ch <-chan rawReply) (string, error) {
	r, err := c.reply(ctx, ch)
	if err != nil {
		return "", err
	}
	switch r.typ {
	case sftpHandle:
		d := decoder{b: r.data}
		h := d.str()
		if d.err == nil && (h == "" || len(h) > 256) {
			d.err = fmt.Errorf("the SFTP server sent a handle of %d bytes", len(h))
		}
		return h, d.err
	case sftpStatus:
		if err := statusOf(r.data); err != nil {
			return "", err
		}
		return "", errors.New("the SFTP server answered an open with an OK status, not a handle")
	}
	return "", fmt.Errorf("the SFTP server answered an open with packet type %d", r.typ)
}

// attrsReply waits for attributes.
func (c *rawSFTP) attrsReply(ctx context.Context, ch <-chan rawReply) (attrs, error) {
	r, err := c.reply(ctx, ch)
	if err != nil {
		return attrs{}, err
	}
	switch r.typ {
	case sftpAttrs:
		d := decoder{b: r.data}
		a := d.attrs()
		return a, d.err
	case sftpStatus:
		if err := statusOf(r.data); err != nil {
			return attrs{}, err
		}
		return attrs{}, errors.New("the SFTP server answered a stat with an OK status, not attributes")
	}
	return attrs{}, fmt.Errorf("the SFTP server answered a stat with packet type %d", r.typ)
}

// close ends the session.
func (c *rawSFTP) close() {
	c.w.Close()
	if c.s != nil {
		c.s.Close()
	}
}

// statusError is an SFTP status other than OK.
type statusError struct {
	code uint32
	msg  string
}

func (e *statusError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("sftp: %s (status %d)", e.msg, e.code)
	}
	return fmt.Sprintf("sftp: status %d", e.code)
}

// Is makes the statuses for a missing file, a refusal and an unsupported
// request fs.ErrNotExist, fs.ErrPermission and errors.ErrUnsupported.
func (e *statusError) Is(target error) bool {
	switch e.code {
	case 2:
		return target == fs.ErrNotExist
	case 3:
		return target == fs.ErrPermission
	case 8:
		return target == errors.ErrUnsupported
	}
	return false
}

// statusOf decodes a status: nil for OK.
func statusOf(b []byte) error {
	d := decoder{b: b}
	code := d.u32()
	msg := d.str()
	if d.err != nil {
		return d.err
	}
	if code == 0 {
		return nil
	}
	return &statusError{code: code, msg: Printable(msg)}
}

// attrs are the SFTP version 3 attributes used here.
type attrs struct {
	flags        uint32
	size         uint64
	perms        uint32
	atime, mtime uint32
}

func appendAttrs(b []byte, a attrs) []byte {
	b = appendU32(b, a.flags)
	if a.flags&attrSize != 0 {
		b = appendU64(b, a.size)
	}
	if a.flags&attrPerms != 0 {
		b = appendU32(b, a.perms)
	}
	if a.flags&attrTimes != 0 {
		b = appendU32(appendU32(b, a.atime), a.mtime)
	}
	return b
}

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
func appendString(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}

// decoder reads a packet's fields; the first short read sets err, after
// which every field is zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = errors.New("the SFTP server sent a packet shorter than its fields")
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if p := d.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if p := d.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) str() string {
	n := d.u32()
	if n > uint32(len(d.b)) {
		d.take(len(d.b) + 1)
		return ""
	}
	return string(d.take(int(n)))
}

func (d *decoder) attrs() attrs {
	a := attrs{flags: d.u32()}
	if a.flags&attrSize != 0 {
		a.size = d.u64()
	}
	if a.flags&attrUIDGID != 0 {
		d.u32()
		d.u32()
	}
	if a.flags&attrPerms != 0 {
		a.perms = d.u32()
	}
	if a.flags&attrTimes != 0 {
		a.atime, a.mtime = d.u32(), d.u32()
	}
	if a.flags&attrExtended != 0 {
		for n := d.u32(); n > 0 && d.err == nil; n-- {
			d.str()
			d.str()
		}
	}
	return a
}
