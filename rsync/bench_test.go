package rsync

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/porter-deploy/porter/internal/bench/tree"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// Benchmarks of the sync engine against portertest's in-process server:
//
//	go test -run XXX -bench . -benchmem ./rsync
//
// The side-by-side comparison with rsync, tar and scp over OpenSSH is
// internal/bench/syncbench.

var benchTree = tree.Spec{Files: 1000, Big: 1, Links: true}

func benchSetup(b *testing.B, spec tree.Spec) (h *remote.Host, src, dst string) {
	b.Helper()
	dir := b.TempDir()
	src, dst = filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := tree.Make(src, spec); err != nil {
		b.Fatal(err)
	}
	return portertest.NewServer(b).Dial(b), src, dst
}

func benchSync(b *testing.B, h *remote.Host, src, dst string, opts Options) Stats {
	b.Helper()
	st, err := Sync(context.Background(), h, src, dst, opts)
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkSyncFirst: 1,001 files (5.4 MB) into an empty directory.
func BenchmarkSyncFirst(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts Options
	}{{"tar", Options{}}, {"sftp", Options{SFTPOnly: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			h, src, dst := benchSetup(b, benchTree)
			var st Stats
			for b.Loop() {
				b.StopTimer()
				if err := os.RemoveAll(dst); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				st = benchSync(b, h, src, dst, mode.opts)
			}
			b.SetBytes(st.BytesSent)
			if err := tree.Compare(src, dst, true, ".git"); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkSyncNoop: nothing changed (list, compare, done).
func BenchmarkSyncNoop(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts Options
	}{{"size+mtime", Options{}}, {"checksum", Options{Checksum: true}}} {
		b.Run(mode.name, func(b *testing.B) {
			h, src, dst := benchSetup(b, benchTree)
			benchSync(b, h, src, dst, Options{})
			for b.Loop() {
				if st := benchSync(b, h, src, dst, mode.opts); st.Sent != 0 {
					b.Fatalf("sent %d", st.Sent)
				}
			}
		})
	}
}

// BenchmarkSyncOnePercent: 1% of the files changed before each sync.
func BenchmarkSyncOnePercent(b *testing.B) {
	h, src, dst := benchSetup(b, benchTree)
	benchSync(b, h, src, dst, Options{})
	seed := uint64(0)
	for b.Loop() {
		b.StopTimer()
		seed++
		n, err := tree.Touch(src, 1, seed)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if st := benchSync(b, h, src, dst, Options{}); st.Sent != n {
			b.Fatalf("sent %d, want %d", st.Sent, n)
		}
	}
	if err := tree.Compare(src, dst, true, ".git"); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWalkLocal: the local half of a plan.
func BenchmarkWalkLocal(b *testing.B) {
	_, src, _ := benchSetup(b, benchTree)
	m, _ := newMatcher([]string{".git*"})
	for b.Loop() {
		if _, err := walkLocal(context.Background(), src, m, (&Options{}).logger()); err != nil {
			b.Fatal(err)
		}
	}
}
