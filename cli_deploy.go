package porter

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// forceFlag is --force (all modules) or --force=a,b (those): its NoOptDefVal
// is "true".
type forceFlag struct {
	set   bool
	value Force
}

func (f *forceFlag) Type() string { return "force" }

func (f *forceFlag) String() string {
	if !f.set {
		return ""
	}
	if f.value.all {
		return "true"
	}
	return strings.Join(f.value.modules, ",")
}

func (f *forceFlag) Set(v string) error {
	f.set = true
	switch v {
	case "true": // bare --force
		f.value = ForceAll()
		return nil
	case "false":
		f.set, f.value = false, Force{}
		return nil
	}
	names := splitList(v)
	if len(names) == 0 {
		// --force="$CHANGED" with nothing changed must not redeploy all.
		return fmt.Errorf("no module named: use --force for all, or --force=a,b")
	}
	f.value = ForceModules(names...)
	return nil
}

const deploySynopsis = "deploy --host NAME --config NAME [--release NAME] [--force[=a,b]] [--plan [--diff]] [--json] [rollout flags] [plugin flags] [global flags]"

// deployFlags returns the flag set of deploy for the project p (nil: one
// that could not be loaded, whose plugins' flags are unknown).
func (r *cliRun) deployFlags(p *Project, opts *Options, force *forceFlag, plan *planFlags) (fs *pflag.FlagSet, rollout func() error, groups flagGroups, err error) {
	fs = r.newFlagSet("deploy")
	fs.StringVar(&opts.Host, "host", "", "the [hosts] `NAME` to deploy to: a host, a group, or a comma list of them")
	fs.StringVar(&opts.Config, "config", "", "the config/`NAME` directory of each module (testing, production, ...)")
	fs.StringVar(&opts.Release, "release", DefaultRelease, "the [release:`NAME`] section to deploy")
	fs.Var(force, "force", "redeploy every module (--force) or these (--force=a,b) even when up to date")
	fs.Lookup("force").NoOptDefVal = "true"
	fs.BoolVar(&plan.plan, "plan", false, "say what the deploy would do, per host and module, and change nothing")
	fs.BoolVar(&plan.diff, "diff", false, "with --plan: show a diff of each text config file against the host's copy")
	fs.BoolVar(&plan.showSecrets, "show-secrets", false, "with --diff: show the values of keys that look secret (masked by default)")
	r.addJSONFlag(fs, "the events to stdout as JSON lines, schema "+EventSchema+", instead of the report (with --plan: the plan, schema "+PlanSchema+")")
	rollout = addRolloutFlags(fs, opts)
	if p != nil {
		if groups, err = addPluginFlags(fs, p); err != nil {
			return nil, nil, groups, err
		}
	}
	// After the plugins' flags: a plugin's -v, had one declared it before
	// -v was taken after the command too, stays the plugin's.
	r.addGlobalFlags(fs)
	return fs, rollout, groups, nil
}

