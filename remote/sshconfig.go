package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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

	knownHosts          []string // UserKnownHostsFile, expanded
	knownHostsSet       bool     // UserKnownHostsFile was set ("none" = no file)
	globalKnownHosts    []string // GlobalKnownHostsFile, as written (OpenSSH expands neither ~ nor tokens)
	globalKnownHostsSet bool     // GlobalKnownHostsFile was set ("none" = no file)
	// strict is StrictHostKeyChecking as written, lowercased ("" = unset):
	// yes/true/ask refuse an unknown key, accept-new trusts it on first
	// use, no/false/off are not honoured (see hostKeys.strictNo).
	strict string
}

// addr is host:port for net.Dial.
func (t *target) addr() string { return net.JoinHostPort(t.hostname, strconv.Itoa(t.port)) }

// hostKeyAddr is the host:port that known_hosts is asked about. With a
// HostKeyAlias it is the alias itself, as OpenSSH stores and looks it up:
// no [alias]:port brackets whatever the port (given as port 22, which
// known_hosts writes bare). An alias written "[name]:port" keeps its port.
func (t *target) hostKeyAddr() string {
	if a := t.hostKeyAlias; a != "" {
		if strings.HasPrefix(a, "[") {
			if h, p, err := net.SplitHostPort(a); err == nil {
				return net.JoinHostPort(h, p)
			}
		}
		return net.JoinHostPort(a, "22")
	}
	return t.addr()
}

// splitAddress splits "user@host:port", "host:port", "host", "[v6]:port" or a
// bare IPv6 address. port is 0 when absent. A user or host starting with
// "-" (an option to ssh) and a host holding a bracket are refused.
func splitAddress(addr string) (usr, host string, port int, err error) {
	if addr == "" {
		return "", "", 0, errors.New("empty address")
	}
	full := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		usr, addr = addr[:i], addr[i+1:]
		if usr == "" {
			return "", "", 0, fmt.Errorf("address %q: empty user before @", full)
		}
	}
	host = addr
	switch {
	case strings.HasPrefix(addr, "["):
		h, p, err := net.SplitHostPort(addr)
		switch {
		case err == nil:
			host = h
			if port, err = parsePort(p); err != nil {
				return "", "", 0, fmt.Errorf("address %q: %w", full, err)
			}
		case strings.HasSuffix(addr, "]"): // [v6] without a port
			host = addr[1 : len(addr)-1]
		default:
			return "", "", 0, fmt.Errorf("address %q: %w", full, err)
		}
	case strings.Count(addr, ":") == 1:
		h, p, _ := strings.Cut(addr, ":")
		host = h
		if port, err = parsePort(p); err != nil {
			return "", "", 0, fmt.Errorf("address %q: %w", full, err)
		}
	}
	switch {
	case host == "":
		return "", "", 0, fmt.Errorf("address %q: empty host", full)
	case strings.HasPrefix(usr, "-") || strings.HasPrefix(host, "-"):
		return "", "", 0, fmt.Errorf("address %q: a user or host cannot start with \"-\"", full)
	case strings.ContainsAny(host, "[]"):
		return "", "", 0, fmt.Errorf("address %q: host %q is not a host name: only an IPv6 address goes in brackets, [::1]:22", full, host)
	}
	return usr, host, port, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("bad port %q: want a number from 1 to 65535", p)
	}
	return n, nil
}

// sshGTimeout bounds one run of `ssh -G` (a Match exec that hangs ends
// there); sshGMaxOutput bounds what it may print (its full dump is ~6 KB).
const (
	sshGTimeout   = 10 * time.Second
	sshGMaxOutput = 1 << 20
)

