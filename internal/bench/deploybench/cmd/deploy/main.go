// Command deploy is the deploy program of deploybench: porter.Main() as
// the README tells a team to write it, and with DEPLOYBENCH_PEAK_RSS=1 in
// its environment it also prints its peak RSS to stderr when the command
// is done, for the benchmark's table.
package main

import (
	"os"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/bench/benchkit"
)

func main() {
	// porter.Main is os.Exit((&porter.CLI{}).Exec()); the peak RSS is read
	// between the two.
	code := (&porter.CLI{}).Exec()
	if os.Getenv("DEPLOYBENCH_PEAK_RSS") == "1" {
		benchkit.PrintPeakRSS(os.Stderr)
	}
	os.Exit(code)
}
