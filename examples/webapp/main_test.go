package main

import (
	"testing"

	"github.com/porter-deploy/porter/internal/testenv"
)

// TestMain keeps the dir:// hash cache of the example's deploys out of the
// home of whoever runs the tests.
func TestMain(m *testing.M) { testenv.Main(m) }
