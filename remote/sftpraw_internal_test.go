package remote

import (
	"bytes"
	"encoding/binary"
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
