package rsync

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/porter-deploy/porter/internal/localfs"
)

type ftype uint8

const (
	typeFile ftype = iota + 1
	typeDir
	typeSymlink
	typeOther // FIFO, socket, device...
)

func (t ftype) String() string {
	switch t {
	case typeFile:
		return "file"
	case typeDir:
		return "directory"
	case typeSymlink:
		return "symlink"
	}
	return "special file"
}

// entry is one file, directory or symlink of a tree.
type entry struct {
	path  string // relative, "/"-separated; "" is the top of the tree
	typ   ftype
	mode  uint32 // permission bits with setuid/setgid/sticky (07777)
	size  int64
	mtime int64 // Unix seconds
	link  string
	id    localfs.ID // local files: device and inode the walk saw (zero for remote entries)
}

// fileMode converts Unix mode bits back to a FileMode.
func fileMode(p uint32) fs.FileMode {
	m := fs.FileMode(p & 0o777)
	if p&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if p&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if p&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func entryFromInfo(rel string, fi fs.FileInfo) entry {
	e := entry{path: rel, mode: localfs.UnixPerm(fi.Mode()), mtime: fi.ModTime().Unix(), id: localfs.IDOf(fi)}
	switch {
	case fi.Mode().IsRegular():
		e.typ = typeFile
		e.size = fi.Size()
	case fi.IsDir():
		e.typ = typeDir
	case fi.Mode()&fs.ModeSymlink != 0:
		e.typ = typeSymlink
	default:
		e.typ = typeOther
	}
	return e
}

// walkLocal lists the tree under src, parents before children (depth
// first, names sorted), the top first (path ""). Excluded entries are left
// out, and so is what an excluded directory holds. Symlinks are listed,
// never followed (src itself may be a symlink to a directory). Directories
// are read in parallel: a walk is mostly lstat calls.
func walkLocal(ctx context.Context, src string, m *matcher, log *slog.Logger) ([]entry, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", src, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("source %s is not a directory: give the directory whose contents to sync", src)
	}
	w := &walker{ctx: ctx, m: m, log: log, sem: make(chan struct{}, 8)}
	sub, err := w.dir(src, "")
	if err != nil {
		return nil, err
	}
	return append([]entry{entryFromInfo("", fi)}, sub...), nil
}

type walker struct {
	ctx context.Context
	m   *matcher
	log *slog.Logger
	sem chan struct{} // bounds the goroutines reading directories
}

// dir returns what the directory abs (rel in the tree) holds, depth first.
func (w *walker) dir(abs, rel string) ([]entry, error) {
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	des, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("read source directory %s: %w", abs, err)
	}
	type sub struct {
		at      int // index in es of the directory's own entry
		entries []entry
		err     error
		done    chan struct{}
	}
	es := make([]entry, 0, len(des))
	var subs []*sub
	for _, de := range des {
		r := de.Name()
		if rel != "" {
			r = rel + "/" + r
		}
		if w.m.excluded(r, de.IsDir()) {
			continue
		}
		p := filepath.Join(abs, de.Name())
		info, err := de.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // vanished while walking
			}
			return nil, fmt.Errorf("read source %s: %w", p, err)
		}
		e := entryFromInfo(r, info)
		switch e.typ {
		case typeSymlink:
			if e.link, err = os.Readlink(p); err != nil {
				return nil, fmt.Errorf("read symlink %s: %w", p, err)
			}
		case typeOther:
			w.log.Warn("skip special file (not a file, directory or symlink)", "path", p)
			continue
		case typeDir:
			s := &sub{at: len(es), done: make(chan struct{})}
			subs = append(subs, s)
			select {
			case w.sem <- struct{}{}:
				go func() {
					defer close(s.done)
					s.entries, s.err = w.dir(p, r)
					<-w.sem
				}()
			default:
				s.entries, s.err = w.dir(p, r)
				close(s.done)
			}
		}
		es = append(es, e)
	}
	if len(subs) == 0 {
		return es, nil
	}
	var firstErr error
	n := len(es)
	for _, s := range subs {
		<-s.done
		if s.err != nil && firstErr == nil {
			firstErr = s.err
		}
		n += len(s.entries)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	out := make([]entry, 0, n)
	last := 0
	for _, s := range subs {
		out = append(out, es[last:s.at+1]...)
		out = append(out, s.entries...)
		last = s.at + 1
	}
	return append(out, es[last:]...), nil
}
