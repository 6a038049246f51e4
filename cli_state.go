package porter

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/porter-deploy/porter/remote"
)

// hostFlags parses the flags of a command that talks to one host.
func (r *cliRun) hostFlags(name string, args []string, extra func(*flag.FlagSet)) (*flag.FlagSet, string, error) {
	var host string
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(r.Stderr)
	fs.StringVar(&host, "host", "", "the [hosts] `NAME`")
	if extra != nil {
		extra(fs)
	}
	r.addGlobalFlags(fs, nil)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, "", err
		}
		return nil, "", &usageError{msg: err.Error()}
	}
	r.applyGlobalFlags()
	if host == "" {
		return nil, "", &usageError{msg: name + ": pass --host NAME"}
	}
	r.host = host
	return fs, host, nil
}

func (r *cliRun) status(ctx context.Context, args []string) error {
	var release, config string
	fs, host, err := r.hostFlags("status", args, func(fs *flag.FlagSet) {
		fs.StringVar(&release, "release", DefaultRelease, "the [release:`NAME`] to compare with")
		fs.StringVar(&config, "config", "", "the config `NAME` to compare with (default: the one each module was deployed with)")
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
	rep, err := Status(ctx, p, StatusOptions{Host: host, Address: r.Addresses[host], Release: release,
		Config: config, Dial: r.dial, Logger: r.log})
	if rep != nil {
		printStatus(r, rep)
	}
	return err
}

func printStatus(r *cliRun, rep *StatusReport) {
	tw := tabwriter.NewWriter(r.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tSTATE\tDEPLOYED\tRELEASE\tCONFIG\tWHEN\tBY\tWOULD DEPLOY")
	for _, m := range rep.Modules {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Module, state, dep, rel, cfg, when, by, shortVersion(m.Version))
	}
	tw.Flush()
	for _, m := range rep.Modules {
		for _, err := range []error{m.RecordErr, m.LockErr} {
			if err != nil {
				fmt.Fprintf(r.Stderr, "%s: %s\n", m.Module, remote.Printable(err.Error()))
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
	fs, host, err := r.hostFlags("unlock", args, nil)
	if err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return &usageError{msg: "unlock: name the modules to unlock: unlock --host " + host + " MODULE..."}
	}
	p, err := r.loadProject()
	if err != nil {
		return err
	}
	done, err := Unlock(ctx, p, UnlockOptions{Host: host, Address: r.Addresses[host], Modules: fs.Args(), Dial: r.dial, Logger: r.log})
	for _, u := range done {
		name, held := u.Module, u.Held
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
