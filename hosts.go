package porter

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/go-ini/ini"
	"github.com/porter-deploy/porter/remote"
)

// HostEntry is one line of [hosts]: a host (staging = deploy@stage1) or a
// group of hosts (production = deploy@web1, deploy@web2, db), whose items
// are addresses or the names of other lines, separated by commas or line
// breaks.
type HostEntry struct {
	Name    string   // what --host takes, and the suffix of KEY-<name> overrides
	Address string   // user@host[:port] or an ~/.ssh/config alias (the line's one item); a group's line as written
	Members []string // a group's items in order, as written; nil for a host
}

// IsGroup reports whether the line lists hosts rather than being one.
func (h HostEntry) IsGroup() bool { return h.Members != nil }

// TargetHost is one host a call reaches: a [hosts] line of its own, or an
// address that a group lists.
type TargetHost struct {
	// Name is what reports show and --host takes: the [hosts] name, or for
	// an address a group lists, that address.
	Name string
	// Address is where it is.
	Address string
	// Override is the [hosts] name whose KEY-<name> overrides apply: Name
	// for a host of its own line, the group for an address it lists.
	Override string
}

// loadHosts reads [hosts] and checks every line: names that --host can
// take, addresses ssh can take (see remote.CheckAddress) that hold none of
// the characters the ini reads specially (iniSpecial), groups whose
// names exist and hold no cycle, and no address in two groups (the address
// names the host: give it a line and list that name). A line whose one item is its own name is a host
// whose address is that name (web1 = web1: an ~/.ssh/config alias).
func (p *Project) loadHosts(sec *ini.Section, file string) error {
	lines := map[string]bool{}
	for _, k := range sec.Keys() {
		lines[k.Name()] = true
	}
	listedBy := map[string]string{} // address -> the line listing it
	for _, k := range sec.Keys() {
		name, value := k.Name(), strings.TrimSpace(k.Value())
		where := file + " [hosts] " + name
		if strings.IndexFunc(name, func(r rune) bool { return r == ',' || r == '@' || unicode.IsSpace(r) }) >= 0 {
			return fmt.Errorf("%s: the name %q holds a comma, @ or a space, which --host cannot take: rename it", where, name)
		}
		if value == "" {
			return fmt.Errorf("%s has no address: write %s = user@host, or list hosts: %s = user@a, user@b", where, name, name)
		}
		items := hostItems(value)
		if len(items) == 0 {
			return fmt.Errorf("%s has no address: write %s = user@host, or list hosts: %s = user@a, user@b", where, name, name)
		}
		e := HostEntry{Name: name, Address: value}
		if len(items) > 1 || lines[items[0]] && items[0] != name {
			e.Members = items
		} else {
			e.Address = items[0] // "web1 = deploy@web1," is deploy@web1
		}
		for _, it := range items {
			if lines[it] && e.IsGroup() {
				if it == name {
					return fmt.Errorf("%s: lists itself", where)
				}
				continue
			}
			if i := strings.IndexAny(it, iniSpecial); i >= 0 {
				return fmt.Errorf("%s: %q holds %q, which no address holds (a comment goes after a space: %s = user@a ; a note)", where, it, it[i:i+1], name)
			}
			if err := remote.CheckAddress(it); err != nil {
				return fmt.Errorf("%s: %w: write user@host[:port]", where, err)
			}
			if !e.IsGroup() {
				continue
			}
			if other, dup := listedBy[it]; dup {
				return fmt.Errorf("%s: %s is listed by %s too: give it a line of its own (web1 = %s) and list that name", where, it, other, it)
			}
			listedBy[it] = name
		}
		p.Hosts = append(p.Hosts, e)
	}
	for _, e := range p.Hosts {
		if _, err := p.expand(e.Name, nil); err != nil {
			return fmt.Errorf("%s [hosts]: %w", file, err)
		}
	}
	return nil
}

