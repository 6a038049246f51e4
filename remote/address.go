package remote

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckAddress reports whether addr can name an SSH host: user@host[:port],
// host[:port], [v6]:port or an ssh_config alias, in UTF-8, with no space,
// comma or control character anywhere, and neither user nor host starting
// with "-" (which ssh and scp would take as an option). It does not
// resolve the name.
func CheckAddress(addr string) error {
	if i := strings.IndexFunc(addr, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ',' }); i >= 0 {
		return fmt.Errorf("address %q: %q at byte %d: an address holds no spaces, commas or control characters (several hosts go in a group: name = user@a, user@b)", addr, addr[i:i+1], i)
	}
	if !utf8.ValidString(addr) {
		return fmt.Errorf("address %q: not UTF-8 text: an address is a host name or an ssh_config alias", addr)
	}
	if strings.HasPrefix(addr, "-") {
		return fmt.Errorf("address %q: starts with \"-\"", addr)
	}
	_, host, _, err := splitAddress(addr)
	if err != nil {
		return err
	}
	if strings.ContainsAny(host, "@/") {
		return fmt.Errorf("address %q: host %q is not a host name", addr, host)
	}
	return nil
}
