package remote

import "strings"

// Quote returns s quoted for a POSIX shell, so that the shell reads it back
// as exactly one word with exactly these bytes:
//
//	a b   ->  'a b'
//	it's  ->  'it'\''s'
//	(empty) -> ''
//
// A word made only of letters, digits and -_./=:@,+% is left as it is.
// Every value put into a command run by [Host.Run] goes through Quote.
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
