package scm

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	benchtree "github.com/porter-deploy/porter/internal/bench/tree"
)

// BenchmarkDirVersion is the version of a dir:// source of the issue's
// tree (5,005 files, 72 MB), hashed whole (as every deploy did before the
// cache) and with the cache of an earlier deploy, nothing changed, side by
// side in one run:
//
//	go test -run XXX -bench DirVersion -benchtime 20x ./scm
//
// The clock is put an hour ahead for the cached one: the tree was written
// by the benchmark a moment ago, and a real deploy's tree is older than
// the racy window (two seconds) that would have it read again.
func BenchmarkDirVersion(b *testing.B) {
	root := filepath.Join(b.TempDir(), "tree")
	if err := benchtree.Make(root, benchtree.Tree5k); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	want, err := HashDir(ctx, root)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("whole-tree", func(b *testing.B) {
		for b.Loop() {
			if sum, err := HashDir(ctx, root); err != nil || sum != want {
				b.Fatal(sum, err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		cache, later := b.TempDir(), time.Now().Add(time.Hour)
		if _, _, _, err := hashDirCached(ctx, root, cache, later); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			sum, _, st, err := hashDirCached(ctx, root, cache, later)
			if err != nil || sum != want || st.Read != 0 {
				b.Fatal(sum, st, err)
			}
		}
	})
}
