package portertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/porter-deploy/porter/remote"
)

// Fleet is several Servers that one set of dial options reaches: they take
// one client key, and one known_hosts file lists every server's host key,
// as a team's machines would with one deploy key.
type Fleet struct {
	Servers   []*Server
	dir       string
	keyFile   string
	knownFile string
}

// StartFleet starts one server per entry of homes, each with that login
// directory ("" = a new one removed by Close) and opts. Call Close when
// done. Most tests want [NewFleet].
func StartFleet(homes []string, opts ...ServerOption) (*Fleet, error) {
	dir, err := os.MkdirTemp("", "portertest-fleet-")
	if err != nil {
		return nil, fmt.Errorf("portertest: %w", err)
	}
	f := &Fleet{dir: dir, keyFile: filepath.Join(dir, "id_ed25519"), knownFile: filepath.Join(dir, "known_hosts")}
	if err := f.start(homes, opts); err != nil {
		f.Close()
		return nil, fmt.Errorf("portertest: %w", err)
	}
	return f, nil
}

func (f *Fleet) start(homes []string, opts []ServerOption) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "portertest fleet client")
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return err
	}
	var known []byte
	for _, home := range homes {
		o := options{user: currentUser()}
		for _, opt := range opts {
			opt(&o)
		}
		o.home, o.clientKey = home, priv
		sdir, err := os.MkdirTemp(f.dir, "server-")
		if err != nil {
			return err
		}
		s, err := start(sdir, o)
		if err != nil {
			return err
		}
		f.Servers = append(f.Servers, s)
		for _, k := range s.hostKeys {
			known = append(known, knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, k.PublicKey())+"\n"...)
		}
	}
	return os.WriteFile(f.knownFile, known, 0o600)
}

// NewFleet starts n servers with opts and closes them when the test ends.
// It calls tb.Fatal if one cannot start, so call it from the test's
// goroutine.
func NewFleet(tb testing.TB, n int, opts ...ServerOption) *Fleet {
	tb.Helper()
	f, err := StartFleet(make([]string, n), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(f.Close)
	return f
}

// DialOptions returns the remote options that trust exactly the fleet's
// servers and log in with its client key, taking nothing from the
// environment (see [Server.DialOptions]).
func (f *Fleet) DialOptions() []remote.Option {
	return append(TrustOnly(f.knownFile, f.keyFile), remote.WithCommandAnnouncements())
}

// Addresses returns each server's address by the name names[i] gives it,
// for porter.Target.Addresses.
func (f *Fleet) Addresses(names ...string) map[string]string {
	out := map[string]string{}
	for i, n := range names {
		if i < len(f.Servers) {
			out[n] = f.Servers[i].Address()
		}
	}
	return out
}

// Close stops every server.
func (f *Fleet) Close() {
	for _, s := range f.Servers {
		s.Close()
	}
	os.RemoveAll(f.dir)
}
