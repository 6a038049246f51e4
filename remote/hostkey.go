package remote

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is returned by [Dial] when the host's key is not trusted: the
// host is in no known_hosts file (Changed false), or one holds a different
// key for it (Changed true: perhaps a man-in-the-middle, perhaps a
// reinstalled host). Its message says which, with the fingerprint of the key
// the server offered and the fix. Test for it with errors.As.
type HostKeyError struct {
	// Host is the host:port checked against known_hosts. With a
	// HostKeyAlias it is the alias and port 22: OpenSSH stores and looks up
	// an alias as it is, without [alias]:port brackets.
	Host string
	// Addr is the host:port connected to (ssh_config's HostName and Port).
	Addr string
	// HostKeyAlias is ssh_config's HostKeyAlias for the host, "" = none.
	HostKeyAlias string
	// Key is the key the server offered.
	Key ssh.PublicKey
	// KeyType is Key's type, e.g. "ssh-ed25519".
	KeyType string
	// Fingerprint is Key's SHA256 fingerprint, as ssh-keygen -l prints it.
	Fingerprint string
	// Changed is true when known_hosts has other keys for Host.
	Changed bool
	// Revoked is true when the key is marked @revoked in known_hosts.
	Revoked bool
	// Known lists the keys known_hosts holds for Host (with file and line).
	Known []knownhosts.KnownKey
	// KnownHosts lists the known_hosts files that were read: the user's
	// (UserKnownHostsFile), then the global ones (GlobalKnownHostsFile);
	// when none exists, those that were looked for.
	KnownHosts []string
	// StrictHostKeyCheckingOff is true when ssh_config sets
	// StrictHostKeyChecking no (or off) for the host, which porter does not
	// honour: the key was checked as with yes.
	StrictHostKeyCheckingOff bool

	userFile string // the known_hosts file a new key goes to
}

// Error says whether the key is unknown, changed or revoked, gives the
// fingerprint of the offered key, and the command that fixes it.
func (e *HostKeyError) Error() string {
	file := e.userFile
	if file == "" && len(e.KnownHosts) > 0 {
		file = e.KnownHosts[0]
	}
	if file == "" {
		file = "~/.ssh/known_hosts"
	}
	addr := e.Addr
	if addr == "" {
		addr = e.Host
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "22"
	}
	name := e.Host // as in known_hosts, for messages and ssh-keygen -R
	if e.HostKeyAlias != "" {
		name = knownhosts.Normalize(e.Host)
	}
	shown := name
	if e.HostKeyAlias != "" && e.Addr != "" {
		shown = fmt.Sprintf("%s (HostKeyAlias of %s)", name, e.Addr)
	}
	var b strings.Builder
	switch {
	case e.Revoked:
		fmt.Fprintf(&b, "host key for %s is REVOKED in known_hosts: %s %s; refusing to connect", shown, e.KeyType, e.Fingerprint)
	case e.Changed:
		fmt.Fprintf(&b, "HOST KEY CHANGED for %s: the server offers %s %s but known_hosts has", shown, e.KeyType, e.Fingerprint)
		var files []string
		for i, k := range e.Known {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line)
			if !slices.Contains(files, k.Filename) {
				files = append(files, k.Filename)
			}
		}
		if len(files) == 0 {
			files = []string{file}
		}
		var fixes []string
		for _, f := range files {
			fixes = append(fixes, fmt.Sprintf("ssh-keygen -R %s -f %s", shellWord(knownhosts.Normalize(e.Host)), shellWord(f)))
		}
		fmt.Fprintf(&b, "; this is a possible man-in-the-middle attack, refusing to connect. "+
			"If the host was reinstalled, verify the new key out of band, then remove the old one: %s",
			strings.Join(fixes, "; "))
	default:
		where := "any known_hosts file"
		if len(e.KnownHosts) > 0 {
			where = strings.Join(e.KnownHosts, ", ")
		}
		add := fmt.Sprintf("ssh-keyscan -p %s %s >> %s", port, shellWord(host), shellWord(file))
		if e.HostKeyAlias != "" {
			// ssh-keyscan names the address; known_hosts wants the alias.
			add = fmt.Sprintf("ssh-keyscan -p %s %s | sed %s >> %s", port, shellWord(host),
				shellWord("s/^[^ ]*/"+name+"/"), shellWord(file))
		}
		fmt.Fprintf(&b, "unknown host %s: the server offers %s %s, which is not in %s; refusing to connect. "+
			"Verify the fingerprint, then add the key: %s (or let porter trust it on first use: --accept-new-host-keys)",
			shown, e.KeyType, e.Fingerprint, where, add)
	}
	if e.StrictHostKeyCheckingOff && !e.Revoked {
		b.WriteString(". ssh_config sets StrictHostKeyChecking no for this host, which porter does not honour: " +
			"it never connects to a host whose key changed, nor trusts an unknown key silently; " +
			"to trust a new host's key on first use set StrictHostKeyChecking accept-new (or pass --accept-new-host-keys)")
	}
	return b.String()
}

// shellWord quotes s only when it needs it, for commands in messages.
func shellWord(s string) string { return Quote(s) }

// defaultGlobalKnownHosts is OpenSSH's default GlobalKnownHostsFile.
var defaultGlobalKnownHosts = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}

// hostKeys builds the host key callback and the host key algorithms for one hop.
type hostKeys struct {
	files     []string // the user's known_hosts files in order; the first is written
	global    []string // the global ones, read only
	acceptNew bool
	strictNo  bool // ssh_config's StrictHostKeyChecking no, not honoured
	custom    ssh.HostKeyCallback
	addr      string // host:port connected to
	alias     string // HostKeyAlias, "" = none
}