// configSource resolves the hops of one Dial from one ssh_config file:
// through `ssh -G` when an ssh binary is installed (OpenSSH's own reading
// of the file: Match, Include, tokens, canonicalization), else through
// porter's parser (kevinburke/ssh_config: Host blocks, Include, Match host
// and Match all, the %h of HostName and the tokens of file names).
type configSource struct {
	path    string // the ssh_config file; "" = none
	ssh     string // the ssh binary; "" = the parser
	timeout time.Duration
	log     *slog.Logger

	parsed   bool
	sc       *ssh_config.Config
	parseErr error
	warned   bool // the fallback to the parser was logged
}

// loadSSHConfig finds the ssh_config file that c names (~/.ssh/config by
// default, "" = none) and how to read it. A file given that cannot be
// opened is an error; so is one the parser rejects, when there is no ssh
// binary to read it.
func loadSSHConfig(c *config) (*configSource, error) {
	src := &configSource{timeout: c.sshGTimeout, log: c.logger}
	path := c.sshConfigFile
	if !c.sshConfigSet {
		home, err := os.UserHomeDir()
		if err != nil {
			return src, nil
		}
		path = filepath.Join(home, ".ssh", "config")
		if _, err := os.Stat(path); err != nil {
			return src, nil
		}
	}
	if path == "" {
		return src, nil
	}
	f, err := os.Open(path)
	if err != nil {
		if c.sshConfigSet || !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ssh config: %w", err)
		}
		return src, nil
	}
	f.Close()
	src.path = path
	if c.sshBinarySet {
		src.ssh = c.sshBinary
	} else if p, err := exec.LookPath("ssh"); err == nil {
		src.ssh = p
	}
	if src.ssh == "" {
		if _, err := src.parse(); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// parse reads the file with porter's parser, once.
func (s *configSource) parse() (*ssh_config.Config, error) {
	if !s.parsed {
		s.parsed = true
		f, err := os.Open(s.path)
		if err != nil {
			s.parseErr = fmt.Errorf("ssh config: %w", err)
			return nil, s.parseErr
		}
		defer f.Close()
		if s.sc, err = ssh_config.Decode(f); err != nil {
			s.parseErr = fmt.Errorf("ssh config %s: %w", s.path, err)
		}
	}
	return s.sc, s.parseErr
}

// resolve turns an address into a target, applying ssh_config. When ssh -G
// rejects the file or the host (a setting OpenSSH refuses, such as Port 0,
// refuses the whole file), the parser reads it instead, as before ssh -G was
// used, with a warning; when the parser rejects it too, both say why.
func (s *configSource) resolve(ctx context.Context, addr string) (*target, error) {
	usr, host, port, err := splitAddress(addr)
	if err != nil {
		return nil, err
	}
	if s.path == "" {
		return resolveParsed(usr, host, port, nil)
	}
	if s.ssh != "" {
		t, err := s.resolveSSH(ctx, usr, host, port)
		var rej *sshGRejected
		if !errors.As(err, &rej) {
			return t, err
		}
		sc, perr := s.parse()
		if perr != nil {
			return nil, fmt.Errorf("%w; %v", perr, err)
		}
		if !s.warned {
			s.warned = true
			s.log.Warn("ssh: ssh -G refused the ssh_config, reading it with porter's own parser (no Match exec, user or canonical, fewer tokens)",
				"file", s.path, "host", host, "ssh", rej.msg)
		}
		return resolveParsed(usr, host, port, sc)
	}
	sc, err := s.parse()
	if err != nil {
		return nil, err
	}
	return resolveParsed(usr, host, port, sc)
}

// sshDefaults is what ssh -G prints for settings left unset, to tell them
// from set ones: OpenSSH fills in defaults before it prints.
type sshDefaults struct {
	identityFiles  []string // sorted
	userKnownHosts string
}

// sshDefaultsCache maps an ssh binary to its *sshDefaults.
var sshDefaultsCache sync.Map

func (s *configSource) defaults(ctx context.Context) (*sshDefaults, error) {
	if d, ok := sshDefaultsCache.Load(s.ssh); ok {
		return d.(*sshDefaults), nil
	}
	kv, err := s.runSSHG(ctx, "porter-defaults.invalid", "-F", os.DevNull, "--", "porter-defaults.invalid")
	if err != nil {
		return nil, err
	}
	d := &sshDefaults{identityFiles: slices.Sorted(slices.Values(kv["identityfile"])), userKnownHosts: first(kv, "userknownhostsfile")}
	sshDefaultsCache.Store(s.ssh, d)
	return d, nil
}

// resolveSSH resolves a host with `ssh -G -F file [-l user] [-p port] -- host`.
// Settings ssh -G prints with their default values count as unset, so that
// porter's defaults apply as with the parser: its identity files
// (~/.ssh/id_ed25519, id_ecdsa, id_rsa, none when WithIdentityFiles is
// given) and ~/.ssh/known_hosts, both under $HOME.
func (s *configSource) resolveSSH(ctx context.Context, usr, host string, port int) (*target, error) {
	def, err := s.defaults(ctx)
	if err != nil {
		return nil, err
	}
	args := []string{"-F", s.path}
	if usr != "" {
		args = append(args, "-l", usr)
	}
	if port != 0 {
		args = append(args, "-p", strconv.Itoa(port))
	}
	kv, err := s.runSSHG(ctx, host, append(args, "--", host)...)
	if err != nil {
		return nil, err
	}
	t := &target{alias: host, user: usr, hostname: host, port: port}
	if h := first(kv, "hostname"); h != "" {
		t.hostname = h
	}
	if u := first(kv, "user"); u != "" {
		t.user = u
	}
	if t.user == "" {
		t.user = currentUser()
	}
	if p := first(kv, "port"); p != "" {
		if t.port, err = parsePort(p); err != nil {
			return nil, fmt.Errorf("ssh config for %s: %w", host, err)
		}
	}
	if t.port == 0 {
		t.port = 22
	}
	if pj := first(kv, "proxyjump"); pj != "" && !strings.EqualFold(pj, "none") {
		t.proxyJump = pj
	}
	t.hostKeyAlias = first(kv, "hostkeyalias")
	if ids := kv["identityfile"]; !slices.Equal(slices.Sorted(slices.Values(ids)), def.identityFiles) {
		for _, f := range ids {
			if f != "" && !strings.EqualFold(f, "none") {
				t.identityFiles = append(t.identityFiles, expandPath(f, t))
			}
		}
	}
	if k := first(kv, "userknownhostsfile"); k != "" && k != def.userKnownHosts {
		// ssh -G expands UserKnownHostsFile (~ is the passwd entry's
		// home); GlobalKnownHostsFile takes neither ~ nor tokens.
		t.knownHostsSet = true
		t.knownHosts = knownHostsFiles(k, nil)
	}
	if g := first(kv, "globalknownhostsfile"); g != "" {
		t.globalKnownHostsSet = true
		t.globalKnownHosts = knownHostsFiles(g, nil)
	}
	t.strict = strings.ToLower(first(kv, "stricthostkeychecking"))
	return t, nil
}

// first is the first value of key in ssh -G's output, "" when absent.
func first(kv map[string][]string, key string) string {
	if v := kv[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// sshGRejected is ssh -G exiting with an error: OpenSSH refuses the file
// (a bad option or value anywhere in it) or the host name.
type sshGRejected struct{ msg string }

func (e *sshGRejected) Error() string { return "ssh -G: " + e.msg }

// runSSHG runs ssh -G with args, bounded in time and output, and returns
// its "key value" lines by key (lowercase, as ssh -G prints them).
func (s *configSource) runSSHG(ctx context.Context, host string, args ...string) (map[string][]string, error) {
	timeout := s.timeout
	if timeout <= 0 {
		timeout = sshGTimeout
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.ssh, append([]string{"-G"}, args...)...)
	stdout := &cappedBuffer{max: sshGMaxOutput, over: cancel}
	stderr := &cappedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case parent.Err() != nil:
		return nil, fmt.Errorf("ssh config: ssh -G %s: %w", host, parent.Err())
	case stdout.overflowed:
		return nil, fmt.Errorf("ssh config %s: ssh -G %s printed more than %d bytes", s.path, host, sshGMaxOutput)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("ssh config %s: ssh -G %s did not finish within %v (a Match exec that does not end?)", s.path, host, timeout)
	case err != nil:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "Pseudo-terminal will not be allocated") {
					lines = append(lines, l)
				}
			}
			if len(lines) == 0 {
				lines = append(lines, ee.Error())
			}
			return nil, &sshGRejected{msg: strings.Join(lines, "; ")}
		}
		return nil, fmt.Errorf("ssh config %s: ssh -G: %w", s.path, err)
	}
	kv := map[string][]string{}
	for _, line := range strings.Split(stdout.String(), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if k != "" {
			kv[strings.ToLower(k)] = append(kv[strings.ToLower(k)], strings.TrimSpace(v))
		}
	}
	if first(kv, "hostname") == "" {
		return nil, fmt.Errorf("ssh config %s: ssh -G %s printed no hostname (is %s OpenSSH's ssh?)", s.path, host, s.ssh)
	}
	return kv, nil
}

