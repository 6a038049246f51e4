package scm

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
)

// walked is one entry of a tree: its path relative to the root (in the
// system's form, "." for the root) and its lstat.
type walked struct {
	rel  string
	info fs.FileInfo
}

// walkTree lstats root and everything under it, reading directories in
// parallel, leaving out directories named .git below root (and what they
// hold), and returns the entries sorted by path in slash form. The first
// error (a directory that cannot be read, an entry gone before its lstat)
// or the end of ctx stops it.
func walkTree(ctx context.Context, root string) ([]walked, error) {
	info, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	w := &treeWalker{ctx: ctx, root: root, sem: make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0)))}
	w.out = append(w.out, walked{rel: ".", info: info})
	if info.IsDir() {
		w.dir("")
		w.wg.Wait()
	}
	if w.err != nil {
		return nil, w.err
	}
	slash := make([]string, len(w.out))
	for i := range w.out {
		slash[i] = filepath.ToSlash(w.out[i].rel)
	}
	sort.Sort(bySlash{w.out, slash})
	return w.out, nil
}

type treeWalker struct {
	ctx  context.Context
	root string
	sem  chan struct{} // bounds the goroutines reading directories
	wg   sync.WaitGroup

	mu  sync.Mutex
	out []walked
	err error
}

// dir reads the directory rel ("" for the root), then walks each of its
// subdirectories in a goroutine of its own while one of sem's slots is
// free, else at once: at most cap(sem) goroutines read at a time.
func (w *treeWalker) dir(rel string) {
	subs, err := w.read(rel)
	if err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
		return
	}
	for _, s := range subs {
		select {
		case w.sem <- struct{}{}:
			w.wg.Add(1)
			go func() {
				defer func() { <-w.sem; w.wg.Done() }()
				w.dir(s)
			}()
		default:
			w.dir(s)
		}
	}
}

// read lstats the entries of directory rel and returns its subdirectories
// to walk.
func (w *treeWalker) read(rel string) ([]string, error) {
	w.mu.Lock()
	failed := w.err != nil
	w.mu.Unlock()
	if failed {
		return nil, nil
	}
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(w.root, rel))
	if err != nil {
		return nil, err
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	var subs []string
	found := make([]walked, 0, len(des))
	for _, de := range des {
		if de.IsDir() && de.Name() == ".git" {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return nil, err
		}
		child := filepath.Join(rel, de.Name())
		found = append(found, walked{rel: child, info: info})
		if info.IsDir() {
			subs = append(subs, child)
		}
	}
	w.mu.Lock()
	w.out = append(w.out, found...)
	w.mu.Unlock()
	return subs, nil
}

// bySlash sorts entries by their paths in slash form.
type bySlash struct {
	e     []walked
	slash []string
}

func (s bySlash) Len() int           { return len(s.e) }
func (s bySlash) Less(i, j int) bool { return s.slash[i] < s.slash[j] }
func (s bySlash) Swap(i, j int) {
	s.e[i], s.e[j] = s.e[j], s.e[i]
	s.slash[i], s.slash[j] = s.slash[j], s.slash[i]
}