// newHostKeys picks the known_hosts files and the policy for t: Go options
// first, then ssh_config, then OpenSSH's defaults. WithKnownHosts alone
// means those files only (no global ones unless WithGlobalKnownHosts).
func newHostKeys(c *config, t *target) *hostKeys {
	hk := &hostKeys{custom: c.hostKeyCallback, addr: t.addr(), alias: t.hostKeyAlias}
	switch {
	case c.knownHostsSet:
		hk.files = c.knownHosts
	case t.knownHostsSet:
		hk.files = t.knownHosts
	default:
		if home, err := os.UserHomeDir(); err == nil {
			hk.files = []string{filepath.Join(home, ".ssh", "known_hosts")}
		}
	}
	switch {
	case c.globalKnownSet:
		hk.global = c.globalKnown
	case c.knownHostsSet:
	case t.globalKnownHostsSet:
		hk.global = t.globalKnownHosts
	default:
		hk.global = defaultGlobalKnownHosts
	}
	switch t.strict {
	case "accept-new":
		hk.acceptNew = true
	case "no", "false", "off":
		hk.strictNo = true
	}
	if c.acceptNew {
		hk.acceptNew, hk.strictNo = true, false
	}
	return hk
}

// knownHostsWriteMu serialises appends to known_hosts within this process.
var knownHostsWriteMu sync.Mutex

// db returns the knownhosts callback over the files that exist, the user's
// then the global ones (nil = none).
func (k *hostKeys) db() (ssh.HostKeyCallback, []string, error) {
	var existing []string
	for _, f := range slices.Concat(k.files, k.global) {
		if slices.Contains(existing, f) {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("known_hosts: %w", err)
		}
	}
	if len(existing) == 0 {
		return nil, nil, nil
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	return cb, existing, nil
}

// algorithms returns the host key algorithms matching the key types that
// known_hosts holds for hostport, best first, so that the server presents a
// key that can be checked (as OpenSSH orders HostKeyAlgorithms). nil when
// the host is unknown: the client's defaults apply.
func (k *hostKeys) algorithms(hostport string) []string {
	if k.custom != nil {
		return nil
	}
	cb, _, err := k.db()
	if err != nil || cb == nil {
		return nil
	}
	// Ask with a key no one has: the KeyError lists every known key.
	err = cb(hostport, &net.TCPAddr{IP: net.IPv4zero}, probeKey)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	var types []string
	for _, w := range ke.Want {
		types = append(types, w.Key.Type())
	}
	return algorithmsFor(types)
}

// algorithmsFor maps key types to signature algorithms in preference order.
func algorithmsFor(types []string) []string {
	order := []struct {
		typ  string
		algs []string
	}{
		{ssh.KeyAlgoED25519, []string{ssh.KeyAlgoED25519}},
		{ssh.KeyAlgoECDSA256, []string{ssh.KeyAlgoECDSA256}},
		{ssh.KeyAlgoECDSA384, []string{ssh.KeyAlgoECDSA384}},
		{ssh.KeyAlgoECDSA521, []string{ssh.KeyAlgoECDSA521}},
		{ssh.KeyAlgoSKED25519, []string{ssh.KeyAlgoSKED25519}},
		{ssh.KeyAlgoSKECDSA256, []string{ssh.KeyAlgoSKECDSA256}},
		{ssh.KeyAlgoRSA, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}},
	}
	var out []string
	for _, o := range order {
		if slices.Contains(types, o.typ) {
			out = append(out, o.algs...)
		}
	}
	return out
}

// probeKey is a freshly made key that no known_hosts file holds.
var probeKey = func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
}()

// callback checks the server's key against the user's and the global
// known_hosts files; hostport is what they are asked about (see
// target.hostKeyAddr). A new key, with acceptNew, is appended to the first
// user file; a key that differs from one in any file is refused.
func (k *hostKeys) callback(hostport string) ssh.HostKeyCallback {
	if k.custom != nil {
		return k.custom
	}
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		cb, read, err := k.db()
		if err != nil {
			return err
		}
		if cb != nil {
			err = cb(hostport, remote, key)
		} else {
			err = &knownhosts.KeyError{}
		}
		if err == nil {
			return nil
		}
		hke := &HostKeyError{Host: hostport, Addr: k.addr, HostKeyAlias: k.alias, Key: key, KeyType: key.Type(),
			Fingerprint: ssh.FingerprintSHA256(key), KnownHosts: slices.Concat(k.files, k.global), StrictHostKeyCheckingOff: k.strictNo}
		if len(k.files) > 0 {
			hke.userFile = k.files[0]
		}
		if len(read) > 0 {
			hke.KnownHosts = read
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			hke.Revoked = true
			return hke
		case errors.As(err, &ke):
			if len(ke.Want) > 0 {
				hke.Changed, hke.Known = true, ke.Want
				return hke
			}
		default:
			return err
		}
		if !k.acceptNew || len(k.files) == 0 {
			return hke
		}
		if err := appendKnownHost(k.files[0], hostport, key); err != nil {
			return fmt.Errorf("accept new host key %s %s for %s: %w", hke.KeyType, hke.Fingerprint, hostport, err)
		}
		return nil
	}
}

// appendKnownHost adds a line for hostport to file, creating it (0600) and
// its directory (0700) when missing.
func appendKnownHost(file, hostport string, key ssh.PublicKey) error {
	knownHostsWriteMu.Lock()
	defer knownHostsWriteMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostport)}, key) + "\n"
	// Start on a line of our own if the file does not end with a newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