func (r *cliRun) deploy(ctx context.Context, args []string) error {
	dir := r.project
	if d, ok := projectFlag(args); ok {
		dir = d // deploy --project DIR: the project says which plugin flags there are
	}
	var opts Options
	var force forceFlag
	var plan planFlags
	p, err := LoadProject(dir)
	if err != nil {
		if uerr := singleDashProject(args); uerr != nil {
			return uerr
		}
		if wantsHelp(args) {
			fs, _, _, _ := r.deployFlags(nil, &opts, &force, &plan)
			r.deployUsage(r.Stdout, fs, flagGroups{})
			fmt.Fprintln(r.Stdout, "\n(run it in a project, or pass --project DIR, to see the plugins' flags)")
			return pflag.ErrHelp
		}
		return err
	}
	fs, rollout, groups, err := r.deployFlags(p, &opts, &force, &plan)
	if err != nil {
		return err
	}
	if err := r.parseFlags(fs, args, func(w io.Writer) { r.deployUsage(w, fs, groups) }); err != nil {
		return err
	}
	if r.project != dir {
		// A --project that was another flag's value, or a plugin's flag.
		return &usageError{msg: "deploy: which --project? put --project DIR before deploy"}
	}
	r.applyGlobalFlags()
	opts.Logger, opts.Dial = r.log, r.dial
	if fs.NArg() > 0 {
		hint := ""
		if force.set {
			hint = fmt.Sprintf(" (to force a module, write --force=%s)", fs.Arg(0))
		}
		return &usageError{msg: fmt.Sprintf("deploy: unexpected argument %q%s", fs.Arg(0), hint)}
	}
	if opts.Host == "" {
		out := r.Stdout
		if r.json {
			out = r.Stderr // stdout is for JSON only
		}
		fmt.Fprintf(out, "no --host given; the hosts of %s:\n", p.Name)
		if err := r.hosts(out); err != nil {
			return err
		}
		return &usageError{msg: "deploy: pass --host NAME, one of: " + strings.Join(p.HostNames(), ", ")}
	}
	if opts.Config == "" {
		return &usageError{msg: "deploy: pass --config NAME, the config/NAME directory of each module (testing, production, ...)"}
	}
	if err := rollout(); err != nil {
		return err
	}
	r.host = opts.Host
	opts.Force = force.value
	opts.Flags = map[string]string{}
	fs.Visit(func(f *pflag.Flag) {
		if groups.owner[f.Name] != "" {
			opts.Flags[f.Name] = f.Value.String()
		}
	})
	opts.Addresses = r.Addresses
	if (plan.diff || plan.showSecrets) && !plan.plan {
		return &usageError{msg: "deploy: --diff and --show-secrets go with --plan"}
	}
	if plan.plan {
		return r.plan(ctx, p, PlanOptions{Options: opts, Diff: plan.diff, ShowSecrets: plan.showSecrets})
	}
	if r.json {
		return r.deployJSON(ctx, p, opts)
	}
	endView := r.liveView(&opts)
	rep, err := Deploy(ctx, p, opts)
	endView()
	printReport(r.Stdout, rep, func(hosts string) string {
		return rerunCommand(r.Args[:len(r.Args)-len(args)-1], fs, hosts)
	})
	return err
}

// deployJSON deploys with the events written to stdout as JSON lines,
// and no report: a failed write fails the command (a reader missed events).
func (r *cliRun) deployJSON(ctx context.Context, p *Project, opts Options) error {
	ew := NewEventWriter(r.Stdout)
	opts.Events = ew.Emit
	_, err := Deploy(ctx, p, opts)
	werr := ew.Err()
	switch {
	case werr == nil:
		return err
	case err == nil:
		return werr
	}
	// The deploy's own error decides the exit status.
	r.log.Error("some events were not written", "error", werr)
	return err
}

type flagGroups struct {
	order []string            // plugin names with flags, sorted
	flags map[string][]string // plugin -> flag names
	owner map[string]string   // flag name -> plugin
}

// addPluginFlags adds the flags of the plugins the project uses. Two
// plugins declaring one flag share it. A flag of one letter is also that
// letter's shorthand (-x as --x) when no flag has it.
func addPluginFlags(fs *pflag.FlagSet, p *Project) (flagGroups, error) {
	g := flagGroups{flags: map[string][]string{}, owner: map[string]string{}}
	bools := map[string]bool{}
	for _, name := range p.PluginsUsed() {
		for _, f := range pluginFlags(name) {
			if owner := g.owner[f.Name]; owner != "" {
				if bools[f.Name] != f.Bool {
					return g, fmt.Errorf("plugins %s and %s both declare --%s, one as a switch and one with a value: rename one", owner, name, f.Name)
				}
				g.flags[name] = append(g.flags[name], f.Name)
				continue
			}
			if fs.Lookup(f.Name) != nil || f.Name == "" || strings.HasPrefix(f.Name, "-") || strings.ContainsAny(f.Name, "= \t") {
				return g, fmt.Errorf("plugin %s declares the flag %q, which deploy has already or which is not a flag name: rename it", name, f.Name)
			}
			g.flags[name] = append(g.flags[name], f.Name)
			bools[f.Name] = f.Bool
			g.owner[f.Name] = name
			short := ""
			if len(f.Name) == 1 && fs.ShorthandLookup(f.Name) == nil {
				short = f.Name
			}
			if f.Bool {
				fs.BoolP(f.Name, short, f.Default == "true", f.Usage)
			} else {
				fs.StringP(f.Name, short, f.Default, f.Usage)
			}
		}
		if len(g.flags[name]) > 0 {
			g.order = append(g.order, name)
		}
	}
	sort.Strings(g.order)
	return g, nil
}

