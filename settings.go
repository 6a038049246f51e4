package porter

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/go-ini/ini"
)

// Settings is one section of a module's ini seen from one host: every lookup
// of KEY first tries KEY-<hostname>, then KEY, as the original did
// (path-vbox overrides path when deploying to the host named vbox).
//
// The zero Settings (a section the ini does not have) answers every lookup
// with "not set".
type Settings struct {
	sec    *ini.Section
	host   string   // the [hosts] name deployed to; "" = no override applies
	hosts  []string // every host name of the project, to tell overrides from keys
	where  string   // "root/root.ini [module]", for error messages
	module string   // the module whose ini holds the section
	dir    string   // the module's local directory (absolute)
}

// Exists reports whether the section is present in the ini.
func (s Settings) Exists() bool { return s.sec != nil }

// Where names the file and section, for error messages.
func (s Settings) Where() string { return s.where }

// Module returns the name of the module whose ini holds the section, so
// that a plugin's SettingsValidator can give module-named defaults (such
// as <module>.conf) without a Module.
func (s Settings) Module() string { return s.module }

// ModuleDir returns the module's local directory (absolute), where a
// plugin's SettingsValidator looks for the files its settings name.
func (s Settings) ModuleDir() string { return s.dir }

// Lookup returns the value of key with the host override applied, and
// whether it is set at all.
func (s Settings) Lookup(key string) (string, bool) {
	if s.sec == nil {
		return "", false
	}
	key = strings.ToLower(key)
	if s.host != "" {
		if k, err := s.sec.GetKey(key + "-" + strings.ToLower(s.host)); err == nil {
			return strings.TrimSpace(k.Value()), true
		}
	}
	if k, err := s.sec.GetKey(key); err == nil {
		return strings.TrimSpace(k.Value()), true
	}
	return "", false
}

// String returns the value of key, or def when it is not set.
func (s Settings) String(key, def string) string {
	if v, ok := s.Lookup(key); ok {
		return v
	}
	return def
}

// Bool returns the value of key as a boolean (1/yes/true/on or
// 0/no/false/off, any case, as Python's ConfigParser read them), or def when
// it is not set. Any other value is an error that names the file and key.
func (s Settings) Bool(key string, def bool) (bool, error) {
	v, ok := s.Lookup(key)
	if !ok {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return def, &SettingError{Where: s.where, Key: key, Value: v, Want: "true or false"}
}

// Int returns the value of key as an integer, or def when it is not set.
func (s Settings) Int(key string, def int) (int, error) {
	v, ok := s.Lookup(key)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, &SettingError{Where: s.where, Key: key, Value: v, Want: "a whole number"}
	}
	return n, nil
}

// List returns the value of key split on commas, each item trimmed, empty
// items dropped; nil when it is not set.
func (s Settings) List(key string) []string {
	v, ok := s.Lookup(key)
	if !ok {
		return nil
	}
	return splitList(v)
}

// Map returns every key of the section with its effective value for this
// host: overrides for this host replace their key, overrides for other hosts
// of the project are left out.
func (s Settings) Map() map[string]string {
	out := map[string]string{}
	if s.sec == nil {
		return out
	}
	for _, k := range s.sec.Keys() {
		name := k.Name()
		if base, h, ok := s.splitOverride(name); ok {
			if h == strings.ToLower(s.host) {
				out[base] = strings.TrimSpace(k.Value())
			}
			continue
		}
		if _, set := out[name]; !set {
			out[name] = strings.TrimSpace(k.Value())
		}
	}
	return out
}

// Keys returns the sorted keys of Map.
func (s Settings) Keys() []string {
	m := s.Map()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// OnlyKeys returns an error naming the first key of the section that is
// not one of keys (a typo such as requirement for requirements), with the
// keys it takes; nil when every key is known. Plugins call it first.
func (s Settings) OnlyKeys(keys ...string) error {
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
	}
	for _, k := range s.Keys() {
		if known[k] {
			continue
		}
		switch len(keys) {
		case 0:
			return fmt.Errorf("%s: unknown key %q: the section takes no keys", s.where, k)
		case 1:
			return fmt.Errorf("%s: unknown key %q: the only key is %s", s.where, k, keys[0])
		}
		return fmt.Errorf("%s: unknown key %q: use %s or %s", s.where, k, strings.Join(keys[:len(keys)-1], ", "), keys[len(keys)-1])
	}
	return nil
}

// splitOverride reports whether name is KEY-<host> for a host of the project.
func (s Settings) splitOverride(name string) (base, host string, ok bool) {
	// The longest host first: with hosts prod and east-prod, x-east-prod
	// overrides x on east-prod, not x-east on prod.
	hosts := append([]string(nil), s.hosts...)
	sort.Slice(hosts, func(i, j int) bool { return len(hosts[i]) > len(hosts[j]) })
	for _, h := range hosts {
		h = strings.ToLower(h)
		if strings.HasSuffix(name, "-"+h) && len(name) > len(h)+1 {
			return strings.TrimSuffix(name, "-"+h), h, true
		}
	}
	return "", "", false
}

// SettingError reports a setting whose value has the wrong form.
type SettingError struct {
	Where string // file and section
	Key   string
	Value string
	Want  string
}

// Error names the file, section, key and the form the value should have.
func (e *SettingError) Error() string {
	return fmt.Sprintf("%s: %s = %q: want %s", e.Where, e.Key, e.Value, e.Want)
}

func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
