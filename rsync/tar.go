package rsync

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter/internal/localfs"
)

// sendTar runs the prepare script followed by a remote `tar -x` through
// the agent and streams the new directories, files and links into it,
// until the end of the shell's stdin: the shell then exits (it is not
// given back to the pool).
func (a *applier) sendTar(ctx context.Context, ag *agent) error {
	c := a.c
	compress := c.opts.Compress && a.caps.gzip
	flags := "-x -p --no-same-owner -f -"
	if compress {
		flags = "-x -z -p --no-same-owner -f -"
	}
	// The shell's last program: tar reads the rest of its input, and an
	// exit (a refusal) ends the shell.
	prog := a.prepareScript() + "; tar " + flags + "; exit 0"
	what := "extract files into " + c.dst + " with tar"
	if err := ag.sendLast(prog); err != nil {
		ag.abort()
		return fmt.Errorf("%s: %w", what, err)
	}
	// From here on, ctx ending stops the writing and closes stdin, so the
	// remote tar sees the end of its input and exits before the staging
	// directory is removed; should the host not answer, the shell is
	// killed a little later.
	ag.stop()
	go io.Copy(io.Discard, ag.sh.Reader())
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-finished:
		case <-ctx.Done():
			t := time.NewTimer(5 * time.Second)
			defer t.Stop()
			select {
			case <-finished:
			case <-t.C:
				ag.sh.Kill()
			}
		}
	}()
	werr := a.writeTar(ctx, ag.sh, compress)
	ag.sh.CloseWrite()
	waitErr := ag.sh.Wait()
	close(finished)
	wg.Wait()
	ag.sh.Kill() // ended: out of the pool

	if err := ctx.Err(); err != nil {
		return err
	}
	var xe *ssh.ExitError
	var le *localError
	if errors.As(werr, &le) {
		return werr // the remote tar's complaint about the cut archive follows from it
	}
	if errors.As(waitErr, &xe) {
		return programError(what, strconv.Itoa(xe.ExitStatus()), ag.sh.StderrSince(ag.mark))
	}
	if werr != nil {
		return werr
	}
	if waitErr != nil {
		return fmt.Errorf("%s: %w", what, waitErr)
	}
	return nil
}

// sendTarShared runs the prepare script and a `tar -x` of the whole
// archive, built in memory (at most sharedBytes of content) and sent with
// its exact length, through a pooled shell that is then back in its loop
// (the host's shells are started once: a deploy's later syncs find one
// idle, without a login shell to wait for).
func (a *applier) sendTarShared(ctx context.Context, ag *agent) error {
	c := a.c
	what := "extract files into " + c.dst + " with tar"
	var buf bytes.Buffer
	buf.Grow(int(c.stats.BytesSent) + 1024*(len(a.staged)+len(a.newDirs)+2))
	if err := a.writeTar(ctx, &buf, false); err != nil {
		ag.release() // nothing sent: the shell is in its loop
		return err
	}
	// Whatever happens, head reads the whole archive and cat drains what
	// tar leaves: no byte of it is ever read as the shell's next program.
	// Nothing but the status goes to stdout.
	prog := captured("( " + a.prepareScript() + " ) </dev/null >&2; s=$?; head -c " + strconv.Itoa(buf.Len()) +
		` | ( if [ "$s" -eq 0 ]; then ( set -e; ` + shRefuse + "; " + shEnterDst + "; " + a.tarDir() +
		`; exec tar -x -p --no-same-owner -f - ); r=$?; else r=$s; fi; cat >/dev/null; exit "$r" ) >&2`)
	err := ag.send(prog)
	if err == nil {
		_, err = ag.sh.Write(buf.Bytes())
	}
	var failed error
	if err == nil {
		failed, err = ag.result(what)
	}
	if err != nil {
		ag.abort()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ag.fail(what, err)
	}
	ag.replied()
	ag.release()
	return failed
}

