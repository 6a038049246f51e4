package rsync

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/remote"
)

func dir(p string) entry { return entry{path: p, typ: typeDir, mode: 0o755, mtime: 100} }
func file(p string, size int64) entry {
	return entry{path: p, typ: typeFile, mode: 0o644, size: size, mtime: 100}
}
func link(p, target string) entry { return entry{path: p, typ: typeSymlink, mode: 0o777, link: target} }

func planOf(t *testing.T, local, remote []entry, opts Options, excludes ...string) *Changes {
	t.Helper()
	m, err := newMatcher(excludes)
	require.NoError(t, err)
	rt := buildRemoteTree(remote, m)
	rt.exists = len(remote) > 0
	c := &Changes{src: "src", dst: "/dst", opts: opts, log: opts.logger(), stale: rt.stale}
	require.NoError(t, c.diff(context.Background(), local, rt))
	return c
}

func ops(c *Changes) []string {
	var out []string
	for _, ch := range c.list {
		out = append(out, ch.String())
	}
	return out
}

func TestDiffNewTree(t *testing.T) {
	local := []entry{dir(""), dir("a"), file("a/x", 3), link("l", "../outside")}
	c := planOf(t, local, nil, Options{})
	assert.Equal(t, []string{"mkdir . (new)", "mkdir a (new)", "send a/x (new)", "link l (new)"}, ops(c))
	assert.Equal(t, Stats{Files: 1, Dirs: 1, Symlinks: 1, BytesTotal: 3, Sent: 2, BytesSent: 3, DirsCreated: 2}, c.Stats())
	assert.Len(t, c.dirs, 2) // both get mode and mtime at the end
}

func TestDiffUpToDate(t *testing.T) {
	local := []entry{dir(""), dir("a"), file("a/x", 3), link("l", "t")}
	c := planOf(t, local, local, Options{})
	assert.Empty(t, ops(c))
	assert.True(t, c.Empty())
	assert.Equal(t, 2, c.Stats().Unchanged)
}

func TestDiffChanges(t *testing.T) {
	local := []entry{dir(""), file("size", 4), file("mtime", 3), file("mode", 3), link("l", "new")}
	remote := []entry{dir(""), file("size", 3), file("mtime", 3), file("mode", 3), link("l", "old"), file("extra", 1)}
	remote[2].mtime = 99
	remote[3].mode = 0o600
	c := planOf(t, local, remote, Options{})
	assert.Equal(t, []string{"send size (size)", "send mtime (mtime)", "attrs mode (mode)", "link l (target)"}, ops(c))
	st := c.Stats()
	assert.Equal(t, 3, st.Sent)
	assert.Equal(t, 1, st.AttrsSet)
	assert.Equal(t, 0, st.Deleted)

	c = planOf(t, local, remote, Options{Delete: true})
	assert.Equal(t, []string{"delete extra (extraneous)", "send size (size)", "send mtime (mtime)", "attrs mode (mode)", "link l (target)"}, ops(c))
	assert.Equal(t, 1, c.Stats().Deleted)
}

func TestDiffTypeChanges(t *testing.T) {
	local := []entry{dir(""), file("wasdir", 1), dir("wasfile"), file("wasfile/in", 1), link("waslink", "x"), file("wasfile2", 1)}
	remote := []entry{dir(""), dir("wasdir"), file("wasdir/old", 1), dir("wasdir/sub"), file("wasfile", 2), file("waslink", 1), link("wasfile2", "y")}
	c := planOf(t, local, remote, Options{})
	assert.Equal(t, []string{
		"delete wasdir (type)",
		"delete wasfile (type)",
		"send wasdir (type)",
		"mkdir wasfile (type)",
		"send wasfile/in (new)",
		"link waslink (type)",
		"send wasfile2 (type)",
	}, ops(c))
	assert.Equal(t, []string{"wasdir", "wasfile"}, c.remove)
	assert.Equal(t, 4, c.Stats().Deleted) // wasdir and what it held, wasfile
}

