package remote

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Quote returns s quoted for a POSIX shell, so that the shell reads it back
// as exactly one word with exactly these bytes:
//
//	a b   ->  'a b'
//	it's  ->  'it'\''s'
//	(empty) -> ''
//
// A word made only of letters, digits and -_./=:@,+% is left as it is.
// Every value put into a command run by [Host.Run] goes through Quote. The
// quoting is POSIX sh's, and that is the shell that reads it: commands
// reach /bin/sh through the remote shell, never the user's login shell
// (see the package doc). A NUL byte cannot be quoted (see [CanQuote]); a
// command holding one is refused by Run.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func isSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_./=:@,+%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ErrNUL is the error for a value or command holding a NUL byte: no shell
// command can carry one (a shell reads it as the end of the string), so
// porter refuses it before anything is sent.
var ErrNUL = errors.New("it holds a NUL byte, which no shell command can carry")

// CanQuote reports whether Quote can quote s for a shell: an error wrapping
// [ErrNUL] when s holds a NUL byte. [Host.Run] checks every command it is
// given the same way, so a value quoted into a command never needs this
// check to be safe; it lets a caller say which value was wrong.
func CanQuote(s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("value %s: %w", Printable(shorten(s, 100)), ErrNUL)
	}
	return nil
}

// Printable returns s with the characters that a terminal would act on
// made visible: control characters but tab and newline, DEL, C1 controls
// and invalid UTF-8 become \xNN or \u00NN escapes, so that text that comes
// from a host (a lock's holder, a record's field, stderr) cannot move the
// cursor, change colours or rewrite what a person reads.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if !printableRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !printableRune(r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func printableRune(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return true
	case r == utf8.RuneError:
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return false
	case r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return false // line separators and bidirectional overrides
	}
	return true
}
