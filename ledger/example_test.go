package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

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