// cappedBuffer keeps the first max bytes written; past them it notes the
// overflow, calls over (if set) once and takes the rest unkept, so that the
// writer never blocks. (No ReadFrom: io.Copy must go through Write.)
type cappedBuffer struct {
	buf        bytes.Buffer
	max        int
	over       func()
	overflowed bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.buf.Write(p[:max(room, 0)])
		if !b.overflowed && b.over != nil {
			b.over()
		}
		b.overflowed = true
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) String() string { return b.buf.String() }

// knownHostsFiles splits a UserKnownHostsFile or GlobalKnownHostsFile value
// into paths, expanded when t is not nil; "none" is no file.
func knownHostsFiles(v string, t *target) []string {
	if strings.EqualFold(strings.TrimSpace(v), "none") {
		return nil
	}
	var out []string
	for _, f := range strings.Fields(v) {
		if t != nil {
			f = expandPath(f, t)
		}
		out = append(out, f)
	}
	return out
}

// resolveParsed resolves a host with porter's parser (sc nil = no config).
func resolveParsed(usr, host string, port int, sc *ssh_config.Config) (*target, error) {
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
	var err error
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
	if pj := get("ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
		t.proxyJump = pj
	}
	t.hostKeyAlias = get("HostKeyAlias")
	for _, f := range getAll("IdentityFile") {
		if f = strings.TrimSpace(f); f != "" && !strings.EqualFold(f, "none") {
			t.identityFiles = append(t.identityFiles, expandPath(f, t))
		}
	}
	if k := get("UserKnownHostsFile"); k != "" {
		t.knownHostsSet = true
		t.knownHosts = knownHostsFiles(k, t)
	}
	if g := get("GlobalKnownHostsFile"); g != "" { // no ~ nor tokens, as in OpenSSH
		t.globalKnownHostsSet = true
		t.globalKnownHosts = knownHostsFiles(g, nil)
	}
	switch t.strict = strings.ToLower(get("StrictHostKeyChecking")); t.strict {
	case "", "yes", "true", "ask", "accept-new", "no", "false", "off":
	default:
		return nil, fmt.Errorf("ssh config for %s: bad StrictHostKeyChecking %q: want yes, accept-new, no or ask", host, t.strict)
	}
	return t, nil
}

// expandPath expands ~ ($HOME) and the ssh_config tokens %d %u %i %l %L
// %h %n %k %r %p %%.
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
	local, _ := os.Hostname()
	short, _, _ := strings.Cut(local, ".")
	k := t.hostKeyAlias
	if k == "" {
		k = t.alias
	}
	r := strings.NewReplacer("%%", "%", "%d", home, "%u", currentUser(), "%i", strconv.Itoa(os.Getuid()),
		"%l", local, "%L", short, "%h", t.hostname, "%n", t.alias, "%k", k,
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
