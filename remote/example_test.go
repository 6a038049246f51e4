package remote_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/porter-deploy/porter/remote"
)

func ExampleDial() {
	ctx := context.Background()
	// "deploy@web1.example.com:2222", "web1", or a Host alias of ~/.ssh/config.
	h, err := remote.Dial(ctx, "deploy@web1.example.com")
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

	out, err := h.Run(ctx, "uname -a")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out.Stdout)
}

func ExampleHost_Run() {
	ctx := context.Background()
	h, err := remote.Dial(ctx, "web1")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	dir := "/srv/my app/releases/it's new"
	_, err = h.Run(ctx, "mkdir -p -- "+remote.Quote(dir))
	var exit *remote.ExitError
	if errors.As(err, &exit) {
		fmt.Println("mkdir failed with status", exit.Status, "and said:", exit.Stderr)
	}
}

func ExampleHost_SFTP() {
	ctx := context.Background()
	h, err := remote.Dial(ctx, "web1", remote.WithAcceptNewHostKeys())
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()

	c, err := h.SFTP(ctx) // the host's one client: do not Close it
	if err != nil {
		log.Fatal(err)
	}
	fi, err := c.Stat("/srv")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fi.Mode())
}

func ExampleQuote() {
	fmt.Println("rm -rf -- " + remote.Quote("/srv/it's here"))
	// Output: rm -rf -- '/srv/it'\''s here'
}
