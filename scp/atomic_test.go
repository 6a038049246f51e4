package scp_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/scp"
)

// SFTP packet types and open flags (draft-ietf-secsh-filexfer-02).
const (
	fxpOpen     = 3
	fxpWrite    = 6
	fxpSetstat  = 9
	fxpFsetstat = 10
	fxpRename   = 18
	fxpExtended = 200

	fxfWrite = 0x02
	fxfCreat = 0x08
	fxfTrunc = 0x10
	fxfExcl  = 0x20
)

// observedSFTP returns an SFTP client of a server on the local file system
// that calls observe with each request (its type and what follows the
// request id) before the server sees it. The client waits for the answer to
// each request WriteFile makes before the next but the writes, so when
// observe sees a write, the steps before it are done on disk.
func observedSFTP(t *testing.T, observe func(typ byte, body []byte)) *sftp.Client {
	t.Helper()
	fromClient, toProxy := io.Pipe()
	fromProxy, toServer := io.Pipe()
	fromServer, toClient := io.Pipe()
	srv, err := sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{fromProxy, toClient})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(); toClient.Close() }()
	go func() {
		defer wg.Done()
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(fromClient, hdr[:]); err != nil {
				toServer.CloseWithError(err)
				return
			}
			pkt := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(fromClient, pkt); err != nil {
				toServer.CloseWithError(err)
				return
			}
			if len(pkt) >= 5 && pkt[0] != 1 { // every request but init has an id
				observe(pkt[0], pkt[5:])
			}
			if _, err := toServer.Write(append(hdr[:], pkt...)); err != nil {
				return
			}
		}
	}()
	c, err := sftp.NewClientPipe(fromServer, toProxy)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		toProxy.Close()
		srv.Close()
		wg.Wait()
	})
	return c
}

// sftpString reads an SFTP string off b.
func sftpString(b []byte) (string, []byte) {
	if len(b) < 4 {
		return "", nil
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return "", nil
	}
	return string(b[4 : 4+n]), b[4+n:]
}

// TestWriteFileModeBeforeBytesAndRenameLast watches the SFTP requests of
// scp.WriteFile over an existing world-readable file: it creates a new file
// (exclusively) next to the destination, never opens the destination for
// writing, writes no byte while any new file in the directory has a mode
// wider than the source's, leaves the destination as it was until the
// last request, a posix-rename of the new file over it.
func TestWriteFileModeBeforeBytesAndRenameLast(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "secret")
	content := strings.Repeat("s3cr3t\n", 20000) // 140 kB: several writes
	write(t, src, content, 0o600)
	mtime := time.Date(2023, 4, 5, 6, 7, 8, 0, time.UTC)
	require.NoError(t, os.Chtimes(src, mtime, mtime))
	dst := filepath.Join(dir, "settings.py")
	write(t, dst, "old public content", 0o644)
	old, err := os.Stat(dst)
	require.NoError(t, err)

	var (
		mu       sync.Mutex
		events   []string
		opened   []string // names opened, and their flags in openFlag
		openFlag []uint32
		problems []string
		writes   int
	)
	// atWrite checks the directory as the server is about to write bytes.
	atWrite := func() {
		entries, err := os.ReadDir(dir)
		if err != nil {
			problems = append(problems, err.Error())
			return
		}
		for _, e := range entries {
			fi, err := os.Lstat(filepath.Join(dir, e.Name()))
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if os.SameFile(fi, old) {
				if b, err := os.ReadFile(dst); err != nil || string(b) != "old public content" || e.Name() != "settings.py" {
					problems = append(problems, fmt.Sprintf("a byte is written while the old file is %q holding %.30q (%v)", e.Name(), b, err))
				}
				continue
			}
			if e.Name() == "settings.py" {
				problems = append(problems, "a byte is written while the destination is already another file")
			}
			if fi.IsDir() {
				// The private directory the secret is written in.
				if fi.Mode().Perm() != 0o700 {
					problems = append(problems, fmt.Sprintf("a byte is written while the directory %s has mode %v, not 0700", e.Name(), fi.Mode().Perm()))
				}
				continue
			}
			if fi.Mode().Perm()&^0o600 != 0 {
				problems = append(problems, fmt.Sprintf("a byte is written while %s has mode %v, wider than the source's 0600", e.Name(), fi.Mode().Perm()))
			}
		}
	}
	c := observedSFTP(t, func(typ byte, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		switch typ {
		case fxpOpen:
			name, rest := sftpString(body)
			var flags uint32
			if len(rest) >= 4 {
				flags = binary.BigEndian.Uint32(rest)
			}
			events = append(events, "open "+name)
			opened, openFlag = append(opened, name), append(openFlag, flags)
		case fxpWrite:
			if writes == 0 {
				events = append(events, "write")
			}
			writes++
			if len(problems) == 0 {
				atWrite() // until something is wrong
			}
		case fxpRename:
			from, rest := sftpString(body)
			to, _ := sftpString(rest)
			events = append(events, "rename "+from+" "+to)
		case fxpExtended:
			ext, rest := sftpString(body)
			if ext == "posix-rename@openssh.com" {
				from, rest := sftpString(rest)
				to, _ := sftpString(rest)
				events = append(events, "posix-rename "+from+" "+to)
			}
		case fxpSetstat, fxpFsetstat:
			events = append(events, "setstat")
		}
	})
	info, err := os.Stat(src)
	require.NoError(t, err)
	require.NoError(t, scp.WriteFile(context.Background(), c, dst, src, info))

	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, problems)
	assert.Greater(t, writes, 1)
	require.NotEmpty(t, events)
	require.Len(t, opened, 1, "one file opened: %q", events)
	tmp := opened[0]
	assert.NotEqual(t, dst, tmp, "the destination is never opened for writing")
	private := filepath.Dir(tmp)
	assert.Equal(t, dir, filepath.Dir(private), "the new file is written in a private directory next to the destination, for the rename to be atomic")
	assert.Equal(t, uint32(fxfWrite|fxfCreat|fxfExcl), openFlag[0]&(fxfWrite|fxfCreat|fxfExcl|fxfTrunc), "a new file, created exclusively")
	// The open request carries no mode (pkg/sftp's OpenFile sends none):
	// the server creates the empty file with its default mode, and the
	// setstat that follows sets the source's before any byte is written;
	// for a secret, in a directory made 0700 first (the setstat before the
	// open), so that nobody can open the file in between.
	require.GreaterOrEqual(t, len(events), 4)
	assert.Equal(t, []string{"setstat", "open " + tmp, "setstat", "write"}, events[:4], "the mode is set before the first byte")
	assert.Equal(t, "posix-rename "+tmp+" "+dst, events[len(events)-1], "renamed over the destination, last: %q", events)

	b, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, content, string(b))
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	assert.True(t, mtime.Equal(st.ModTime()), "%v", st.ModTime())
	assert.False(t, os.SameFile(old, st), "the old file is replaced, not rewritten")
	assert.NoFileExists(t, tmp, "the temporary name is gone")
	assert.NoDirExists(t, private, "and its directory")
}
