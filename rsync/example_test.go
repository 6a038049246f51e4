package rsync_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/rsync"
)

// ExampleSync syncs a build directory to a host. The host here is
// portertest's in-process server, so that the example runs; a real one is
// remote.Dial(ctx, "deploy@web1.example.com").
func ExampleSync() {
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

	dir, err := os.MkdirTemp("", "rsync-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	build, app := filepath.Join(dir, "build"), filepath.Join(dir, "srv", "app")
	writeFiles(build, map[string]string{
		"app.py":              "print('hello')\n",
		"app.pyc":             "compiled",
		"lib/util.py":         "def util(): pass\n",
		".git/HEAD":           "ref: refs/heads/main\n",
		"node_modules/x/x.js": "x",
	})
	writeFiles(app, map[string]string{"old.txt": "from an earlier release"})

	opts := rsync.Options{
		Exclude: []string{".git*", "*.pyc", "node_modules/"},
		Delete:  true,
	}
	stats, err := rsync.Sync(ctx, h, build, app, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stats.Sent, "files sent,", stats.Deleted, "deleted")

	stats, err = rsync.Sync(ctx, h, build, app, opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stats.Sent, "files sent,", stats.Unchanged, "unchanged")
	// Output:
	// 2 files sent, 1 deleted
	// 0 files sent, 2 unchanged
}

// ExamplePlan decides, shows what it would change, then applies. The host
// here is portertest's in-process server, so that the example runs.
func ExamplePlan() {
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

	dir, err := os.MkdirTemp("", "rsync-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	build, app := filepath.Join(dir, "build"), filepath.Join(dir, "app")
	writeFiles(build, map[string]string{"app.py": "print('hello, world')\n", "static/site.css": "body {}\n"})
	writeFiles(app, map[string]string{"app.py": "print('hello')\n", "old.txt": "x"})
	// Both tops with the same mtime: only what they hold differs.
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, d := range []string{build, app} {
		if err := os.Chtimes(d, when, when); err != nil {
			log.Fatal(err)
		}
	}

	// Decide...
	changes, err := rsync.Plan(ctx, h, build, app, rsync.Options{Delete: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range changes.List() {
		fmt.Println(c)
	}
	// ...then do.
	stats, err := changes.Apply(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stats)
	// Output:
	// delete old.txt (extraneous)
	// send app.py (size)
	// mkdir static (new)
	// send static/site.css (new)
	// 2 files, 1 dirs, 0 symlinks: 2 sent (30 bytes), 0 unchanged, 0 attrs set, 1 dirs created, 1 deleted
}

// writeFiles writes files (slash-separated path -> content) under root.
func writeFiles(root string, files map[string]string) {
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// ExampleOptions_basis brings an old copy of a tree (a release to reuse)
// up to date: what the live copy already has is copied on the host, from
// Basis, and only what it lacks is sent. The host here is portertest's
// in-process server, so that the example runs.
func ExampleOptions_basis() {
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
	dir, err := os.MkdirTemp("", "rsync-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	build := filepath.Join(dir, "build")
	old, live := filepath.Join(dir, "releases", "1"), filepath.Join(dir, "releases", "2")

	writeFiles(build, map[string]string{"app.py": "v1\n", "lib.py": "lib\n"})
	if _, err := rsync.Sync(ctx, h, build, old, rsync.Options{}); err != nil {
		log.Fatal(err)
	}
	writeFiles(build, map[string]string{"app.py": "version 2\n"})
	if _, err := rsync.Sync(ctx, h, build, live, rsync.Options{}); err != nil {
		log.Fatal(err)
	}
	writeFiles(build, map[string]string{"new.py": "new\n"})

	// old lacks app.py's version 2 (live has it) and new.py (nobody has).
	stats, err := rsync.Sync(ctx, h, build, old, rsync.Options{Delete: true, Basis: live})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stats.Sent, "files written:", stats.Copied, "copied from live on the host,", stats.BytesSent, "bytes sent")
	// Output:
	// 2 files written: 1 copied from live on the host, 4 bytes sent
}
