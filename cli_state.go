package porter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/porter-deploy/porter/remote"
)

// hostFlags parses the flags of a command that talks to hosts, and
// returns its target.
func (r *cliRun) hostFlags(name string, args []string, extra func(*pflag.FlagSet)) (*pflag.FlagSet, Target, error) {
	var host string
	var parallel int
	fs := r.newFlagSet(name)
	fs.StringVar(&host, "host", "", "the [hosts] `NAME`: a host, a group, or a comma list of them")
	fs.IntVar(&parallel, "parallel", 0, fmt.Sprintf("work on at most `N` hosts at once (default: all, up to %d)", MaxParallel))
	if extra != nil {
		extra(fs)
	}
	r.addGlobalFlags(fs)
	if err := r.parseFlags(fs, args, func(w io.Writer) { r.commandUsage(w, fs, nil) }); err != nil {
		return nil, Target{}, err
	}
	r.applyGlobalFlags()
	if host == "" {
		return nil, Target{}, &usageError{msg: name + ": pass --host NAME"}
	}
	if parallel < 0 {
		return nil, Target{}, &usageError{msg: fmt.Sprintf("%s: --parallel %d: want 0 (the default) or more", name, parallel)}
	}
	r.host = host
	return fs, r.target(host, parallel), nil
}

func (r *cliRun) status(ctx context.Context, args []string) error {
	var release, config string
	fs, tg, err := r.hostFlags("status", args, func(fs *pflag.FlagSet) {
		fs.StringVar(&release, "release", DefaultRelease, "the [release:`NAME`] to compare with")
		fs.StringVar(&config, "config", "", "the config `NAME` to compare with (default: the one each module was deployed with)")
		r.addJSONFlag(fs, "the report to stdout as one JSON document, schema "+StatusSchema)
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("status: unexpected argument %q", fs.Arg(0))}
	}
	p, err := r.loadProject()
	if err != nil {
		return err
	}
	rep, err := Status(ctx, p, StatusOptions{Target: tg, Release: release, Config: config, Logger: r.log})
	switch {
	case rep != nil && r.json:
		return errors.Join(err, writeJSON(r.Stdout, rep))
	case rep != nil:
		printStatus(r, rep)
	}
	return err
}

// addJSONFlag adds --json to the command of fs, which then writes what
// to stdout instead of its text (docs/json.md describes the schemas).
func (r *cliRun) addJSONFlag(fs *pflag.FlagSet, what string) {
	fs.BoolVar(&r.json, "json", false, "write "+what)
}

// writeJSON writes v's JSON form to w, indented, on lines of its own.
func writeJSON(w io.Writer, v json.Marshaler) error {
	b, err := v.MarshalJSON()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	if _, err := out.WriteTo(w); err != nil {
		return fmt.Errorf("write the JSON document: %w", err)
	}
	return nil
}

func printStatus(r *cliRun, rep *StatusReport) {
	tw := tabwriter.NewWriter(r.Stdout, 0, 4, 2, ' ', 0)
	many := len(rep.Hosts) > 1
	fmt.Fprintln(tw, hostColumn(many, "HOST")+"MODULE\tSTATE\tDEPLOYED\tRELEASE\tCONFIG\tWHEN\tBY\tWOULD DEPLOY")
	for _, h := range rep.Hosts {
		for _, m := range h.Modules {
			state := string(m.State)
			if m.Lock != nil {
				state = fmt.Sprintf("locked by %s for %s (pid %d)", oneLine(orUnknown(m.Lock.By)), m.Lock.Age(), m.Lock.PID)
			}
			if m.RecordErr != nil {
				state += " (corrupt record)"
			}
			// The record's fields come from the host: escaped.
			dep, rel, cfg, when, by := "-", "-", "-", "-", "-"
			if rec := m.Record; rec != nil {
				dep, rel, cfg, by = oneLine(shortVersion(rec.Version)), oneLine(rec.Release), oneLine(rec.Config), oneLine(rec.DeployedBy)
				when = rec.DeployedAt.Local().Format(time.DateTime)
			}
			if m.Current != "" {
				dep += " (release " + m.Current + ")"
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", hostColumn(many, h.Host), m.Module, state, dep, rel, cfg, when, by, shortVersion(m.Version))
		}
	}
	tw.Flush()
	for _, h := range rep.Hosts {
		for _, m := range h.Modules {
			for _, err := range []error{m.RecordErr, m.LockErr} {
				if err != nil {
					fmt.Fprintf(r.Stderr, "%s%s: %s\n", hostPrefix(many, h.Host), m.Module, remote.Printable(err.Error()))
				}
			}
		}
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown deploy"
	}
	return s
}

func (r *cliRun) unlock(ctx context.Context, args []string) error {
	fs, tg, err := r.hostFlags("unlock", args, nil)
	if err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return &usageError{msg: "unlock: name the modules to unlock: unlock --host " + tg.Host + " MODULE..."}
	}
	p, err := r.loadProject()
	if err != nil {
		return err
	}
	done, err := Unlock(ctx, p, UnlockOptions{Target: tg, Modules: fs.Args(), Logger: r.log})
	multi := manyHosts(p, tg)
	for _, u := range done {
		name, held := u.Module, u.Held
		if multi {
			name += " on " + u.Host
		}
		if held == nil {
			fmt.Fprintf(r.Stdout, "%s was not locked\n", name)
			continue
		}
		since := "an unknown time"
		if !held.Since.IsZero() {
			since = held.Since.Local().Format(time.DateTime) + ", " + held.Age() + " ago"
		}
		fmt.Fprintf(r.Stdout, "unlocked %s (held by %s since %s, pid %d)\n", name, oneLine(orUnknown(held.By)), since, held.PID)
	}
	return err
}
