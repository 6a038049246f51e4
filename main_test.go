package porter_test

import (
	"testing"

	"github.com/porter-deploy/porter/internal/testenv"
)

// TestMain keeps the dir:// hash caches of the deploys these tests run out
// of the home of whoever runs them.
func TestMain(m *testing.M) { testenv.Main(m) }
