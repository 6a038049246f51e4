package scm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// dirSource is dir://PATH: a local directory, such as build output, shipped
// as it is. Its version is a hash of its content.
type dirSource struct {
	url  string
	path string // absolute, cleaned
}

func newDir(rawURL, rest, moduleDir string) (Source, error) {
	if rest == "" {
		return nil, fmt.Errorf("scm url %q (module %s): no directory: write dir://PATH, PATH relative to the module dir or absolute", rawURL, moduleDir)
	}
	p := filepath.FromSlash(rest)
	if !filepath.IsAbs(p) {
		p = filepath.Join(moduleDir, p)
	}
	return &dirSource{url: rawURL, path: filepath.Clean(p)}, nil
}

var _ Source = (*dirSource)(nil)

// Scheme returns "dir".
func (s *dirSource) Scheme() string { return "dir" }

// String returns the url.
func (s *dirSource) String() string { return s.url }

// Check reports whether the directory exists and is one.
func (s *dirSource) Check(Release) error {
	fi, err := os.Stat(s.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("scm url %s: directory %s does not exist: build it first or fix [scm] url: %w", s.url, s.path, err)
		}
		return fmt.Errorf("scm url %s: %w", s.url, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("scm url %s: %s is not a directory: dir:// names a directory to ship", s.url, s.path)
	}
	return nil
}

// Checkout checks that the directory exists and hashes its tree, reading
// only the files that changed since the last hash ([HashDirCached] with
// [DefaultDirCache]; see the package documentation). Dir is the
// directory with symbolic links resolved, so that a walker that does not
// follow links (as rsync does not) still sees its content.
func (s *dirSource) Checkout(ctx context.Context, rel Release) (Checkout, error) {
	if err := s.Check(rel); err != nil {
		return Checkout{}, err
	}
	root, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return Checkout{}, fmt.Errorf("scm url %s: %w", s.url, err)
	}
	// The stamp comes from the hash's walk: each entry's lstat is taken
	// before its content is read.
	sum, stamp, _, err := hashDirCached(ctx, root, DefaultDirCache(), time.Now())
	if err != nil {
		return Checkout{}, fmt.Errorf("scm url %s: hash %s: %w", s.url, root, err)
	}
	return Checkout{Dir: root, Version: sum, Ref: "dir " + s.path + " @ " + sum[:len("sha256:")+12], Stamp: stamp}, nil
}

// StatDir returns a digest of what lstat says of every entry under root
// (path, type and mode, size, modification time, inode where there is
// one), without reading any file: a file added, removed, replaced or
// written since an earlier StatDir changes it. Directories named .git are
// left out, as HashDir leaves them.
func StatDir(ctx context.Context, root string) (string, error) {
	tree, err := walkTree(ctx, root)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, w := range tree {
		stampEntry(h, w.rel, w.info)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// stampEntry writes StatDir's line for one entry (rel: relative to the
// root, in the system's form; "." for the root).
func stampEntry(h hash.Hash, rel string, info fs.FileInfo) {
	var buf [160]byte
	b := strconv.AppendInt(buf[:0], int64(len(rel)), 10)
	b = append(b, ':')
	b = append(b, rel...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(info.Mode()), 8)
	b = append(b, ' ')
	b = strconv.AppendInt(b, info.Size(), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, info.ModTime().UnixNano(), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, inode(info), 10)
	b = append(b, '\n')
	h.Write(b)
}

// entry is one node of a hashed tree.
type entry struct {
	rel    string      // slash-separated path relative to the root; "." is the root
	mode   fs.FileMode // type and permission bits
	data   string      // symlink target, or hex sha256 of a regular file's content
	key    fileKey     // a regular file's stat, for the cache
	hasKey bool
}

// HashDir returns "sha256:<hex>", a hash of the tree under root that changes
// when any path, file type, permission bit, symlink target or byte of file
// content changes, and depends on nothing else (not on mtimes, owners or the
// order the file system lists a directory in). Directories named .git are
// left out, as they are never shipped. Symbolic links are hashed as links,
// never followed. Regular files are read in parallel by a bounded number of
// workers; HashDir stops when ctx ends.
func HashDir(ctx context.Context, root string) (string, error) {
	sum, _, _, err := hashDir(ctx, root, nil, nil)
	return sum, err
}

// hashDir is HashDir taking the sums of unchanged files from old and
// putting every regular file's key and sum in fresh (either may be nil);
// it also returns the StatDir of root, from the same walk.
func hashDir(ctx context.Context, root string, old, fresh *dirCache) (sum, stampSum string, st hashStats, _ error) {
	tree, err := walkTree(ctx, root)
	if err != nil {
		return "", "", st, err
	}
	entries := make([]entry, 0, len(tree))
	stamp := sha256.New()
	for _, w := range tree {
		stampEntry(stamp, w.rel, w.info)
		e := entry{rel: filepath.ToSlash(w.rel), mode: w.info.Mode()}
		switch {
		case e.mode&fs.ModeSymlink != 0:
			if e.data, err = os.Readlink(filepath.Join(root, w.rel)); err != nil {
				return "", "", st, err
			}
		case e.mode.IsRegular() && fresh != nil:
			var hit bool
			e.key, e.data, hit = old.lookup(e.rel, w.info)
			e.hasKey = e.key != fileKey{}
			if hit {
				st.Cached++
			}
		}
		entries = append(entries, e)
	}

	read, err := hashFiles(ctx, root, entries)
	st.Read = read
	if err != nil {
		return "", "", st, err
	}

	h := sha256.New()
	for _, e := range entries {
		writeEntry(h, e)
		if e.hasKey {
			fresh.Files[e.rel] = cachedFile{Key: e.key, Sum: e.data}
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(stamp.Sum(nil)), st, nil
}

// writeEntry writes one length-prefixed record, so that no two different
// trees write the same byte stream.
func writeEntry(h hash.Hash, e entry) {
	var typ string
	switch {
	case e.mode.IsRegular():
		typ = "f"
	case e.mode.IsDir():
		typ = "d"
	case e.mode&fs.ModeSymlink != 0:
		typ = "l"
	default:
		typ = "o" // device, socket, pipe: recorded, never read
	}
	perm := e.mode.Perm()
	if typ == "l" {
		perm = 0 // link permissions mean nothing on most systems
	}
	for _, field := range []string{e.rel, typ, strconv.FormatUint(uint64(perm), 8), e.data} {
		io.WriteString(h, strconv.Itoa(len(field)))
		io.WriteString(h, ":")
		io.WriteString(h, field)
	}
	io.WriteString(h, "\n")
}

// hashFiles fills in data of every regular file that has none with the
// hex sha256 of its content, using at most GOMAXPROCS workers, and returns
// how many it read.
func hashFiles(ctx context.Context, root string, entries []entry) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	workers := min(runtime.GOMAXPROCS(0), 16)
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for i := range jobs {
				sum, err := hashFile(ctx, filepath.Join(root, filepath.FromSlash(entries[i].rel)), buf)
				if err != nil {
					fail(err)
					continue // drain
				}
				entries[i].data = sum
			}
		}()
	}
	read := 0
send:
	for i := range entries {
		if !entries[i].mode.IsRegular() || entries[i].data != "" {
			continue
		}
		select {
		case jobs <- i:
			read++
		case <-ctx.Done():
			break send
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return read, firstErr
	}
	return read, ctx.Err()
}

// hashFile returns the hex sha256 of a file's content, checking ctx between
// blocks.
func hashFile(ctx context.Context, name string, buf []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	for {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
