package porter

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The defaults of a health check's [module] settings.
const (
	DefaultHealthTimeout  = 5 * time.Second // health_timeout: one try
	DefaultHealthRetries  = 10              // health_retries: tries in all
	DefaultHealthInterval = time.Second     // health_interval: between tries
)

// The kinds of health check.
const (
	healthHTTP    = "http"
	healthTCP     = "tcp"
	healthCommand = "command"
)

// healthCheck is a module's [module] health or health_command with its
// settings, checked when the module loads.
type healthCheck struct {
	kind     string   // healthHTTP, healthTCP or healthCommand
	url      *url.URL // http and tcp: as the host sees it
	command  string   // health_command
	timeout  time.Duration
	tries    int
	interval time.Duration
	status   statusRange // http
}

// statusRange is the HTTP status a check expects: one code, or a class
// (lo = 200, hi = 299 for 2xx).
type statusRange struct{ lo, hi int }

func (s statusRange) has(code int) bool { return code >= s.lo && code <= s.hi }

func (s statusRange) String() string {
	if s.lo == s.hi {
		return strconv.Itoa(s.lo)
	}
	return strconv.Itoa(s.lo/100) + "xx"
}

// healthKeys are the settings of a check, besides health and
// health_command themselves.
var healthKeys = []string{"health_timeout", "health_retries", "health_interval", "health_status"}

// loadHealth reads and checks [module] health or health_command and their
// settings (with the host's overrides: an empty value turns the check off
// on that host), naming the file, the key and the fix of a bad value.
func (m *Module) loadHealth() error {
	s := m.Settings()
	target, isURL := s.Lookup("health")
	command, isCmd := s.Lookup("health_command")
	isURL, isCmd = isURL && target != "", isCmd && command != ""
	switch {
	case isURL && isCmd:
		return fmt.Errorf("%s: health and health_command are both set: keep one (a module has one health check)", s.Where())
	case !isURL && !isCmd:
		for _, k := range healthKeys {
			if v, ok := s.Lookup(k); ok && v != "" {
				return fmt.Errorf("%s: %s is set, but there is no health check: set health = http://127.0.0.1:PORT/PATH (or tcp://HOST:PORT) or health_command = CMD, or remove %s", s.Where(), k, k)
			}
		}
		m.health = nil
		return nil
	}
	c := &healthCheck{kind: healthCommand, command: command}
	if isURL {
		u, err := parseHealthURL(s.Where(), target)
		if err != nil {
			return err
		}
		c.kind, c.url = u.Scheme, u
	}
	if err := c.loadSettings(s); err != nil {
		return err
	}
	m.health = c
	return nil
}

// loadSettings reads health_timeout, health_retries, health_interval and
// health_status.
func (c *healthCheck) loadSettings(s Settings) error {
	var err error
	if c.timeout, err = positiveDuration(s, "health_timeout", DefaultHealthTimeout, true); err != nil {
		return err
	}
	if c.interval, err = positiveDuration(s, "health_interval", DefaultHealthInterval, false); err != nil {
		return err
	}
	if c.tries, err = s.Int("health_retries", DefaultHealthRetries); err != nil {
		return err
	}
	if c.tries < 1 {
		return &SettingError{Where: s.Where(), Key: "health_retries", Value: strconv.Itoa(c.tries), Want: "how many tries in all: 1 or more"}
	}
	v, set := s.Lookup("health_status")
	if set && c.kind != healthHTTP {
		return fmt.Errorf("%s: health_status = %q: only an http:// health check has a status: remove it", s.Where(), v)
	}
	c.status = statusRange{200, 200}
	if set {
		if c.status, err = parseStatus(v); err != nil {
			return &SettingError{Where: s.Where(), Key: "health_status", Value: v, Want: "an HTTP status such as 200 or 204, or a class such as 2xx"}
		}
	}
	return nil
}

// positiveDuration reads key as a Go duration (5s, 500ms, 1m30s): more
// than zero, or, when !strict, zero or more.
func positiveDuration(s Settings, key string, def time.Duration, strict bool) (time.Duration, error) {
	v, ok := s.Lookup(key)
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err == nil && (d > 0 || (!strict && d == 0)) {
		return d, nil
	}
	want := "a duration of more than 0, such as 5s or 500ms"
	if !strict {
		want = "a duration such as 1s or 500ms (0: no wait)"
	}
	return def, &SettingError{Where: s.Where(), Key: key, Value: v, Want: want}
}

// parseStatus reads "200" or "2xx".
func parseStatus(v string) (statusRange, error) {
	v = strings.ToLower(v)
	if len(v) == 3 && strings.HasSuffix(v, "xx") && v[0] >= '1' && v[0] <= '5' {
		lo := int(v[0]-'0') * 100
		return statusRange{lo, lo + 99}, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 || n > 599 {
		return statusRange{}, fmt.Errorf("bad status %q", v)
	}
	return statusRange{n, n}, nil
}

// parseHealthURL checks [module] health: http://HOST[:PORT]/PATH or
// tcp://HOST:PORT, HOST as the host itself sees it.
func parseHealthURL(where, v string) (*url.URL, error) {
	bad := func(shown, want string) error {
		return &SettingError{Where: where, Key: "health", Value: shown, Want: want}
	}
	const forms = "http://HOST[:PORT]/PATH or tcp://HOST:PORT, with HOST as the host itself sees it (e.g. http://127.0.0.1:8000/healthz)"
	u, err := url.Parse(v)
	if err != nil || u.Opaque != "" {
		return nil, bad(v, forms)
	}
	shown := u.Redacted()
	switch u.Scheme {
	case "http":
	case "tcp":
		if u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return nil, bad(shown, "tcp://HOST:PORT, nothing more (e.g. tcp://127.0.0.1:5432)")
		}
	case "https":
		return nil, bad(shown, "http:// or tcp://: the check reaches the port through the SSH connection, encrypted already; check the app's plain HTTP port, or use health_command")
	default:
		return nil, bad(shown, forms)
	}
	if u.Hostname() == "" {
		return nil, bad(shown, forms)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, bad(shown, "a port from 1 to 65535 ("+forms+")")
		}
	}
	return u, nil
}

// DescribeHealth returns what the module's health check does, in one line
// for a deploy's plan ("check http://127.0.0.1:8000/healthz for 200, 10
// tries 1s apart"), or "" when the module has none on its host.
func (m *Module) DescribeHealth() string {
	if m.health == nil {
		return ""
	}
	return m.health.describe()
}

func (c *healthCheck) describe() string {
	var what string
	switch c.kind {
	case healthHTTP:
		what = c.subject() + " for " + c.status.String()
	case healthTCP:
		what = c.subject() + " connects"
	default:
		what = c.subject() + " exits 0"
	}
	tries := fmt.Sprintf("%d tries %s apart", c.tries, c.interval)
	if c.tries == 1 {
		tries = "1 try"
	}
	return "check " + what + ", " + tries
}

// subject is what is checked: the URL (a password masked) or the command.
func (c *healthCheck) subject() string {
	if c.url != nil {
		return c.url.Redacted()
	}
	return "command " + strconv.Quote(c.command)
}
