package rsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/porter-deploy/porter/internal/localfs"
	"github.com/porter-deploy/porter/remote"
)

// hashLocal returns the SHA-256 (hex) of each file under src, hashed in
// parallel. Each is opened as the walk listed it (see openListed).
func hashLocal(ctx context.Context, src string, files []*entry, conc int) (map[string]string, error) {
	sums := make([]string, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(min(conc, runtime.GOMAXPROCS(0)))
	for i, e := range files {
		p := e.path
		g.Go(func() error {
			f, _, err := openListed(filepath.Join(src, filepath.FromSlash(p)), e)
			if err != nil {
				return fmt.Errorf("hash %w", err)
			}
			defer f.Close()
			s, err := hashReader(gctx, f)
			if err != nil {
				return fmt.Errorf("hash %s: %w", filepath.Join(src, filepath.FromSlash(p)), err)
			}
			sums[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(files))
	for i, e := range files {
		out[e.path] = sums[i]
	}
	return out, nil
}

// openListed opens the local file of e without following a symlink and
// checks that it is the file the walk listed (same device and inode): a
// file or a directory above it swapped for a symlink since the walk is an
// error wrapping [localfs.ErrChanged], and nothing of what is there now is
// read.
func openListed(path string, e *entry) (*os.File, fs.FileInfo, error) {
	return localfs.OpenListed(path, localfs.Listed{ID: e.id, Size: e.size, MTime: e.mtime})
}

func hashReader(ctx context.Context, r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, r}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// hashRemote returns the SHA-256 of the files paths (of the listed sizes)
// under dst on the host: with sha256sum -z in the remote shell, or by
// reading them over SFTP when the host has no sha256sum -z, or when no
// shell is up yet and they come to no more than sftpHashBytes (reading
// them costs less than waiting for a login shell).
func (c *Changes) hashRemote(ctx context.Context, paths []string, sizes []int64) (map[string]string, error) {
	var total int64
	for _, n := range sizes {
		total += n
	}
	hooks := c.opts.testHooks()
	if total <= sftpHashBytes && (hooks.late || !hooks.useShell && (c.pa == nil || !c.pa.ready())) {
		c.log.Debug("sync checksums: read over SFTP (no remote shell up yet)", "files", len(paths), "bytes", total)
		return c.hashRemoteSFTP(ctx, paths, sizes)
	}
	ag, err := c.agent(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// No remote shell on this host (an SFTP-only account, a login
		// shell that fails): they are read over SFTP.
		c.log.Debug("sync checksums: read over SFTP (no remote shell)", "files", len(paths), "bytes", total, "err", err)
		return c.hashRemoteSFTP(ctx, paths, sizes)
	}
	if ag.caps.sha256sum {
		return c.hashRemoteShell(ctx, ag, paths)
	}
	return c.hashRemoteSFTP(ctx, paths, sizes)
}

// sftpHashBytes bounds what is read over SFTP to hash, rather than wait
// for a remote shell that is not up: at 100 Mbit/s, 1 MiB takes about
// what a login shell with rbenv, pyenv or nvm in .bashrc costs.
const sftpHashBytes = 1 << 20

func (c *Changes) hashRemoteShell(ctx context.Context, ag *agent, paths []string) (map[string]string, error) {
	what := fmt.Sprintf("hash files in %s on %s", c.dst, c.hostName())
	var b strings.Builder
	b.WriteString(`(cd -P -- "$D"`)
	for rest := paths; len(rest) > 0; {
		b.WriteString(" && sha256sum -z --")
		for n := 0; len(rest) > 0 && n < maxArgs; rest = rest[1:] {
			q := " " + quote("./"+rest[0])
			b.WriteString(q)
			n += len(q)
		}
	}
	b.WriteString(`); printf 'X\0%s\0' "$?"`)
	if err := ag.send(b.String()); err != nil {
		return nil, ag.fail(what, err)
	}
	sums := make(map[string]string, len(paths))
	for {
		rec, err := ag.field()
		if err != nil {
			return nil, ag.fail(what, err)
		}
		if string(rec) == "X" {
			st, err := ag.field()
			if err != nil {
				return nil, ag.fail(what, err)
			}
			ag.replied()
			if string(st) != "0" {
				return nil, fmt.Errorf("%s: sha256sum failed (status %s): %s", what, remote.Printable(string(st)), ag.stderr())
			}
			break
		}
		// "<64 hex>  ./path" (or " *./path" in binary mode)
		if len(rec) < 64+4 || rec[64] != ' ' {
			return nil, fmt.Errorf("%s: unexpected sha256sum output %s", what, remote.Printable(fmt.Sprintf("%.100q", rec)))
		}
		if len(sums) >= len(paths) {
			return nil, fmt.Errorf("%s: more checksums than files asked for", what)
		}
		sums[strings.TrimPrefix(string(rec[66:]), "./")] = string(rec[:64])
	}
	for _, p := range paths {
		if _, ok := sums[p]; !ok {
			return nil, fmt.Errorf("hash %s on %s: no checksum from sha256sum", joinRemote(c.dst, p), c.hostName())
		}
	}
	return sums, nil
}

// hashRemoteSFTP hashes the files by reading them over SFTP, each at most
// one byte past its listed size: a file that grew since differs anyway,
// and a host cannot make the deployer read without end.
func (c *Changes) hashRemoteSFTP(ctx context.Context, paths []string, sizes []int64) (map[string]string, error) {
	cl, err := c.h.SFTP(ctx)
	if err != nil {
		return nil, fmt.Errorf("hash files in %s on %s: open sftp: %w", c.dst, c.h.Name(), err)
	}
	var mu sync.Mutex
	sums := make(map[string]string, len(paths))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.concurrency())
	for i, p := range paths {
		g.Go(func() error {
			full := joinRemote(c.dst, p)
			f, err := cl.Open(full)
			if err != nil {
				return fmt.Errorf("hash %s on %s: %w", full, c.h.Name(), err)
			}
			defer f.Close()
			s, err := hashReader(gctx, io.LimitReader(f, sizes[i]+1))
			if err != nil {
				return fmt.Errorf("hash %s on %s: %w", full, c.h.Name(), err)
			}
			mu.Lock()
			sums[p] = s
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return sums, nil
}
