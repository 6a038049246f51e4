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
