// Package mask hides credentials in the text porter shows: command lines
// in logs, errors and plans. It is internal so that package remote (whose
// errors quote the commands they ran) and package porter (MaskCommand,
// MaskSecrets) share one implementation; porter.MaskCommand is the public
// entry.
package mask

import (
	"regexp"
	"strings"
)

// Mask is what a credential is replaced with.
const Mask = "********"

// NamePattern is the pattern of a key, option or variable named like a
// credential: password, passwd, passphrase, secret, token, auth,
// credentials, api_key, private_key, access_key, or a word key (SECRET_KEY,
// --key, ssh-key). porter.MaskSecrets and Command both use it.
const NamePattern = `(?:[a-z0-9_.\-]*(?:pass(?:word|wd|phrase)?|secret|token|api[_\-]?key|private[_\-]?key|access[_\-]?key|credentials?|auth)[a-z0-9_.\-]*` +
	`|(?:[a-z0-9_.\-]*[_.\-])?keys?(?:[_.\-][a-z0-9_.\-]*)?)`

var (
	// secretWord is a word of a command that assigns a secret-looking name
	// (DB_PASSWORD=x, --token=x, Authorization: Bearer x); secretOption an
	// option whose value is the next word (--password x).
	secretWord   = regexp.MustCompile(`(?i)^-{0,2}` + NamePattern + `(?:=|:\s*)`)
	secretOption = regexp.MustCompile(`(?i)^-{1,2}` + NamePattern + `$`)
	// urlUserinfo is the userinfo of a URL: user:password@ or token@.
	urlUserinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@'"]+@`)
)

// Command returns the shell command line with its credentials
// replaced by Mask, for plans, logs and errors: the userinfo of a
// URL (https://********@host), the value of a word that assigns a name
// that looks secret (DB_PASSWORD=********, --api-key=********,
// -H 'Authorization: ********'), the word after an option named so
// (--token ********), and the password of curl's -u/--user user:password.
// A masked value keeps the quote it started in; the rest of the line is left
// as it is.
func Command(line string) string {
	line = urlUserinfo.ReplaceAllString(line, "${1}"+Mask+"@")
	words := shellWords(line)
	var b strings.Builder
	last := 0
	for i := 0; i < len(words); i++ {
		w := words[i]
		from := -1 // the index in w.text where the secret starts
		next := i+1 < len(words)
		switch text := string(w.text); {
		case secretWord.MatchString(text):
			from = len(secretWord.FindString(text))
		case next && secretOption.MatchString(text):
			w, from = words[i+1], 0
			i++
		case next && (text == "-u" || text == "--user") && strings.Contains(string(words[i+1].text), ":"):
			w = words[i+1]
			from = strings.IndexByte(string(w.text), ':') + 1
			i++
		}
		if from < 0 || from >= len(w.text) {
			continue
		}
		b.WriteString(line[last:w.raw[from]])
		b.WriteString(Mask)
		if q := w.quote[from]; q != 0 {
			b.WriteByte(q) // the value started in quotes: close them
		}
		last = w.end
	}
	b.WriteString(line[last:])
	return b.String()
}

// cmdWord is a word of a command line: its bytes once unquoted, and for
// each byte its offset in the line and the quote it was in (0, ' or ").
type cmdWord struct {
	text  []byte
	raw   []int
	quote []byte
	end   int // the offset after the word's last byte in the line
}

// shellWords splits a command line into words the way sh would, closely
// enough to find the values to mask: blanks and the operators ;&|()<>
// separate words, quotes and backslashes are taken out. Substitutions
// ($(...), `...`) are not followed.
func shellWords(s string) []cmdWord {
	var out []cmdWord
	cur := -1 // the index in out of the word being read; -1 between words
	add := func(c byte, at int, q byte) {
		if cur < 0 {
			out, cur = append(out, cmdWord{}), len(out)
		}
		w := &out[cur]
		w.text, w.raw, w.quote = append(w.text, c), append(w.raw, at), append(w.quote, q)
	}
	var q byte // the quote open at i
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q == '\'' && c == '\'', q == '"' && c == '"':
			q = 0
		case q == '\'':
			add(c, i, q)
		case c == '\\' && i+1 < len(s) && (q == 0 || strings.IndexByte("\"\\$`", s[i+1]) >= 0):
			i++
			add(s[i], i, q)
		case q == '"':
			add(c, i, q)
		case c == '\'' || c == '"':
			q = c
		case strings.IndexByte(" \t\n;&|()<>", c) >= 0:
			cur = -1
			continue
		default:
			add(c, i, 0)
		}
		if cur >= 0 {
			out[cur].end = i + 1
		}
	}
	return out
}
