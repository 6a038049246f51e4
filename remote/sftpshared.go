// The shared SFTP session (see Host.SFTP) carries, beside pkg/sftp's
// client, requests pkg/sftp does not make (a directory read batch by
// batch: see ListDir). They have request ids of their own range (the high
// bit set); pkg/sftp's writes reach the session a whole packet at a time,
// so that no other packet comes between a header and its payload; and the
// replies are handed out by id.

package remote

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// rawIDBase is where the shared session's own request ids start: pkg/sftp
// counts from 1 and would need 2^31 requests to get there.
const rawIDBase = 1 << 31

// maxSharedPacket bounds a packet read on the shared session, as pkg/sftp
// bounds the ones it reads (256 KiB, OpenSSH's limit too).
const maxSharedPacket = 256 << 10

// packetFramer passes what pkg/sftp writes (a packet's header and its
// payload in two writes) on to the session's batchWriter a whole packet at
// a time.
type packetFramer struct {
	bw *batchWriter

	mu   sync.Mutex
	part []byte // the packet begun: its length field, and its header
	need int    // its whole length, once the length field is in part
}

func (f *packetFramer) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if len(f.part) < 4 {
			k := min(4-len(f.part), len(p))
			f.part, p = append(f.part, p[:k]...), p[k:]
			if len(f.part) == 4 {
				l := binary.BigEndian.Uint32(f.part)
				if l < 1 || l > maxSharedPacket {
					f.part, f.need = f.part[:0], 0
					return 0, fmt.Errorf("an SFTP packet of %d bytes to send (at most %d)", l, maxSharedPacket)
				}
				f.need = 4 + int(l)
			}
			continue
		}
		rest := f.need - len(f.part)
		if len(p) < rest {
			f.part, p = append(f.part, p...), nil
			continue
		}
		if err := f.bw.writeParts(f.part, p[:rest]); err != nil {
			f.part, f.need = f.part[:0], 0
			return 0, err
		}
		f.part, p = f.part[:0], p[rest:]
	}
	return n, nil
}

func (f *packetFramer) Close() error { return f.bw.Close() }

// demux reads the shared session's packets from r: the raw client's
// replies go to it, the rest (the version first, which has no id) on to
// pkg/sftp's client through pw. When r ends, both are told.
func demux(r io.Reader, pw *io.PipeWriter, raw *rawSFTP) {
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]byte, 32<<10)
	var hdr [9]byte
	err := func() error {
		for first := true; ; first = false {
			if _, err := io.ReadFull(br, hdr[:4]); err != nil {
				return err
			}
			n := binary.BigEndian.Uint32(hdr[:4])
			if n < 1 || n > maxSharedPacket {
				return fmt.Errorf("the SFTP server sent a packet of %d bytes (at most %d expected)", n, maxSharedPacket)
			}
			if !first && n >= 5 {
				if _, err := io.ReadFull(br, hdr[4:9]); err != nil {
					return err
				}
				if binary.BigEndian.Uint32(hdr[5:9]) >= rawIDBase {
					p := make([]byte, n)
					copy(p, hdr[4:9])
					if _, err := io.ReadFull(br, p[5:]); err != nil {
						return err
					}
					if raw.deliver(p) {
						continue
					}
					// Not the raw client's: pkg/sftp's (or no one's, which
					// pkg/sftp refuses).
					if _, err := pw.Write(hdr[:4]); err != nil {
						return err
					}
					if _, err := pw.Write(p); err != nil {
						return err
					}
					continue
				}
				if _, err := pw.Write(hdr[:9]); err != nil {
					return err
				}
				n -= 5
			} else if _, err := pw.Write(hdr[:4]); err != nil {
				return err
			}
			m, err := io.CopyBuffer(pw, io.LimitReader(br, int64(n)), buf)
			if err == nil && m < int64(n) {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return err
			}
		}
	}()
	pw.CloseWithError(err)
	raw.stop(err)
}

// sharedRaw returns the raw client on c's session, or nil (a client not
// opened by openSFTP).
func (h *Host) sharedRaw(c *sftp.Client) *rawSFTP {
	h.sftpKillMu.Lock()
	defer h.sftpKillMu.Unlock()
	return h.sftpRaw[c]
}