// flagSection is a heading of a command's usage and the flags under it.
type flagSection struct {
	title string
	keep  func(*pflag.Flag) bool
}

// isGlobal reports whether f is a global flag (or --help) rather than
// the command's own.
func isGlobal(f *pflag.Flag) bool {
	return f.Name == "help" || slices.Contains(globalFlagNames, f.Name)
}

// commandUsage prints the usage of the command of fs to w: its flags, then
// those of sections, then the global ones.
func (r *cliRun) commandUsage(w io.Writer, fs *pflag.FlagSet, sections []flagSection) {
	name := fs.Name()
	doc := docOf(name)
	global := "[global flags]"
	if name == "create-project" {
		global = ""
	}
	fmt.Fprintf(w, "usage: %s\n\n%s\n", strings.Join(strings.Fields(progName()+" "+name+" "+doc.args+" "+global), " "), doc.summary)
	r.printSections(w, fs, "flags", sections)
}

// printSections prints the flags of fs under their headings: the
// command's own (under own), those of each of sections, the global ones.
func (r *cliRun) printSections(w io.Writer, fs *pflag.FlagSet, own string, sections []flagSection) {
	inSection := func(f *pflag.Flag) bool {
		for _, s := range sections {
			if s.keep(f) {
				return true
			}
		}
		return false
	}
	all := append([]flagSection{{own, func(f *pflag.Flag) bool { return !isGlobal(f) && !inSection(f) }}}, sections...)
	all = append(all, flagSection{"global flags (before or after " + fs.Name() + ")", func(f *pflag.Flag) bool { return isGlobal(f) && !inSection(f) }})
	if fs.Name() == "create-project" {
		all[len(all)-1].title = "flags"
		all = all[len(all)-1:]
	}
	for _, s := range all {
		var some bool
		fs.VisitAll(func(f *pflag.Flag) { some = some || s.keep(f) })
		if some {
			fmt.Fprintf(w, "\n%s:\n", s.title)
			printFlags(w, fs, s.keep)
		}
	}
}

func (r *cliRun) deployUsage(w io.Writer, fs *pflag.FlagSet, g flagGroups) {
	fmt.Fprintf(w, "usage: %s %s\n\n%s\n", progName(), deploySynopsis, docOf("deploy").summary)
	sections := []flagSection{{"rollout flags (for several hosts)", func(f *pflag.Flag) bool {
		return slices.Contains(rolloutFlagNames, f.Name) && g.owner[f.Name] == ""
	}}}
	for _, name := range g.order {
		mine := map[string]bool{}
		for _, f := range g.flags[name] {
			mine[f] = true
		}
		sections = append(sections, flagSection{"plugin " + name, func(f *pflag.Flag) bool { return mine[f.Name] }})
	}
	r.printSections(w, fs, "deploy flags", sections)
}

// printFlags prints the flags of fs that keep keeps, as pflag does, but
// switches without pflag's [=true|false] and --force as --force[=a,b].
func printFlags(w io.Writer, fs *pflag.FlagSet, keep func(*pflag.Flag) bool) {
	sub := pflag.NewFlagSet("", pflag.ContinueOnError)
	sub.SortFlags = false
	fs.VisitAll(func(f *pflag.Flag) {
		if !keep(f) {
			return
		}
		shown := *f
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			shown.Value = switchValue{f.Value}
		}
		if _, ok := f.Value.(*forceFlag); ok {
			shown.Value, shown.NoOptDefVal = switchValue{f.Value}, "a,b"
		}
		sub.AddFlag(&shown)
	})
	fmt.Fprint(w, sub.FlagUsages())
}

// switchValue shows a switch in the usage: a "bool" that is no
// IsBoolFlag, which pflag would print as --name[=true|false].
type switchValue struct{ pflag.Value }

func (switchValue) Type() string { return "bool" }
