package remote_test

import (
	"testing"

	"github.com/porter-deploy/porter/remote"
	"github.com/stretchr/testify/assert"
)

func TestCheckAddress(t *testing.T) {
	for _, ok := range []string{"web1", "deploy@web1", "deploy@web3:2222", "[::1]:2222", "u@[::1]", "me@corp@host", "app.example.com"} {
		assert.NoError(t, remote.CheckAddress(ok), ok)
	}
	for in, want := range map[string]string{
		"":                         "empty address",
		"root@a, root@b":           `"," at byte 6`,
		"root@a root@b":            `" " at byte 6`,
		"deploy@web\t1":            `"\t" at byte 10`,
		"-oProxyCommand=x":         `starts with "-"`,
		"-u@host":                  `starts with "-"`,
		"u@-host":                  `a user or host cannot start with "-"`,
		"u@host:0":                 `bad port "0"`,
		"u@host:ssh":               `bad port "ssh"`,
		"u@host:99999":             `bad port "99999"`,
		"@host":                    "empty user",
		"u@":                       "empty host",
		"deploy@web1\ndeploy@web2": `"\n" at byte 11`,
	} {
		err := remote.CheckAddress(in)
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
}

// TestCheckAddressFuzzFinds holds the addresses FuzzCheckAddress found
// accepted (an empty host, a bracket in a host, bytes that are not UTF-8):
// each is refused with its reason.
func TestCheckAddressFuzzFinds(t *testing.T) {
	for in, want := range map[string]string{
		"[]":      `address "[]": empty host`,
		"u@[]:22": `address "u@[]:22": empty host`,
		"[[]":     `address "[[]": host "[" is not a host name: only an IPv6 address goes in brackets, [::1]:22`,
		"[a]b]":   `address "[a]b]": host "a]b" is not a host name: only an IPv6 address goes in brackets, [::1]:22`,
		"a]":      `address "a]": host "a]" is not a host name: only an IPv6 address goes in brackets, [::1]:22`,
		"[-h]:22": `address "[-h]:22": a user or host cannot start with "-"`,
		"\xff":    `address "\xff": not UTF-8 text: an address is a host name or an ssh_config alias`,
		"u@h\xc3": `address "u@h\xc3": not UTF-8 text: an address is a host name or an ssh_config alias`,
	} {
		assert.EqualError(t, remote.CheckAddress(in), want, "%q", in)
	}
	assert.NoError(t, remote.CheckAddress("u@[fe80::1]"))
	assert.NoError(t, remote.CheckAddress("deploy@bücher.example"))
}
