package scm_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/porter-deploy/porter/scm"
)

// A module whose scm url is none:// ships nothing; its version comes from
// the release section. A dir:// module ships a local directory and is
// versioned by a hash of its content. A git:// module works the same way:
// Checkout clones into <module>/repo and Version is the commit id.
func Example() {
	ctx := context.Background()

	src, err := scm.New("none://", "/srv/project/root")
	if err != nil {
		log.Fatal(err)
	}
	co, err := src.Checkout(ctx, scm.Release{Name: "stable", Version: "1.4.2"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: version %s, dir %q\n", src.Scheme(), co.Version, co.Dir)

	moduleDir, _ := os.MkdirTemp("", "module")
	defer os.RemoveAll(moduleDir)
	os.MkdirAll(filepath.Join(moduleDir, "build"), 0o755)
	os.WriteFile(filepath.Join(moduleDir, "build", "index.html"), []byte("<h1>hi</h1>\n"), 0o644)

	src, err = scm.New("dir://build", moduleDir)
	if err != nil {
		log.Fatal(err)
	}
	co, err = src.Checkout(ctx, scm.Release{Name: "stable"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: dir %s, version %s...\n", src.Scheme(), filepath.Base(co.Dir), co.Version[:len("sha256:")])

	_, err = scm.New("svn://svn.example.com/repo", moduleDir)
	fmt.Println(errors.Is(err, scm.ErrUnknownScheme))
	// Output:
	// none: version 1.4.2, dir ""
	// dir: dir build, version sha256:...
	// true
}

// Check finds what Checkout would refuse without fetching or reading
// anything: a deploy makes it before it dials its hosts.
func ExampleSource_Check() {
	moduleDir, _ := os.MkdirTemp("", "module")
	defer os.RemoveAll(moduleDir)

	src, err := scm.New("dir://build", moduleDir)
	if err != nil {
		log.Fatal(err)
	}
	err = src.Check(scm.Release{Name: "stable"})
	fmt.Println(errors.Is(err, fs.ErrNotExist))

	src, err = scm.New("none://", moduleDir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(src.Check(scm.Release{Name: "stable"}))
	fmt.Println(src.Check(scm.Release{Name: "stable", Version: "1.4.2"}))
	// Output:
	// true
	// release "stable" of none://: set version in [release:stable]
	// <nil>
}
