package rsync

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/remote"
)

// The fuzz targets of the package: `go test` runs their seeds and the
// corpus in testdata/fuzz; docs/fuzzing.md says how to fuzz them.

// errEnd is the end of a fuzzed reply. A real shell's end (io.EOF) makes
// the agent ask its SSH session how it ended, which a canned reply has
// not: the fuzzed reply ends with this error instead.
var errEnd = errors.New("end of the fuzzed reply")

// fuzzReply is a canned reply that ends with errEnd.
type fuzzReply struct{ canned }

func (c fuzzReply) ReadRecord(max int) ([]byte, error) {
	b, err := c.canned.ReadRecord(max)
	if errors.Is(err, io.EOF) {
		return nil, errEnd
	}
	return b, err
}

// record writes e back as the listing program's find prints it.
func record(e entry) string {
	typ := map[ftype]string{typeFile: "f", typeDir: "d", typeSymlink: "l", typeOther: "p"}[e.typ]
	return typ + "\x00" + strconv.FormatUint(uint64(e.mode), 8) + "\x00" + strconv.FormatInt(e.size, 10) + "\x00" +
		strconv.FormatInt(e.mtime, 10) + ".5\x00" + e.link + "\x00" + e.path + "\x00"
}

// FuzzReadListing: whatever the host prints for the listing program and
// the programs after it, the agent never panics; it takes at most
// maxEntries entries, each a clean relative path below dst (no "..", not
// absolute, no empty or "." part, no NUL) with a size of 0 or more and
// permission bits only, each read back the same when written as a record
// again; anything else is an error whose text a terminal cannot act on.
func FuzzReadListing(f *testing.F) {
	const hdr = "porter-list1 tar gzip sha\x00"
	f.Add([]byte(hdr + "d\x00755\x004096\x001700000000.5\x00\x00\x00" +
		"f\x00644\x0012\x001700000001.0\x00\x00a\nb\x00l\x00777\x005\x001.1\x00../x\x00it's\x00X\x000\x00" +
		"X\x000\x00X\x001\x00boom\nline 2\x00"))
	f.Add([]byte("porter-list1 - - -\x00X\x00-\x00"))
	f.Add([]byte("porter-list1 - - -\x00X\x00N\x00"))
	f.Add([]byte("porter-list1 - - -\x00X\x001\x00"))
	f.Add([]byte("porter-list1 - - -\x00f\x00zzz\x000\x000\x00\x00p\x00X\x000\x00"))
	f.Add([]byte("porter-list1 - - -\x00f\x00644\x00-1\x000\x00\x00p\x00X\x000\x00"))
	f.Add([]byte("porter-list1 - - -\x00f\x00644\x001\x000\x00\x00../etc/passwd\x00X\x000\x00"))
	f.Add([]byte("porter-list1 - - -\x00f\x00644\x001\x000\x00\x00/etc/passwd\x00X\x000\x00"))
	f.Add([]byte("porter-list1 - - -\x00d\x00755\x000\x000\x00\x00tmp\x00f\x00644\x001\x000\x00\x00tmp/x.log\x00X\x000\x00"))
	f.Add([]byte("porter-list1\x00"))
	f.Add([]byte("\x1b[2J\x00"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		const maxEntries = 64
		ag := &agent{rd: fuzzReply{canned{bufio.NewReader(bytes.NewReader(reply))}}, dst: "/srv/app"}
		_, raw, _, _, err := ag.readListing("list", maxEntries)
		if err != nil {
			assertPrintable(t, err)
			return
		}
		require.LessOrEqual(t, len(raw), maxEntries)
		for _, e := range raw {
			require.NoError(t, checkListedPath(e.path))
			require.GreaterOrEqual(t, e.size, int64(0), "%q", e.path)
			require.LessOrEqual(t, e.mode, uint32(0o7777), "%q", e.path)
			checkRecordRoundTrip(t, e)
		}
		m, err := newMatcher([]string{"*.log", "tmp/", "/top"})
		require.NoError(t, err)
		tree := buildRemoteTree(raw, m)
		for p := range tree.entries {
			require.NoError(t, checkListedPath(p))
			require.False(t, m.excluded(p, tree.entries[p].typ == typeDir), "excluded %q kept", p)
		}
		for range 2 { // the replies of two programs after the listing
			failed, err := ag.result("prog")
			for _, e := range []error{failed, err} {
				if e != nil {
					assertPrintable(t, e)
				}
			}
			if err != nil {
				break
			}
		}
	})
}

// checkRecordRoundTrip writes e back as a record and reads it again.
func checkRecordRoundTrip(t *testing.T, e entry) {
	t.Helper()
	var f [6][]byte
	for i, s := range strings.SplitN(record(e), "\x00", 7)[:6] {
		f[i] = []byte(s)
	}
	again, err := parseRecord(f)
	require.NoError(t, err)
	if e.typ != typeFile {
		e.size = 0 // only a file's size is read
	}
	assert.Equal(t, e, again)
}

// assertPrintable checks that an error's text holds nothing a terminal
// would act on: what the host printed is escaped.
func assertPrintable(t *testing.T, err error) {
	t.Helper()
	require.Equal(t, remote.Printable(err.Error()), err.Error(), "error text escaped")
}
