package benchkit

import (
	"fmt"
	"io"
	"syscall"
	"time"
)

// Case is one line of a table: the same work done by each of Tools, n
// rounds, the tools taking turns to go first.
type Case struct {
	Name, Target string
	Tools        []string // Tools[0] is the tool under test: its copy must be right after every run

	Setup   func(tool string) error // once per tool before the rounds (nil: nothing)
	Prepare func(round int) error   // before each round, for all tools (nil: nothing)
	Reset   func(tool string) error // before each run of a tool (nil: nothing)
	Run     func(tool string) (Result, error)
	Verify  func(tool string) error           // after the run: nil when the copy is right
	Check   func(tool string, r Result) error // after the run: nil when its output says it did what the case means (nil: no check)

	Results  map[string][]Result
	Verified map[string]string // tool -> "ok" or "differs: ..." (other tools: their last run)
}

// RunCase runs c n times per tool, alternating which tool goes first, with
// the page cache written back (sync) before each run, and checks the copy
// of Tools[0] after every run and each other tool's after its last. A
// difference in Tools[0]'s copy is an error; another tool's is recorded in
// Verified. Progress goes to log.
func RunCase(c *Case, n int, log io.Writer) error {
	fmt.Fprintf(log, "== %s\n", c.Name)
	c.Results = map[string][]Result{}
	c.Verified = map[string]string{}
	for _, t := range c.Tools {
		if c.Setup != nil {
			if err := c.Setup(t); err != nil {
				return fmt.Errorf("%s (setup): %w", t, err)
			}
		}
	}
	for round := range n {
		if c.Prepare != nil {
			if err := c.Prepare(round); err != nil {
				return err
			}
		}
		for k := range c.Tools {
			t := c.Tools[(round+k)%len(c.Tools)]
			if err := runOne(c, t, round == n-1, log, round); err != nil {
				return err
			}
		}
	}
	return nil
}

func runOne(c *Case, t string, last bool, log io.Writer, round int) error {
	if c.Reset != nil {
		if err := c.Reset(t); err != nil {
			return err
		}
	}
	syscall.Sync()
	r, err := c.Run(t)
	if err != nil {
		return fmt.Errorf("%s: %w", t, err)
	}
	if c.Check != nil {
		if err := c.Check(t, r); err != nil {
			return fmt.Errorf("%s run %d: %w", t, round+1, err)
		}
	}
	c.Results[t] = append(c.Results[t], r)
	fmt.Fprintf(log, "   %-8s run %d: %v\n", t, round+1, r.Took.Round(time.Millisecond))
	if t != c.Tools[0] && !last {
		return nil
	}
	if err := c.Verify(t); err != nil {
		if t == c.Tools[0] {
			return fmt.Errorf("%s's copy differs from the source: %w", t, err)
		}
		c.Verified[t] = "differs: " + err.Error()
	} else if c.Verified[t] == "" {
		c.Verified[t] = "ok"
	}
	return nil
}

// Cell is the median of tool's runs ("1.23 s"), or "-".
func (c *Case) Cell(tool string) string {
	if _, ok := c.Results[tool]; !ok {
		return "-"
	}
	d, _ := Median(c.Results[tool])
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// Ratio is the median of a over that of b ("0.59x"), or "-".
func (c *Case) Ratio(a, b string) string {
	if _, ok := c.Results[b]; !ok {
		return "-"
	}
	da, _ := Median(c.Results[a])
	db, _ := Median(c.Results[b])
	return fmt.Sprintf("%.2fx", da.Seconds()/db.Seconds())
}

// PeakRSS is the highest peak RSS of tool's runs, in MB.
func (c *Case) PeakRSS(tool string) string {
	_, rss := Median(c.Results[tool])
	return fmt.Sprintf("%d MB", rss/1024)
}

// Checked sums up Verified for the table: "all identical", or what
// differed.
func (c *Case) Checked() string {
	var bad []string
	for _, t := range c.Tools {
		if v := c.Verified[t]; v != "" && v != "ok" {
			bad = append(bad, t+": "+Shorten(v, 60))
		}
	}
	if len(bad) == 0 {
		return "all identical"
	}
	out := c.Tools[0] + " identical"
	for _, b := range bad {
		out += "; " + b
	}
	return out
}
