package porter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-ini/ini"
)

// MaxINISize is the largest project or module ini that LoadProject reads,
// 1 MiB: a real one is a few KiB, and go-ini's parse time grows with the
// square of the number of keys (4 MB took 14 s), so a bigger file is
// refused before it is parsed.
const MaxINISize = 1 << 20

// ErrINITooLarge is wrapped by the error of an ini over MaxINISize.
var ErrINITooLarge = errors.New("too large for an ini")

// INIError is an ini that cannot be read as one: a syntax error, or a
// section or key written twice. Line is 1-based, 0 when not known.
type INIError struct {
	File string // as given to the loader
	Line int
	Msg  string
}

// Error names the file and line, what is wrong and how to write it.
func (e *INIError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var iniOptions = ini.LoadOptions{
	InsensitiveKeys:            true, // ConfigParser lowercased option names
	AllowPythonMultilineValues: true,
	SpaceBeforeInlineComment:   true, // "url = a;b" keeps ";b", "x = 1 ; note" drops it
	// go-ini reads a key missing from [release:1.2] in [release:1]: no
	// section name holds a NUL, so sections never inherit.
	ChildSectionDelimiter: "\x00",
}

// loadINI reads the ini at path, at most MaxINISize bytes, and parses it.
// name is how errors call the file (relative to the project). A missing
// file is an error that wraps fs.ErrNotExist.
func loadINI(path, name string) (*ini.File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// Read one byte more than the limit: the size is that of what was
	// read, not of a stat that a growing file would outrun.
	b, err := io.ReadAll(io.LimitReader(fh, MaxINISize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > MaxINISize {
		return nil, fmt.Errorf("%s: more than %d bytes: %w (a real one is a few KiB; porter reads at most MaxINISize, 1 MiB): is it the right file?", name, MaxINISize, ErrINITooLarge)
	}
	f, err := ini.LoadSources(iniOptions, b)
	if err != nil {
		return nil, syntaxError(name, b, err)
	}
	if err := checkDuplicates(name, b); err != nil {
		return nil, err
	}
	return f, nil
}

// syntaxError is go-ini's parse error err of the ini b, with the line it
// quotes found in b.
func syntaxError(name string, b []byte, err error) error {
	msg := strings.TrimSpace(err.Error())
	line := 0
	if _, quoted, ok := strings.Cut(msg, ": "); ok {
		line = findLine(b, strings.TrimSpace(quoted))
	}
	return &INIError{File: name, Line: line, Msg: msg + ": write [section], key = value, or a ; comment"}
}

// findLine returns the 1-based number of the first line of b that reads
// text once trimmed, 0 when none does.
func findLine(b []byte, text string) int {
	if text == "" {
		return 0
	}
	for i, l := range bytes.Split(b, []byte("\n")) {
		if strings.TrimSpace(string(l)) == text {
			return i + 1
		}
	}
	return 0
}

// checkDuplicates refuses a section or a key written twice in the ini b,
// as Python's ConfigParser does: go-ini would merge the sections and keep
// the last value without a word. It reads the lines itself, for their
// numbers; an indented line (a value's continuation) and the inside of a
// """ value are not keys.
func checkDuplicates(name string, b []byte) error {
	sections := map[string]int{} // section -> its line
	keys := map[string]int{}     // section NUL key -> its line
	section, quoted := ini.DefaultSection, false
	for i, raw := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(raw)
		if strings.Count(raw, `"""`)%2 == 1 {
			quoted = !quoted
			if !quoted {
				continue // the line that ends the value
			}
		} else if quoted {
			continue
		}
		if l == "" || strings.ContainsRune(";#\"`", rune(l[0])) || raw[0] == ' ' || raw[0] == '\t' {
			continue
		}
		if l[0] == '[' {
			end := strings.IndexByte(l, ']')
			if end < 0 {
				continue
			}
			section = strings.TrimSpace(l[1:end])
			if first, dup := sections[section]; dup {
				return &INIError{File: name, Line: i + 1, Msg: fmt.Sprintf("[%s] again (first on line %d): write each section once", section, first)}
			}
			sections[section] = i + 1
			continue
		}
		end := strings.IndexAny(l, "=:")
		if end <= 0 {
			continue
		}
		key := strings.ToLower(strings.TrimSpace(l[:end]))
		if first, dup := keys[section+"\x00"+key]; dup {
			return &INIError{File: name, Line: i + 1, Msg: fmt.Sprintf("[%s] %s again (first on line %d): set each key once", section, key, first)}
		}
		keys[section+"\x00"+key] = i + 1
	}
	return nil
}

// isEmpty reports whether f has no key in any section (a file of 0 bytes,
// or only comments).
func isEmpty(f *ini.File) bool {
	for _, s := range f.Sections() {
		if len(s.Keys()) > 0 || s.Name() != ini.DefaultSection {
			return false
		}
	}
	return true
}