// writeTar writes the archive: new directories at their place, then the
// staged files and links under the staging directory.
func (a *applier) writeTar(ctx context.Context, w io.Writer, compress bool) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var out io.Writer = bw
	var zw *gzip.Writer
	if compress {
		zw, _ = gzip.NewWriterLevel(bw, gzip.BestSpeed)
		out = zw
	}
	tw := tar.NewWriter(out)
	buf := make([]byte, 128<<10)
	for _, it := range a.tarOrder() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if it.dir {
			e := &a.newDirs[it.i]
			mode := e.mode
			if a.subRoot[e.path] {
				mode |= 0o700 // writable and movable until renamed; its mode is set last
			}
			hdr := &tar.Header{
				Typeflag: tar.TypeDir,
				Name:     a.inStage(a.dirAt[e.path]) + "/",
				Mode:     int64(mode), // tar sets it once the directory is filled
				ModTime:  time.Unix(e.mtime, 0),
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("send directory %s: %w", e.path, err)
			}
			continue
		}
		e := &a.staged[it.i]
		name := a.inStage(a.stagedAt[it.i])
		if e.typ == typeSymlink {
			hdr := &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: e.link, Mode: 0o777, ModTime: time.Unix(e.mtime, 0)}
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("send symlink %s: %w", e.path, err)
			}
			a.wrote(1)
			continue
		}
		if err := a.tarFile(ctx, tw, name, e, buf); err != nil {
			return err
		}
		a.wrote(1)
	}
	if err := a.tarDirAttrs(tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// tarDirAttrs ends the archive, in place, with the directories of dst
// (but dst itself) whose mode or mtime is set: tar sets them once it has
// written all the rest, deepest first, where a rename would otherwise have
// changed them after the fact (setDirAttrs leaves them).
func (a *applier) tarDirAttrs(tw *tar.Writer) error {
	if !a.inPlace {
		return nil
	}
	var dirs []attrFix
	for _, f := range a.c.dirs {
		if f.e.path != "" && a.dirAt[f.e.path] == "" {
			dirs = append(dirs, f)
		}
	}
	sort.SliceStable(dirs, func(i, j int) bool { return depth(dirs[i].e.path) > depth(dirs[j].e.path) })
	for _, f := range dirs {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: f.e.path + "/", Mode: int64(f.e.mode), ModTime: time.Unix(f.e.mtime, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("send directory %s: %w", f.e.path, err)
		}
	}
	return nil
}

func (a *applier) tarFile(ctx context.Context, tw *tar.Writer, name string, e *entry, buf []byte) error {
	from := a.c.localPath(e.path)
	f, fi, err := openListed(from, e)
	if err != nil {
		return &localError{fmt.Errorf("send %w", err)}
	}
	defer f.Close()
	// What is sent is the file as it is now.
	size := fi.Size()
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     int64(localfs.UnixPerm(fi.Mode())),
		ModTime:  time.Unix(fi.ModTime().Unix(), 0),
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("send %s: %w", from, err)
	}
	r := &countingReader{ctx: ctx, r: io.LimitReader(f, size), a: a}
	n, err := io.CopyBuffer(tw, r, buf)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("send %s: %w", from, err)
	}
	if n != size {
		return fmt.Errorf("send %s: file shrank while being sent: run the sync again", from)
	}
	return nil
}

// localError is an error of the local side while an archive is written
// (a source file that changed): it comes first, whatever the remote tar
// says of the archive cut short.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

type tarItem struct {
	dir bool // a.newDirs[i], else a.staged[i]
	i   int
}

// tarOrder orders the archive depth first, a directory followed by all it
// holds: tar sets a directory's mtime once it has gone past it, so nothing
// may land in it afterwards.
func (a *applier) tarOrder() []tarItem {
	items := make([]tarItem, 0, len(a.newDirs)+len(a.staged))
	keys := make([]string, 0, cap(items))
	for i, e := range a.newDirs {
		items = append(items, tarItem{dir: true, i: i})
		keys = append(keys, e.path)
	}
	for i, e := range a.staged {
		if a.c.basis[e.path] {
			continue // copied on the host (basisSteps)
		}
		items = append(items, tarItem{i: i})
		keys = append(keys, e.path)
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
		keys[i] = strings.ReplaceAll(keys[i], "/", "\x00")
	}
	sort.Slice(idx, func(x, y int) bool { return keys[idx[x]] < keys[idx[y]] })
	out := make([]tarItem, len(items))
	for x, i := range idx {
		out[x] = items[i]
	}
	return out
}
