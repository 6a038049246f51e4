package remote_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

func ExampleDial() {
	// A test server stands in for the host; a deploy dials
	// "deploy@web1.example.com:2222", "web1", or a Host alias of
	// ~/.ssh/config, with no options.
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	ctx := context.Background()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		var hke *remote.HostKeyError
		if errors.As(err, &hke) {
			// Unknown or changed host key: the message has the fingerprint
			// and the fix.
			log.Fatal(hke)
		}
		log.Fatal(err)
	}
	defer h.Close()

	out, err := h.Run(ctx, "echo hello from the host")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out.Stdout)
	// Output: hello from the host
}

func ExampleHost_Run() {
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	// Commands start in the login directory; values go through Quote.
	dir := "releases/it's new"
	out, err := h.Run(ctx, "mkdir -p -- "+remote.Quote(dir)+" && ls releases")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out.Stdout)

	_, err = h.Run(ctx, "echo 'no space left on device' >&2; exit 28")
	var exit *remote.ExitError
	if errors.As(err, &exit) {
		fmt.Printf("status %d: %s", exit.Status, exit.Stderr)
	}
	// Output:
	// it's new
	// status 28: no space left on device
}

func ExampleHost_SFTP() {
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	c, err := h.SFTP(ctx) // the host's one client: do not Close it
	if err != nil {
		log.Fatal(err)
	}
	f, err := c.Create("motd") // relative paths are relative to the login directory
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(f, "deployed by porter")
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	out, err := h.Run(ctx, "cat motd")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out.Stdout)
	// Output: deployed by porter
}

func ExampleHost_ListDir() {
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Run(ctx, "mkdir -p app/static && echo 'print(1)' > app/main.py && chmod 755 app/static && chmod 644 app/main.py"); err != nil {
		log.Fatal(err)
	}

	entries, err := h.ListDir(ctx, "app", 10_000) // a host listing more is an error
	if err != nil {
		log.Fatal(err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		if e.IsDir() {
			fmt.Println(e.Name(), "directory", e.Mode().Perm())
		} else {
			fmt.Println(e.Name(), e.Size(), "bytes", e.Mode().Perm())
		}
	}
	// Output:
	// main.py 9 bytes -rw-r--r--
	// static directory -rwxr-xr-x
}

func ExampleQuote() {
	fmt.Println("rm -rf -- " + remote.Quote("/srv/it's here"))
	// Output: rm -rf -- '/srv/it'\''s here'
}

func ExampleHost_CopyFiles() {
	srv, err := portertest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	h, err := remote.Dial(ctx, srv.Address(), srv.DialOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	// The test server's files are this machine's.
	dir, err := os.MkdirTemp("", "porter-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	from := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(from, []byte("listen 8080\n"), 0o640); err != nil {
		log.Fatal(err)
	}
	fi, err := os.Lstat(from)
	if err != nil {
		log.Fatal(err)
	}

	// The copy is made only if app.conf is still what was looked up.
	to := filepath.Join(dir, "app.conf.new")
	err = h.CopyFiles(ctx, dir, dir, []remote.FileCopy{{From: "app.conf", To: "app.conf.new", Size: fi.Size(), Mtime: fi.ModTime(), Mode: fi.Mode()}})
	if errors.Is(err, remote.ErrNoServerCopy) {
		// OpenSSH before 9.0, and this test server: copy another way.
		fmt.Println("the SFTP server cannot copy: cp on the host")
		_, err = h.Run(ctx, "cp -p -- "+remote.Quote(from)+" "+remote.Quote(to))
	}
	if err != nil {
		log.Fatal(err)
	}
	b, err := os.ReadFile(to)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(b))
	// Output:
	// the SFTP server cannot copy: cp on the host
	// listen 8080
}
