package rsync_test

import (
	"context"
	"fmt"
	"log"

	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/rsync"
)

func ExampleSync() {
	ctx := context.Background()
	h, err := remote.Dial(ctx, "deploy@web1.example.com")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	stats, err := rsync.Sync(ctx, h, "build", "/srv/app", rsync.Options{
		Exclude: []string{".git*", "*.pyc", "node_modules/"},
		Delete:  true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stats.Sent, "files sent,", stats.Deleted, "deleted")
}

func ExamplePlan() {
	ctx := context.Background()
	h, err := remote.Dial(ctx, "deploy@web1.example.com")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	// Decide...
	changes, err := rsync.Plan(ctx, h, "build", "/srv/app", rsync.Options{Delete: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes.List() {
		fmt.Println(c) // "send app.py (mtime)", "delete old.txt (extraneous)"...
	}
	// ...then do.
	if _, err := changes.Apply(ctx); err != nil {
		log.Fatal(err)
	}
}
