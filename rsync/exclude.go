package rsync

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// A pattern is one compiled exclude pattern (see the package doc for the syntax).
type pattern struct {
	src     string         // as given, for messages
	re      *regexp.Regexp // anchored
	dirOnly bool           // trailing "/": matches directories only
	full    bool           // contains a "/": matched against the whole relative path
}

// matcher decides which paths are excluded. The zero value excludes nothing
// but porter's own names at the top of the tree.
type matcher struct {
	pats []pattern
}

// reserved reports whether rel (slash-separated, relative to the top of the
// tree) is a name porter keeps for itself: ".porter" (its state directory on
// the host) and ".porter-tmp-*" (its staging directories), at the top only.
func reserved(rel string) bool {
	return rel == stateDir || strings.HasPrefix(rel, stagePrefix) && !strings.Contains(rel, "/")
}

const (
	stateDir    = ".porter"
	stagePrefix = ".porter-tmp-"
)

func newMatcher(patterns []string) (*matcher, error) {
	m := &matcher{}
	for _, p := range patterns {
		cp, err := compilePattern(p)
		if err != nil {
			return nil, err
		}
		if cp != nil {
			m.pats = append(m.pats, *cp)
		}
	}
	return m, nil
}

// compilePattern compiles one pattern; blank patterns and "#" comments yield nil.
func compilePattern(p string) (*pattern, error) {
	s := strings.TrimSpace(p)
	if s == "" || strings.HasPrefix(s, "#") {
		return nil, nil
	}
	if strings.HasPrefix(s, "!") {
		return nil, fmt.Errorf("exclude pattern %q: negation (!) is not supported: list only what to leave out", p)
	}
	cp := &pattern{src: p}
	if strings.HasSuffix(s, "/") {
		cp.dirOnly = true
		s = strings.TrimRight(s, "/")
	}
	if strings.HasPrefix(s, "/") {
		cp.full = true
		s = strings.TrimLeft(s, "/")
	}
	if strings.Contains(s, "/") {
		cp.full = true
	}
	if s == "" {
		return nil, fmt.Errorf("exclude pattern %q matches nothing: give a name or a glob", p)
	}
	re, err := globRegexp(s)
	if err != nil {
		return nil, fmt.Errorf("exclude pattern %q: %w", p, err)
	}
	cp.re = re
	return cp, nil
}

// globRegexp turns a glob into an anchored regexp: "*" and "?" never match
// "/", "[...]" is a class ("[!...]" negated), "**" matches across
// directories ("**/x", "a/**", "a/**/b"), "\" escapes the next character.
func globRegexp(g string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch c {
		case '*':
			if i+1 < len(g) && g[i+1] == '*' {
				// "**": across directories.
				atStart := i == 0 || g[i-1] == '/'
				j := i + 2
				if atStart && j < len(g) && g[j] == '/' {
					b.WriteString("(?:.*/)?") // "**/": zero or more leading dirs
					i = j
				} else {
					b.WriteString(".*")
					i = j - 1
				}
				continue
			}
			b.WriteString("[^/]*")
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := i + 1
			if j < len(g) && (g[j] == '!' || g[j] == '^') {
				j++
			}
			if j < len(g) && g[j] == ']' {
				j++
			}
			for j < len(g) && g[j] != ']' {
				j++
			}
			if j >= len(g) {
				return nil, fmt.Errorf("unterminated [ in %q", g)
			}
			class := g[i+1 : j]
			b.WriteString("[")
			if strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^") {
				b.WriteString("^/")
				class = class[1:]
			}
			b.WriteString(strings.ReplaceAll(class, `\`, `\\`))
			b.WriteString("]")
			i = j
		case '\\':
			if i+1 < len(g) {
				i++
				b.WriteString(regexp.QuoteMeta(string(g[i])))
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// excluded reports whether the entry at rel (slash-separated, relative to the
// top of the tree, never "") is excluded by itself. It does not look at the
// parents: callers skip the contents of an excluded directory.
func (m *matcher) excluded(rel string, isDir bool) bool {
	if reserved(rel) {
		return true
	}
	base := path.Base(rel)
	for i := range m.pats {
		p := &m.pats[i]
		if p.dirOnly && !isDir {
			continue
		}
		if p.full {
			if p.re.MatchString(rel) {
				return true
			}
		} else if p.re.MatchString(base) {
			return true
		}
	}
	return false
}