// shortBatchEnds reports whether c's server is OpenSSH's sftp-server (its
// extensions say so, under an OpenSSH sshd or Dropbear, which runs
// OpenSSH's), which answers a READDIR with at most 100 names and with
// fewer only once the directory has no more: the request after such a
// batch would only say so. Asked once per session (see openSFTP).
func (h *Host) shortBatchEnds(c *sftp.Client) bool {
	v := strings.ToLower(string(h.client.ServerVersion()))
	if !strings.HasPrefix(v, "ssh-2.0-openssh_") && !strings.HasPrefix(v, "ssh-2.0-dropbear") {
		return false
	}
	for _, ext := range []string{"limits@openssh.com", "lsetstat@openssh.com", "expand-path@openssh.com"} {
		if _, ok := c.HasExtension(ext); !ok {
			return false
		}
	}
	return true
}

// SFTP packet types of a directory's read.
const (
	sftpOpendir = 11
	sftpReaddir = 12
	sftpName    = 104
	sftpEOF     = 1 // a status code
)

// ListDir returns the entries of the directory p on the host ("." and ".."
// left out) as lstat describes them, each Sys an *sftp.FileStat, in the
// order the server sent them: as the shared client's ReadDir does (on the
// same session, see [Host.SFTP]), but with at most max entries (0: no
// bound) and fewer requests on OpenSSH's SFTP server, whose replies hold
// at most 100 names and fewer only at the end: the request that would
// only say the end is not made (a quarter of a tree's walk). Names are as
// the host sent them: the caller checks them.
func (h *Host) ListDir(ctx context.Context, p string, max int) ([]fs.FileInfo, error) {
	c, err := h.SFTP(ctx)
	if err != nil {
		return nil, err
	}
	raw := h.sharedRaw(c)
	if raw == nil {
		return nil, fmt.Errorf("read directory %s: %w", Printable(p), errSFTPStalled) // killed since SFTP returned it
	}
	handle, err := raw.handleReply(ctx, raw.send(sftpOpendir, func(b []byte) []byte { return appendString(b, p) }))
	if err != nil {
		return nil, fmt.Errorf("open directory %s: %w", Printable(p), err)
	}
	// The handle's CLOSE is answered in order after the last READDIR: its
	// reply is not waited for (it lands in the request's buffered channel,
	// which no one reads: no goroutine is kept for it).
	defer raw.send(sftpClose, func(b []byte) []byte { return appendString(b, handle) })
	var out []fs.FileInfo
	for {
		raw.readdirs.Add(1)
		r, err := raw.reply(ctx, raw.send(sftpReaddir, func(b []byte) []byte { return appendString(b, handle) }))
		if err != nil {
			return nil, fmt.Errorf("read directory %s: %w", Printable(p), err)
		}
		switch r.typ {
		case sftpStatus:
			err := statusOf(r.data)
			if se := (*statusError)(nil); errors.As(err, &se) && se.code == sftpEOF {
				return out, nil
			}
			if err == nil {
				err = errors.New("the SFTP server answered with an OK status, not names")
			}
			return nil, fmt.Errorf("read directory %s: %w", Printable(p), err)
		case sftpName:
		default:
			return nil, fmt.Errorf("read directory %s: the SFTP server answered with packet type %d", Printable(p), r.typ)
		}
		d := decoder{b: r.data}
		n := d.u32()
		for i := uint32(0); i < n && d.err == nil; i++ {
			name := d.str()
			d.str() // the long name, ls -l style: not used
			a := d.attrs()
			if d.err == nil && name != "." && name != ".." {
				out = append(out, &dirEntry{name: name, st: sftp.FileStat{Size: a.size, Mode: a.perms, Mtime: a.mtime, Atime: a.atime}})
			}
		}
		if d.err != nil {
			return nil, fmt.Errorf("read directory %s: %w", Printable(p), d.err)
		}
		if max > 0 && len(out) > max {
			return nil, fmt.Errorf("read directory %s: more than %d entries", Printable(p), max)
		}
		if raw.shortBatchEnds && n < 100 {
			return out, nil
		}
	}
}

// dirEntry is an entry ListDir read.
type dirEntry struct {
	name string
	st   sftp.FileStat
}

func (e *dirEntry) Name() string       { return e.name }
func (e *dirEntry) Size() int64        { return int64(e.st.Size) }
func (e *dirEntry) Mode() fs.FileMode  { return e.st.FileMode() }
func (e *dirEntry) ModTime() time.Time { return e.st.ModTime() }
func (e *dirEntry) IsDir() bool        { return e.Mode().IsDir() }
func (e *dirEntry) Sys() any           { return &e.st }
