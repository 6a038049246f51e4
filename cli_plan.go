package porter

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/rsync"
)

// planFlags are deploy's flags that make it a plan.
type planFlags struct {
	plan, diff, showSecrets bool
}

// maxPlanFiles is how many file changes a plan prints per module; the
// totals count them all.
const maxPlanFiles = 50

// printPlan writes rep for people: per host and module, whether it would
// deploy and why, the files, the config files (with diffs when asked) and
// the handlers by owner. Everything that came from a host is escaped.
func printPlan(w io.Writer, rep *PlanReport) {
	if rep == nil {
		return
	}
	for _, h := range rep.Hosts {
		fmt.Fprintf(w, "host %s (%s)\n", h.Host, h.Address)
		for _, m := range h.Modules {
			printModulePlan(w, m)
		}
		if h.Err != nil {
			fmt.Fprintf(w, "  could not plan: %s\n", remote.Printable(h.Err.Error()))
		}
	}
	deploys, mods := 0, 0
	for _, h := range rep.Hosts {
		for _, m := range h.Modules {
			mods++
			if m.Deploy {
				deploys++
			}
		}
	}
	fmt.Fprintf(w, "plan: %d of %d modules would deploy, on %d host(s); nothing was changed\n", deploys, mods, len(rep.Hosts))
}

func printModulePlan(w io.Writer, m ModulePlan) {
	verdict := "would deploy"
	switch {
	case !m.Deploy:
		verdict = "would not deploy"
	case m.Lock != nil:
		verdict = "would stop at the lock"
	}
	fmt.Fprintf(w, "  %s: %s: %s\n", m.Module, verdict, remote.Printable(strings.Join(m.Reasons, "; ")))
	if !m.Deploy {
		return
	}
	fmt.Fprintf(w, "    path %s, strategy %s, version %s\n", remote.Printable(m.Path), m.Strategy, shortVersion(m.Version))
	printFilePlan(w, m)
	if len(m.Configs) > 0 {
		fmt.Fprintln(w, "    config files:")
		for _, c := range m.Configs {
			fmt.Fprintf(w, "      %s %s -> %s (%s)\n", c.Change, c.Local, remote.Printable(c.Remote), c.Mode)
			if c.NoDiff != "" {
				fmt.Fprintf(w, "        (no diff: %s)\n", remote.Printable(c.NoDiff))
			}
			for _, l := range strings.SplitAfter(c.Diff, "\n") {
				if l != "" {
					fmt.Fprintf(w, "        %s\n", remote.Printable(strings.TrimSuffix(l, "\n")))
				}
			}
		}
	}
	if m.Health != "" {
		fmt.Fprintf(w, "    health: %s\n", m.Health)
	}
	fmt.Fprintln(w, "    handlers:")
	for _, s := range m.Signals {
		for _, h := range s.Handlers {
			who := OwnerLabel(h.Owner)
			if who == "" {
				who = "(no owner)"
			}
			if !h.Described {
				fmt.Fprintf(w, "      %s: %s: not described (a plan cannot say what it would do)\n", s.Signal, who)
				continue
			}
			if len(h.Lines) == 0 {
				fmt.Fprintf(w, "      %s: %s: nothing to do\n", s.Signal, who)
			}
			for _, l := range h.Lines {
				fmt.Fprintf(w, "      %s: %s: %s\n", s.Signal, who, remote.Printable(l))
			}
		}
	}
}

func printFilePlan(w io.Writer, m ModulePlan) {
	if m.SkipSend != "" {
		fmt.Fprintf(w, "    files: not sent (%s)\n", m.SkipSend)
		return
	}
	s := m.Sync
	fmt.Fprintf(w, "    files: %d to send (%s), %d to delete, %d unchanged, of %d in the source (%s)\n",
		s.Sent, byteCount(s.BytesSent), s.Deleted, s.Unchanged, s.Files, byteCount(s.BytesTotal))
	shown := 0
	for _, c := range m.Files {
		if c.Op == rsync.OpMkdir || c.Op == rsync.OpAttrs {
			continue
		}
		if shown == maxPlanFiles {
			fmt.Fprintf(w, "      ... (%d more: see --json for all)\n", len(m.Files)-shown)
			break
		}
		shown++
		switch c.Op {
		case rsync.OpSend, rsync.OpCopy:
			fmt.Fprintf(w, "      %s %s (%s, %s)\n", fileVerb(c), remote.Printable(c.Path), c.Reason, byteCount(c.Size))
		default:
			fmt.Fprintf(w, "      %s %s (%s)\n", fileVerb(c), remote.Printable(c.Path), c.Reason)
		}
	}
}

// fileVerb says what a change does to a file, as a plan reads.
func fileVerb(c rsync.Change) string {
	switch {
	case c.Op == rsync.OpDelete:
		return "delete"
	case c.Reason == "new":
		return "add"
	case c.Op == rsync.OpLink:
		return "link"
	}
	return "change"
}

// byteCount writes n bytes as B, KB, MB or GB (powers of 1000).
func byteCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// plan runs deploy --plan: the plan as text, or as one JSON document with
// --json.
func (r *cliRun) plan(ctx context.Context, p *Project, opts PlanOptions) error {
	rep, err := Plan(ctx, p, opts)
	if !r.json {
		printPlan(r.Stdout, rep)
		return err
	}
	if rep != nil {
		if werr := writeJSON(r.Stdout, rep); werr != nil && err == nil {
			return werr
		}
	}
	return err
}
