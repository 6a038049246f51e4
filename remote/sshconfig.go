package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// target is one hop, resolved from an address and ssh_config.
type target struct {
	alias         string   // the host as written in the address
	user          string   // login user
	hostname      string   // HostName, or alias
	port          int      // Port, or 22
	identityFiles []string // ssh_config IdentityFile, expanded
	proxyJump     string   // ProxyJump, "" = none
	hostKeyAlias  string   // HostKeyAlias, "" = none
	knownHosts    []string // UserKnownHostsFile, expanded
}

// addr is host:port for net.Dial.
func (t *target) addr() string { return net.JoinHostPort(t.hostname, strconv.Itoa(t.port)) }

// hostKeyAddr is the host:port checked against known_hosts.
func (t *target) hostKeyAddr() string {
	if t.hostKeyAlias != "" {
		return net.JoinHostPort(t.hostKeyAlias, strconv.Itoa(t.port))
	}
	return t.addr()
}

// splitAddress splits "user@host:port", "host:port", "host", "[v6]:port" or a
// bare IPv6 address. port is 0 when absent.
func splitAddress(addr string) (usr, host string, port int, err error) {
	if addr == "" {
		return "", "", 0, errors.New("empty address")
	}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		usr, addr = addr[:i], addr[i+1:]
		if usr == "" {
			return "", "", 0, fmt.Errorf("address %q: empty user before @", usr+"@"+addr)
		}
	}
	host = addr
	switch {
	case strings.HasPrefix(addr, "["):
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			if strings.HasSuffix(addr, "]") {
				return usr, strings.Trim(addr, "[]"), 0, nil
			}
			return "", "", 0, fmt.Errorf("address %q: %w", addr, err)
		}
		host, port, err = h, 0, nil
		if port, err = parsePort(p); err != nil {
			return "", "", 0, fmt.Errorf("address %q: %w", addr, err)
		}
	case strings.Count(addr, ":") == 1:
		h, p, _ := strings.Cut(addr, ":")
		host = h
		if port, err = parsePort(p); err != nil {
			return "", "", 0, fmt.Errorf("address %q: %w", addr, err)
		}
	}
	if host == "" {
		return "", "", 0, fmt.Errorf("address %q: empty host", addr)
	}
	return usr, host, port, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", p)
	}
	return n, nil
}

// loadSSHConfig reads the ssh_config file that c names; nil when none.
func loadSSHConfig(c *config) (*ssh_config.Config, error) {
	path := c.sshConfigFile
	if !c.sshConfigSet {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, nil
		}
		path = filepath.Join(home, ".ssh", "config")
		if _, err := os.Stat(path); err != nil {
			return nil, nil
		}
	}
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		if c.sshConfigSet || !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ssh config: %w", err)
		}
		return nil, nil
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", path, err)
	}
	return cfg, nil
}

// resolve turns an address into a target, applying ssh_config.
func resolve(addr string, sc *ssh_config.Config) (*target, error) {
	usr, host, port, err := splitAddress(addr)
	if err != nil {
		return nil, err
	}
	t := &target{alias: host, user: usr, hostname: host, port: port}
	get := func(key string) string {
		if sc == nil {
			return ""
		}
		v, _ := sc.Get(host, key)
		return strings.TrimSpace(v)
	}
	getAll := func(key string) []string {
		if sc == nil {
			return nil
		}
		v, _ := sc.GetAll(host, key)
		return v
	}
	if h := get("HostName"); h != "" {
		t.hostname = strings.ReplaceAll(h, "%h", host)
	}
	if t.user == "" {
		t.user = get("User")
	}
	if t.user == "" {
		t.user = currentUser()
	}
	if t.port == 0 {
		if p := get("Port"); p != "" {
			if t.port, err = parsePort(p); err != nil {
				return nil, fmt.Errorf("ssh config for %s: %w", host, err)
			}
		}
	}
	if t.port == 0 {
		t.port = 22
	}
	for _, f := range getAll("IdentityFile") {
		if f = strings.TrimSpace(f); f != "" && !strings.EqualFold(f, "none") {
			t.identityFiles = append(t.identityFiles, expandPath(f, t))
		}
	}
	if pj := get("ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
		t.proxyJump = pj
	}
	t.hostKeyAlias = get("HostKeyAlias")
	if k := get("UserKnownHostsFile"); k != "" && !strings.EqualFold(k, "none") {
		for _, f := range strings.Fields(k) {
			t.knownHosts = append(t.knownHosts, expandPath(f, t))
		}
	}
	return t, nil
}

// expandPath expands ~ and the ssh_config tokens %d %u %h %r %p %%.
func expandPath(p string, t *target) string {
	home, _ := os.UserHomeDir()
	if p == "~" {
		p = home
	} else if strings.HasPrefix(p, "~/") {
		p = filepath.Join(home, p[2:])
	}
	if !strings.Contains(p, "%") {
		return p
	}
	r := strings.NewReplacer("%%", "%", "%d", home, "%u", currentUser(), "%h", t.hostname,
		"%r", t.user, "%p", strconv.Itoa(t.port))
	return r.Replace(p)
}

// currentUser is the local login name, the default remote user.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}
