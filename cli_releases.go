package porter

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
)

func (r *cliRun) releases(ctx context.Context, args []string) error {
	fs, tg, err := r.hostFlags("releases", args, func(fs *pflag.FlagSet) {
		r.addJSONFlag(fs, "the releases to stdout as one JSON document, schema "+ReleasesSchema)
	})
	if err != nil {
		return err
	}
	p, err := r.loadProject()
	if err != nil {
		return err
	}
	all, err := Releases(ctx, p, ReleasesOptions{Target: tg, Modules: fs.Args(), Logger: r.log})
	if r.json {
		if all == nil && err != nil {
			return err // no host answered, or the command could not start
		}
		return errors.Join(err, writeJSON(r.Stdout, ReleasesReport(all)))
	}
	tw := tabwriter.NewWriter(r.Stdout, 0, 4, 2, ' ', 0)
	many := manyHosts(p, tg)
	fmt.Fprintln(tw, hostColumn(many, "HOST")+"MODULE\tRELEASE\tVERSION\tSTATE\tSTARTED\tBY\tCURRENT")
	for _, mr := range all {
		if mr.Strategy != StrategyReleases {
			fmt.Fprintf(tw, "%s%s\t(deployed in place)\t\t\t\t\t\n", hostColumn(many, mr.Host), mr.Module)
			continue
		}
		if len(mr.Releases) == 0 {
			fmt.Fprintf(tw, "%s%s\t(none)\t\t\t\t\t\n", hostColumn(many, mr.Host), mr.Module)
		}
		for _, rel := range mr.Releases {
			state := string(rel.State)
			if !rel.RolledBack.IsZero() {
				state += ", rolled back from"
			}
			started, cur := "-", ""
			if !rel.Started.IsZero() {
				started = rel.Started.Local().Format(time.DateTime)
			}
			if rel.Current {
				cur = "current"
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n", hostColumn(many, mr.Host), mr.Module, rel.ID, oneLine(shortVersion(rel.Version)), state, started, oneLine(rel.By), cur)
		}
	}
	tw.Flush()
	return err
}

func (r *cliRun) rollback(ctx context.Context, args []string) error {
	var to string
	fs, tg, err := r.hostFlags("rollback", args, func(fs *pflag.FlagSet) {
		fs.StringVar(&to, "to", "", "the release `ID` to go to (default: the one live before the current one)")
	})
	if err != nil {
		return err
	}
	if to != "" && fs.NArg() != 1 {
		return &usageError{msg: "rollback: --to names a release of one module: rollback --host " + tg.Host + " --to ID MODULE"}
	}
	p, err := r.loadProject()
	if err != nil {
		return err
	}
	done, err := Rollback(ctx, p, RollbackOptions{Target: tg, Modules: fs.Args(), To: to, Logger: r.log})
	many := manyHosts(p, tg)
	for _, rb := range done {
		fmt.Fprintf(r.Stdout, "%s%s: rolled back from %s to %s\n", hostPrefix(many, rb.Host), rb.Module, rb.From, rb.To)
	}
	return err
}
