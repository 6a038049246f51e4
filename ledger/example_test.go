package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// A deploy step of your own under the module's lock, then the record.
func ExamplePlace_Lock() {
	ctx := context.Background()
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	dir, err := os.MkdirTemp("", "ledger-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	app := ledger.Place{Host: h, Module: "app", Path: dir}
	lock, err := app.Lock(ctx, ledger.Holder{By: "alice@laptop", Host: "prod"})
	if err != nil {
		log.Fatal(err)
	}
	// A second deploy meanwhile fails at once, naming the holder.
	_, err = app.Lock(ctx, ledger.Holder{By: "bob@desk", Host: "prod"})
	var le *ledger.LockedError
	fmt.Println(errors.As(err, &le), le.Lock.By)

	if err := app.WriteRecord(ctx, ledger.Record{Module: "app", Version: "v1.2.0", DeployedBy: "alice@laptop"}); err != nil {
		log.Fatal(err)
	}
	if err := lock.Release(ctx); err != nil {
		log.Fatal(err)
	}
	rec, err := app.Record(ctx)
	if err != nil {
		log.Fatal(err)
	}
	held, _ := app.ReadLock(ctx)
	fmt.Println(rec.Version, held == nil)
	// Output:
	// true alice@laptop
	// v1.2.0 true
}

// A new release made from the oldest one, renamed (nothing copied), as a
// deploy does once keep_releases releases exist; the current release is
// refused.
func ExamplePlace_RecycleRelease() {
	ctx := context.Background()
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	dir, err := os.MkdirTemp("", "ledger-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	app := ledger.Place{Host: h, Module: "app", Path: dir}
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	for d, id := range map[int]string{1: "20260101T000000Z-v1", 2: "20260102T000000Z-v2"} {
		if err := os.MkdirAll(filepath.Join(dir, ledger.ReleasesDir, id), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := app.SaveRelease(ctx, ledger.Release{ID: id, Version: "v" + fmt.Sprint(d), State: ledger.Good, Started: day(d)}); err != nil {
			log.Fatal(err)
		}
	}
	if err := app.Activate(ctx, "20260102T000000Z-v2"); err != nil {
		log.Fatal(err)
	}
	next := ledger.Release{ID: "20260103T000000Z-v3", Version: "v3", State: ledger.Building, Started: day(3)}
	if err := app.RecycleRelease(ctx, "20260101T000000Z-v1", next); err != nil {
		log.Fatal(err)
	}
	rels, err := app.Releases(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rels {
		fmt.Println(r.ID, r.State, r.Current)
	}
	err = app.RecycleRelease(ctx, "20260102T000000Z-v2", ledger.Release{ID: "20260104T000000Z-v4"})
	fmt.Println(err != nil)
	// Output:
	// 20260102T000000Z-v2 good true
	// 20260103T000000Z-v3 building false
	// true
}
