package scm

import (
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The dir:// cache: what HashDirCached remembers of a tree between two
// deploys, so that a file that did not change is not read again. It is the
// rule of git's index: a file is taken as unchanged when its size, mtime,
// inode and ctime are those it had when it was hashed, and a file whose
// mtime or ctime falls in the second the hash started (or the one before:
// file times come from the kernel's coarse clock, a few milliseconds
// behind) is "racy" and is not remembered, since a later write in the same
// clock tick would leave all four as they were.

// dirCacheFormat changes with the layout of dirCache.
const dirCacheFormat = 1

// dirCache is one tree's cache file.
type dirCache struct {
	Format int
	Root   string
	Files  map[string]cachedFile // by slash-separated path under Root
}

// cachedFile is what a file was when it was hashed.
type cachedFile struct {
	Key fileKey
	Sum string // hex sha256 of the content
}

// fileKey is what says a file is unchanged (see statKey).
type fileKey struct {
	Size           int64
	MtimeNs        int64
	CtimeNs        int64
	Ino            uint64
	MtimeS, CtimeS int64 // the seconds of MtimeNs and CtimeNs
}

// hashStats counts what a hash read, for tests.
type hashStats struct {
	Read, Cached int
}

// DefaultDirCache is where a dir:// source keeps its cache:
// os.UserCacheDir()/porter/dirhash ($XDG_CACHE_HOME/porter/dirhash, else
// ~/.cache/porter/dirhash on Linux). It is "" when there is no user cache
// dir (no HOME): then every deploy reads the whole tree.
func DefaultDirCache() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "porter", "dirhash")
}

// HashDirCached returns HashDir(ctx, root), reading only the files that
// changed since the last call for root with the same cacheDir: the others'
// hashes come from a cache file in cacheDir, one per root, rewritten when
// something changed. A missing, unreadable or corrupt cache file only costs
// the time to read the tree; so does a cache that cannot be written. An
// empty cacheDir hashes without a cache.
func HashDirCached(ctx context.Context, root, cacheDir string) (string, error) {
	sum, _, _, err := hashDirCached(ctx, root, cacheDir, time.Now())
	return sum, err
}

// hashDirCached is HashDirCached, also returning the StatDir of root
// taken by the same walk (each entry's lstat before its content is read)
// and what was read.
func hashDirCached(ctx context.Context, root, cacheDir string, now time.Time) (sum, stamp string, _ hashStats, _ error) {
	if cacheDir == "" {
		return hashDir(ctx, root, nil, nil)
	}
	file := cacheFile(cacheDir, root)
	old, found := readDirCache(file, root)
	fresh := &dirCache{Format: dirCacheFormat, Root: root, Files: map[string]cachedFile{}}
	sum, stamp, st, err := hashDir(ctx, root, old, fresh)
	if err != nil {
		return "", "", st, err
	}
	// Racy entries are left out: read again next time.
	cutoff := now.Unix() - 1
	for rel, f := range fresh.Files {
		if f.Key.MtimeS >= cutoff || f.Key.CtimeS >= cutoff {
			delete(fresh.Files, rel)
		}
	}
	if !found || !sameFiles(old.Files, fresh.Files) {
		writeDirCache(file, fresh) // best effort: see HashDirCached
	}
	return sum, stamp, st, nil
}

// cacheFile is root's cache file in dir: named by a hash of the path.
func cacheFile(dir, root string) string {
	h := sha256.Sum256([]byte(root))
	return filepath.Join(dir, hex.EncodeToString(h[:16])+".gob")
}

// readDirCache reads root's cache, or returns an empty one and false.
func readDirCache(file, root string) (*dirCache, bool) {
	empty := &dirCache{Files: map[string]cachedFile{}}
	f, err := os.Open(file)
	if err != nil {
		return empty, false
	}
	defer f.Close()
	var c dirCache
	if err := gob.NewDecoder(f).Decode(&c); err != nil || c.Format != dirCacheFormat || c.Root != root || c.Files == nil {
		return empty, false
	}
	return &c, true
}

// writeDirCache writes c to file atomically (a temporary name, then a
// rename), readable by the user alone.
func writeDirCache(file string, c *dirCache) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-*")
	if err != nil {
		return err
	}
	err = gob.NewEncoder(tmp).Encode(c)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return nil
}

func sameFiles(a, b map[string]cachedFile) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// lookup returns the cached sum of the regular file rel, if its key is
// the one cached.
func (c *dirCache) lookup(rel string, fi fs.FileInfo) (fileKey, string, bool) {
	key, ok := statKey(fi)
	if !ok {
		return key, "", false
	}
	if f, hit := c.Files[rel]; hit && f.Key == key {
		return key, f.Sum, true
	}
	return key, "", false
}