func TestDiffDeleteSparesExcluded(t *testing.T) {
	local := []entry{dir(""), file("keep", 1)}
	remote := []entry{dir(""), file("keep", 1),
		dir(".git"), file(".git/HEAD", 1), // excluded: untouched
		dir("old"), file("old/x", 1), file("old/.gitignore", 1), // old holds an excluded file: emptied, kept
		dir("gone"), file("gone/y", 1), // removed whole
		dir(".porter"), file(".porter/state", 1), // never listed in practice; excluded anyway
		dir(".porter-tmp-dead"), // a stale staging dir
	}
	c := planOf(t, local, remote, Options{Delete: true}, ".git*")
	assert.Equal(t, []string{"delete gone (extraneous)", "delete old/x (extraneous)"}, ops(c))
	assert.Equal(t, []string{".porter-tmp-dead"}, c.stale)
	assert.Equal(t, 3, c.Stats().Deleted)
}

func TestDiffReplaceProtectedDirFails(t *testing.T) {
	m, err := newMatcher([]string{"*.keep"})
	require.NoError(t, err)
	rt := buildRemoteTree([]entry{dir(""), dir("d"), file("d/x.keep", 1)}, m)
	c := &Changes{src: "src", dst: "/dst", log: (&Options{}).logger()}
	err = c.diff(context.Background(), []entry{dir(""), file("d", 1)}, rt)
	assert.ErrorContains(t, err, "cannot replace directory /dst/d")
	assert.ErrorContains(t, err, "excluded")
}

func TestDiffDirAttrs(t *testing.T) {
	local := []entry{dir(""), dir("a"), dir("b"), file("b/new", 1)}
	remote := []entry{dir(""), dir("a"), dir("b")}
	remote[1].mode = 0o700
	c := planOf(t, local, remote, Options{})
	assert.Equal(t, []string{"send b/new (new)", "attrs a (mode)"}, ops(c))
	var got []string
	for _, f := range c.dirs {
		got = append(got, f.e.path)
	}
	// the top (staging dir), a (mode), b (a new entry inside)
	assert.Equal(t, []string{"", "a", "b"}, got)
}

// canned is a reply read back as the remote shell's records.
type canned struct{ r *bufio.Reader }

func (c canned) ReadRecord(max int) ([]byte, error) {
	b, err := c.r.ReadBytes(0)
	if err != nil {
		return nil, err
	}
	if len(b)-1 > max {
		return nil, fmt.Errorf("record of %d bytes", len(b)-1)
	}
	return b[:len(b)-1], nil
}

func cannedAgent(out string) *agent {
	return &agent{rd: canned{bufio.NewReader(strings.NewReader(out))}, dst: "/srv/app"}
}

func TestReadListing(t *testing.T) {
	out := "porter-list1 tar - sha\x00" +
		"d\x00755\x004096\x001700000000.5\x00\x00\x00" +
		"f\x00644\x0012\x001700000001.0000000000\x00\x00a\nb\x00" +
		"l\x00777\x005\x001700000002.1\x00../x\x00it's\x00" +
		"p\x00644\x000\x001700000003.0\x00\x00fifo\x00" +
		"X\x000\x00"
	ag := cannedAgent(out)
	caps, es, exists, findOK, err := ag.readListing("list", 100)
	require.NoError(t, err)
	assert.Equal(t, hostCaps{tar: true, sha256sum: true}, caps)
	assert.True(t, exists)
	assert.True(t, findOK)
	assert.Equal(t, []entry{
		{path: "", typ: typeDir, mode: 0o755, mtime: 1700000000},
		{path: "a\nb", typ: typeFile, mode: 0o644, size: 12, mtime: 1700000001},
		{path: "it's", typ: typeSymlink, mode: 0o777, mtime: 1700000002, link: "../x"},
		{path: "fifo", typ: typeOther, mode: 0o644, mtime: 1700000003},
	}, es)

	ag = cannedAgent("porter-list1 - - -\x00X\x00-\x00")
	_, es, exists, findOK, err = ag.readListing("list", 100)
	require.NoError(t, err)
	assert.False(t, exists)
	assert.True(t, findOK)
	assert.Empty(t, es)

	ag = cannedAgent("porter-list1 - - -\x00X\x001\x00")
	_, _, _, findOK, err = ag.readListing("list", 100)
	require.NoError(t, err)
	assert.False(t, findOK, "find failed: walk with SFTP")

	ag = cannedAgent("porter-list1 - - -\x00f\x00zzz\x000\x000\x00\x00p\x00X\x000\x00")
	_, _, _, _, err = ag.readListing("list", 100)
	assert.ErrorContains(t, err, "bad mode")

	_, _, _, _, err = cannedAgent("porter-list1 - - -\x00X\x00N\x00").readListing("list", 100)
	assert.EqualError(t, err, "list: /srv/app exists and is not a directory: remove it or choose another destination")

	_, err = parseHeader([]byte("porter-list1 tar"))
	assert.ErrorIs(t, err, remote.ErrShellBroken)
}

