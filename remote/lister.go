// Directories read on SFTP sessions of their own (see Lister): fewer
// allocations than pkg/sftp's client, and the reads spread over several
// SFTP server processes of the host, each of which serves one request at a
// time.

package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// The requests and replies a Lister adds to sftpraw.go's.
const (
	sftpOpendir  = 11
	sftpReaddir  = 12
	sftpStat     = 17
	sftpReadlink = 19
	sftpName     = 104
)

// Lister reads directories of the host on SFTP sessions of its own, opened
// by [Host.OpenLister] and closed by Close. A walk of a big tree is many
// small requests: a Lister makes them with fewer allocations than the
// shared client ([Host.SFTP]), and spreads them over its sessions, each
// served by an SFTP server process of its own on the host. Its methods may
// be called concurrently. When a call's ctx ends, the session it used is
// closed: the Lister's later calls on it fail.
type Lister struct {
	name string
	cs   []*rawSFTP
	next atomic.Uint32
	once sync.Once
}

// DirEntry is one entry of a directory read by [Lister.ReadDir], or what
// [Lister.Stat] found.
type DirEntry struct {
	Name  string // "" for Stat
	Mode  uint32 // the host's st_mode: file type (S_IFMT) and permission bits
	Size  int64
	Mtime int64 // Unix seconds
}

// The file types of DirEntry.Mode.
const (
	ModeTypeMask uint32 = typeMask
	ModeDir      uint32 = typeDir
	ModeRegular  uint32 = typeReg
	ModeSymlink  uint32 = typeLink
)

// OpenLister opens a Lister of n sessions (at least 1). A server that
// refuses a session (sshd's MaxSessions) fails it: the sessions opened are
// closed.
func (h *Host) OpenLister(ctx context.Context, n int) (*Lister, error) {
	l := &Lister{name: h.name}
	for range max(n, 1) {
		c, err := h.openRawSFTP(ctx)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("list on %s: %w", h.name, err)
		}
		l.cs = append(l.cs, c)
	}
	return l, nil
}

// session returns the session for the next call, in turn.
func (l *Lister) session() *rawSFTP { return l.cs[l.next.Add(1)%uint32(len(l.cs))] }

// ReadDir reads directory dir whole, at most maxNames entries ("." and
// ".." left out), in the order the server sends them.
func (l *Lister) ReadDir(ctx context.Context, dir string, maxNames int) ([]DirEntry, error) {
	names, err := l.session().readDir(ctx, dir, maxNames)
	if err != nil {
		return nil, fmt.Errorf("read directory %s on %s: %w", Printable(dir), l.name, err)
	}
	out := make([]DirEntry, len(names))
	for i, n := range names {
		if n.a.flags&attrPerms == 0 || n.a.flags&attrTimes == 0 {
			return nil, fmt.Errorf("read directory %s on %s: the server did not say the type and mtime of %s", Printable(dir), l.name, Printable(n.name))
		}
		out[i] = DirEntry{Name: n.name, Mode: n.a.perms, Size: int64(n.a.size), Mtime: int64(n.a.mtime)}
	}
	return out, nil
}

// Stat returns what p is, following a symlink (p may be one to a
// directory). A missing p wraps fs.ErrNotExist.
func (l *Lister) Stat(ctx context.Context, p string) (DirEntry, error) {
	c := l.session()
	a, err := c.attrsReply(ctx, c.send(sftpStat, func(b []byte) []byte { return appendString(b, p) }))
	if err == nil && (a.flags&attrPerms == 0 || a.flags&attrTimes == 0) {
		err = errors.New("the server did not say its type and mtime")
	}
	if err != nil {
		return DirEntry{}, fmt.Errorf("stat %s on %s: %w", Printable(p), l.name, err)
	}
	return DirEntry{Mode: a.perms, Size: int64(a.size), Mtime: int64(a.mtime)}, nil
}

// ReadLink returns the target of the symlink p.
func (l *Lister) ReadLink(ctx context.Context, p string) (string, error) {
	t, err := l.session().readLink(ctx, p)
	if err != nil {
		return "", fmt.Errorf("read link %s on %s: %w", Printable(p), l.name, err)
	}
	return t, nil
}

// Close closes the Lister's sessions.
func (l *Lister) Close() error {
	l.once.Do(func() {
		for _, c := range l.cs {
			c.close()
		}
	})
	return nil
}

// rawName is one entry of a directory read by readDir.
type rawName struct {
	name string
	a    attrs
}

// readDir reads directory p whole: opendir, readdir until EOF, close. At
// most max names (then an error).
func (c *rawSFTP) readDir(ctx context.Context, p string, max int) ([]rawName, error) {
	h, err := c.handleReply(ctx, c.send(sftpOpendir, func(b []byte) []byte { return appendString(b, p) }))
	if err != nil {
		return nil, err
	}
	var out []rawName
	got := 0 // names received, "." and ".." too: a server that sends names without end is stopped
	for err == nil {
		var r rawReply
		r, err = c.reply(ctx, c.send(sftpReaddir, func(b []byte) []byte { return appendString(b, h) }))
		if err != nil {
			break
		}
		switch r.typ {
		case sftpName:
			d := decoder{b: r.data}
			n := d.u32()
			switch {
			case n == 0: // a reply without names and without an end
				d.err = errors.New("the SFTP server answered a readdir with no names and no end of directory")
			case int(n) > len(d.b)/13: // a name, a longname and attrs: 4+4+4 bytes and more
				d.err = fmt.Errorf("the SFTP server sent %d names in a packet of %d bytes", n, len(r.data))
			}
			got += int(n)
			for ; n > 0 && d.err == nil; n-- {
				name := d.str()
				d.str() // longname
				a := d.attrs()
				if name != "." && name != ".." {
					out = append(out, rawName{name: name, a: a})
				}
			}
			err = d.err
			if err == nil && (len(out) > max || got > max+2) {
				err = fmt.Errorf("%s: more than %d entries", p, max)
			}
		case sftpStatus:
			err = statusOf(r.data)
			if err == nil {
				err = errors.New("the SFTP server answered a readdir with an OK status, not names")
			} else if se := (*statusError)(nil); errors.As(err, &se) && se.code == 1 { // EOF
				err = errEOF
			}
		default:
			err = fmt.Errorf("the SFTP server answered a readdir with packet type %d", r.typ)
		}
	}
	cerr := c.statusReply(ctx, c.send(sftpClose, func(b []byte) []byte { return appendString(b, h) }))
	if err == errEOF {
		return out, cerr
	}
	return nil, err
}

var errEOF = errors.New("end of directory")

// readLink returns the target of symlink p.
func (c *rawSFTP) readLink(ctx context.Context, p string) (string, error) {
	r, err := c.reply(ctx, c.send(sftpReadlink, func(b []byte) []byte { return appendString(b, p) }))
	if err != nil {
		return "", err
	}
	switch r.typ {
	case sftpName:
		d := decoder{b: r.data}
		if n := d.u32(); n != 1 && d.err == nil {
			return "", fmt.Errorf("the SFTP server answered a readlink with %d names", n)
		}
		return d.str(), d.err
	case sftpStatus:
		if err := statusOf(r.data); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("the SFTP server answered a readlink with packet type %d", r.typ)
}