// iniSpecial are the characters that the ini reads specially in a value
// (a comment after a space, quotes around it) and that no address holds:
// "web1,#web2" is no comment, it would be a host "#web2".
const iniSpecial = ";#\"'`\\"

// hostItems splits a [hosts] value at commas and line breaks.
func hostItems(v string) []string {
	var out []string
	for _, it := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func (p *Project) hostEntry(name string) (HostEntry, bool) {
	for _, h := range p.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return HostEntry{}, false
}

// expand returns the hosts of the [hosts] line name, groups expanded in
// order; stack holds the groups being expanded, to report a cycle.
func (p *Project) expand(name string, stack []string) ([]TargetHost, error) {
	for i, s := range stack {
		if s == name {
			return nil, fmt.Errorf("groups list each other: %s", strings.Join(append(stack[i:], name), " -> "))
		}
	}
	e, ok := p.hostEntry(name)
	if !ok {
		return nil, fmt.Errorf("%w %q: %s", ErrUnknownHost, name, p.validHosts())
	}
	if !e.IsGroup() {
		return []TargetHost{{Name: e.Name, Address: e.Address, Override: e.Name}}, nil
	}
	var out []TargetHost
	for _, it := range e.Members {
		if _, named := p.hostEntry(it); named {
			sub, err := p.expand(it, append(stack, name))
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, TargetHost{Name: it, Address: it, Override: e.Name})
	}
	return out, nil
}

// Resolve returns the hosts that sel names, each once, in the order named:
// sel is a [hosts] name (a host or a group), an address a group lists, or
// a comma list of these. An unknown name is an error (errors.Is
// ErrUnknownHost) that lists the valid ones.
func (p *Project) Resolve(sel string) ([]TargetHost, error) {
	items := hostItems(sel)
	if len(items) == 0 {
		return nil, fmt.Errorf("no host given: %w; %s", ErrUnknownHost, p.validHosts())
	}
	var out []TargetHost
	seen := map[string]bool{}
	for _, it := range items {
		hs, err := p.expand(it, nil)
		if errors.Is(err, ErrUnknownHost) {
			if m, ok := p.member(it); ok {
				hs, err = []TargetHost{m}, nil
			}
		}
		if err != nil {
			return nil, err
		}
		for _, h := range hs {
			if !seen[h.Name] {
				seen[h.Name] = true
				out = append(out, h)
			}
		}
	}
	return out, nil
}

// member finds the address addr in the group that lists it.
func (p *Project) member(addr string) (TargetHost, bool) {
	for _, e := range p.Hosts {
		for _, it := range e.Members {
			if _, named := p.hostEntry(it); it == addr && !named {
				return TargetHost{Name: addr, Address: addr, Override: e.Name}, true
			}
		}
	}
	return TargetHost{}, false
}

// resolveOne is Resolve for calls that act on one host.
func (p *Project) resolveOne(sel string) (TargetHost, error) {
	hs, err := p.Resolve(sel)
	if err != nil {
		return TargetHost{}, err
	}
	if len(hs) != 1 {
		return TargetHost{}, fmt.Errorf("%s names %d hosts: name one of them", sel, len(hs))
	}
	return hs[0], nil
}

// HostNames returns the [hosts] names, groups included, in file order.
func (p *Project) HostNames() []string {
	names := make([]string, len(p.Hosts))
	for i, h := range p.Hosts {
		names[i] = h.Name
	}
	return names
}

// HostAddress returns the address of the host name names (a [hosts] name
// or an address a group lists). An unknown name is an error (errors.Is
// ErrUnknownHost) that lists the valid ones; so is a group.
func (p *Project) HostAddress(name string) (string, error) {
	h, err := p.resolveOne(name)
	if err != nil {
		return "", err
	}
	return h.Address, nil
}

func (p *Project) validHosts() string {
	if len(p.Hosts) == 0 {
		return "project.ini has no [hosts]: add one, e.g. testing = deploy@testing.example.com"
	}
	return "valid hosts: " + strings.Join(p.HostNames(), ", ")
}
