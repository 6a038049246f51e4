package porter

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/porter-deploy/porter/remote"
)

// addRolloutFlags adds deploy's flags for several hosts to fs, into opts,
// and returns what checks them once parsed.
// rolloutFlagNames are the flags addRolloutFlags adds, apart in the usage.
var rolloutFlagNames = []string{"parallel", "batch", "max-failures", "keep-going"}

func addRolloutFlags(fs *pflag.FlagSet, opts *Options) (check func() error) {
	fs.IntVar(&opts.Parallel, "parallel", 0, fmt.Sprintf("deploy at most `N` hosts at once (default: every host of --host, up to %d)", MaxParallel))
	fs.IntVar(&opts.Batch, "batch", 0, "rolling deploy: `K` hosts at a time; the next batch starts once this one has succeeded")
	fs.IntVar(&opts.MaxFailures, "max-failures", 1, "start no new host once `F` hosts have failed (hosts in flight finish)")
	fs.BoolVar(&opts.KeepGoing, "keep-going", false, "run every host to its end whatever fails elsewhere; skip hosts whose lock is held")
	return func() error {
		for name, v := range map[string]int{"parallel": opts.Parallel, "batch": opts.Batch} {
			if v < 0 {
				return &usageError{msg: fmt.Sprintf("deploy: --%s %d: want 0 (the default) or more", name, v)}
			}
		}
		if opts.MaxFailures < 1 {
			return &usageError{msg: fmt.Sprintf("deploy: --max-failures %d: want 1 or more (or --keep-going)", opts.MaxFailures)}
		}
		return nil
	}
}

// target is the Target of a command for --host host.
func (r *cliRun) target(host string, parallel int) Target {
	return Target{Host: host, Addresses: r.Addresses, Dial: r.dial, Parallel: parallel}
}

// printReport prints the table host x module, the totals and, when some
// host failed or never started, the command line that re-runs only those
// (rerun makes it for a --host value).
func printReport(w io.Writer, rep *Report, rerun func(hosts string) string) {
	if rep == nil || len(rep.Hosts) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	many := len(rep.Hosts) > 1
	fmt.Fprintln(tw, hostColumn(many, "HOST")+"MODULE\tSTATUS\tVERSION\tTIME\tFILES SENT\tBYTES SENT")
	for _, h := range rep.Hosts {
		for _, m := range h.Modules {
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%.1fs\t%d\t%d\n", hostColumn(many, h.Host), m.Module, m.Outcome, shortVersion(m.Version), m.Duration.Seconds(), m.Sync.Sent, m.Sync.BytesSent)
		}
	}
	tw.Flush()
	for _, h := range rep.Hosts {
		for _, m := range h.Modules {
			for _, sk := range m.Skipped {
				fmt.Fprintf(w, "%sskipped %s %s: %s (%s)\n", hostPrefix(many, h.Host), m.Module, remote.Printable(sk.Step), remote.Printable(sk.Why), OwnerLabel(sk.Owner))
			}
		}
	}
	if !many {
		return // the error line says the rest
	}
	for _, h := range rep.Hosts {
		if h.Err != nil {
			fmt.Fprintf(w, "%s: %s: %s\n", h.Host, h.Outcome(), remote.Printable(h.Err.Error()))
		}
	}
	totals := rep.Totals()
	var parts []string
	for _, o := range []Outcome{Deployed, Unchanged, Failed, NotStarted} {
		if totals[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", totals[o], o))
		}
	}
	fmt.Fprintf(w, "%d hosts: %s (%.1fs)\n", len(rep.Hosts), strings.Join(parts, ", "), rep.Duration.Seconds())
	if hosts := rep.Rerun(); len(hosts) > 0 && rerun != nil {
		fmt.Fprintf(w, "to re-run the hosts that failed or did not start: %s\n", rerun(strings.Join(hosts, ",")))
	}
}

// rerunCommand is the deploy command line of fs (as parsed: every flag
// given, once, as --name=value, by name) for the hosts host, after the global flags
// given before the command, quoted for a POSIX shell.
func rerunCommand(global []string, fs *pflag.FlagSet, host string) string {
	out := []string{progName()}
	out = append(out, global...)
	out = append(out, "deploy", "--host="+host)
	var given []*pflag.Flag
	fs.Visit(func(f *pflag.Flag) {
		if f.Name != "host" {
			given = append(given, f)
		}
	})
	// By name, whatever the order of fs.
	slices.SortFunc(given, func(a, b *pflag.Flag) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range given {
		out = append(out, "--"+f.Name+"="+f.Value.String())
	}
	for i := range out {
		out[i] = shellWord(out[i])
	}
	return strings.Join(out, " ")
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=.,/:@%+", r))
	}) < 0 {
		return s
	}
	return remote.Quote(s)
}

// hostColumn is the HOST column of a table: shown only when the command
// covered several hosts.
func hostColumn(many bool, host string) string {
	if !many {
		return ""
	}
	return host + "\t"
}

// hostPrefix is "host: " when a command covered several hosts.
func hostPrefix(many bool, host string) string {
	if !many {
		return ""
	}
	return host + ": "
}

// manyHosts reports whether tg names several hosts of p.
func manyHosts(p *Project, tg Target) bool {
	hs, err := tg.hosts(p)
	return err == nil && len(hs) > 1
}