// TestReadListingRefusesNegativeSize is what FuzzReadListing found: a host
// listing a file of -1 bytes (which find never prints) is refused, as any
// malformed record is, rather than planned.
func TestReadListingRefusesNegativeSize(t *testing.T) {
	_, _, _, _, err := cannedAgent("porter-list1 - - -\x00f\x00644\x00-1\x000\x00\x00p\x00X\x000\x00").readListing("list", 100)
	assert.EqualError(t, err, `list: bad size "-1" for "p"`)
}

func TestReadListingRefusesNamesOutsideDst(t *testing.T) {
	// A host that lists names leading out of dst: refused before anything
	// is planned, let alone deleted.
	rec := func(name string) string { return "f\x00644\x001\x001700000000.0\x00\x00" + name + "\x00" }
	for name, want := range map[string]string{
		"../etc/passwd":  `the host listed "../etc/passwd": a name ".." in a listing: refused`,
		"a/../../x":      `the host listed "a/../../x": a name ".." in a listing: refused`,
		"/etc/passwd":    `the host listed "/etc/passwd": an absolute path: refused`,
		"a//b":           `the host listed "a//b": a name "" in a listing: refused`,
		"./a":            `the host listed "./a": a name "." in a listing: refused`,
		"x/..":           `the host listed "x/..": a name ".." in a listing: refused`,
		"\x1b[2Jevil/..": `the host listed "\x1b[2Jevil/..": a name ".." in a listing: refused`,
	} {
		_, _, _, _, err := cannedAgent("porter-list1 - - -\x00"+rec("ok")+rec(name)+"X\x000\x00").readListing("list", 100)
		assert.EqualError(t, err, "list: "+want, "%q", name)
	}
	// The number of entries is bounded.
	_, _, _, _, err := cannedAgent("porter-list1 - - -\x00"+rec("a")+rec("b")+rec("c")+"X\x000\x00").readListing("list", 2)
	assert.EqualError(t, err, "list: more than 2 entries (rsync.Options.MaxEntries)")
	for _, name := range []string{"..", ".", "", "a/b", "a\x00b"} {
		assert.Error(t, checkListedName(name), "%q", name)
	}
	assert.NoError(t, checkListedName("..a"))
	assert.NoError(t, checkListedName("a b"))
}

func TestWalkLocal(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "a", "empty"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "a", "f"), []byte("hi"), 0o640))
	require.NoError(t, os.MkdirAll(filepath.Join(src, ".git", "objects"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, ".porter"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink("/etc", filepath.Join(src, "etc")))
	m, err := newMatcher([]string{".git*"})
	require.NoError(t, err)
	es, err := walkLocal(context.Background(), src, m, (&Options{}).logger())
	require.NoError(t, err)
	var got []string
	for _, e := range es {
		got = append(got, e.typ.String()+" "+e.path+" "+e.link)
	}
	assert.Equal(t, []string{"directory  ", "directory a ", "directory a/empty ", "file a/f ", "symlink etc /etc"}, got)
	assert.Equal(t, uint32(0o640), es[3].mode)

	_, err = walkLocal(context.Background(), filepath.Join(src, "a", "f"), m, (&Options{}).logger())
	assert.ErrorContains(t, err, "not a directory")
}
