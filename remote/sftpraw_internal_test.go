package remote

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What a host sends is bounded: a packet longer than maxRawPacket is
// refused before it is read, and fields shorter than they say fail.
func TestRawSFTPBoundsWhatTheHostSends(t *testing.T) {
	var huge bytes.Buffer
	_ = binary.Write(&huge, binary.BigEndian, uint32(1<<31))
	_, err := readRawPacket(&huge)
	require.Error(t, err)
	assert.Equal(t, "the SFTP server sent a packet of 2147483648 bytes (at most 262144 expected)", err.Error())

	var empty bytes.Buffer
	_ = binary.Write(&empty, binary.BigEndian, uint32(0))
	_, err = readRawPacket(&empty)
	require.Error(t, err)

	// A status whose message says it is longer than the packet.
	short := appendU32(appendU32(nil, 2), 1<<30)
	err = statusOf(short)
	require.Error(t, err)
	assert.Equal(t, "the SFTP server sent a packet shorter than its fields", err.Error())

	err = statusOf(appendString(appendString(appendU32(nil, 2), "No such file"), ""))
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, "sftp: No such file (status 2)", err.Error())

	// Attributes with more extended pairs than bytes.
	d := decoder{b: appendU32(appendU32(nil, attrExtended), 1<<31)}
	d.attrs()
	require.Error(t, d.err)
}

func FuzzRawSFTPDecoder(f *testing.F) {
	f.Add(appendAttrs(nil, attrs{flags: attrSize | attrPerms | attrTimes, size: 5, perms: 0o100644, atime: 1, mtime: 2}))
	f.Add(appendString(appendU32(nil, 0), "ok"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := decoder{b: b}
		d.attrs()
		d.str()
		_ = statusOf(b)
		if d.err == nil && len(d.b) > len(b) {
			t.Fatal("the decoder read past its packet")
		}
	})
}

// A server that answers every readdir with names but never with the end
// of the directory is stopped by the bound on names, and one that answers
// with no names at all, at once.
func TestRawSFTPReadDirWithoutEnd(t *testing.T) {
	for name, reply := range map[string][]byte{
		"dot names without end": appendAttrs(appendString(appendString(appendAttrs(appendString(appendString(appendU32(nil, 2), "."), ""), attrs{}), ".."), ""), attrs{}),
		"no names":              appendU32(nil, 0),
	} {
		t.Run(name, func(t *testing.T) {
			c := fakeServer(t, func(typ byte) (byte, []byte) {
				switch typ {
				case sftpOpendir:
					return sftpHandle, appendString(nil, "h")
				case sftpReaddir:
					return sftpName, reply
				}
				return sftpStatus, appendString(appendString(appendU32(nil, 0), ""), "")
			})
			_, err := c.readDir(context.Background(), "/d", 10)
			require.Error(t, err)
		})
	}
}

// fakeServer is a rawSFTP whose requests answer is called for, in order,
// with the request's type (the reply gets the request's id).
func fakeServer(t *testing.T, answer func(typ byte) (byte, []byte)) *rawSFTP {
	t.Helper()
	reqR, reqW := io.Pipe()
	repR, repW := io.Pipe()
	c := &rawSFTP{s: repR, w: reqW, wait: map[uint32]chan rawReply{}, done: make(chan struct{})}
	go func() {
		for {
			p, err := readRawPacket(reqR)
			if err != nil {
				repW.CloseWithError(err)
				return
			}
			typ, body := answer(p[0])
			b := append(appendU32([]byte{0, 0, 0, 0, typ}, binary.BigEndian.Uint32(p[1:5])), body...)
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			if _, err := repW.Write(b); err != nil {
				return
			}
		}
	}()
	go c.read(repR)
	t.Cleanup(func() { reqW.Close(); repR.Close() })
	return c
}
