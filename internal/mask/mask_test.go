package mask_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/porter-deploy/porter/internal/mask"
)

// The cases of the rules are in porter's TestMaskCommand, through the
// public entry; these are the ones package remote relies on.
func TestCommand(t *testing.T) {
	for in, want := range map[string]string{
		"mysql --password=hunter2 -e 'select 1'":     "mysql --password=******** -e 'select 1'",
		"git clone https://bob:s3cret@example.com/r": "git clone https://********@example.com/r",
		"cd -- '/srv/app' && make":                   "cd -- '/srv/app' && make",
	} {
		assert.Equal(t, want, mask.Command(in), in)
	}
}
