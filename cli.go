package porter

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/porter-deploy/porter/internal/clilog"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
)

// Main is the whole porter-admin command line of a deploy program:
//
//	func main() { porter.Main() }
//
// It runs the command in os.Args against the project in the current
// directory (or --project DIR), stops on Ctrl-C, and exits non-zero on any
// failure after one clear line on stderr: ExitError (1), ExitUsage (2) for
// a wrong command line, ExitLocked (3) when all that stopped it is a lock
// another deploy holds (try again later).
func Main() {
	os.Exit((&CLI{}).Exec())
}

// CLI is the command line of a deploy program, for programs that need to
// set something Main does not (a default project, SSH options, a test
// server's address). The zero CLI is Main's.
type CLI struct {
	// Args are the arguments without the program name (default os.Args[1:]).
	Args []string
	// Stdout and Stderr default to os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
	// ProjectDir is the project when --project is not given (default ".").
	ProjectDir string
	// Addresses replace [hosts] addresses by host name.
	Addresses map[string]string
	// Dial configures every SSH connection.
	Dial []remote.Option
}

// Exit statuses of CLI.Run.
const (
	ExitOK     = 0
	ExitError  = 1 // the command failed
	ExitUsage  = 2 // the command line was wrong
	ExitLocked = 3 // nothing failed but that another deploy holds a lock: try again later
)

type cliRun struct {
	*CLI
	// The global flags, given before the command or after it.
	project   string
	verbose   bool
	acceptNew bool
	// Made from the global flags by applyGlobalFlags.
	log  *slog.Logger
	dial []remote.Option // CLI.Dial, and what the flags add
	host string          // the --host of the command, for hints
	ctx  context.Context // the command's: a signal that ended it is its cause
}

// Exec runs the command line with a context that Ctrl-C or SIGTERM cancels,
// and returns the exit status: what Main does, for programs that have
// something to do before they exit.
func (c *CLI) Exec() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first Ctrl-C the deploy cleans up (undo handlers, the
		// lock); a second one gets the default behaviour and ends it.
		<-ctx.Done()
		stop()
	}()
	return c.Run(ctx)
}

// Run runs the command line and returns the exit status.
func (c *CLI) Run(ctx context.Context) int {
	r := c.defaults()
	fs := r.globalFlags()
	if err := fs.Parse(r.Args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	r.applyGlobalFlags()
	args := fs.Args()
	if len(args) == 0 {
		fs.Usage()
		return ExitUsage
	}
	if args[0] == "help" {
		fs.Usage()
		return ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(r.Stderr, "%s: unknown command %q\n", progName(), args[0])
		fs.Usage()
		return ExitUsage
	}
	r.ctx = ctx
	return r.exitStatus(cmd.run(r, ctx, args[1:]))
}

// command is one subcommand of the CLI.
type command struct {
	usage string // the arguments and what it does, for the usage text
	run   func(r *cliRun, ctx context.Context, args []string) error
}

var commands = map[string]command{
	"deploy": {"deploy --host H --config C [--release R] [--force[=a,b]]   deploy the project's modules to a host or group",
		(*cliRun).deploy},
	"status": {"status --host H [--release R] [--config C]                  what the host runs, and what a deploy would do",
		(*cliRun).status},
	"unlock": {"unlock --host H MODULE...                                  remove the lock of a deploy that died",
		(*cliRun).unlock},
	"releases": {"releases --host H [MODULE...]                              the releases of modules deployed with strategy = releases",
		(*cliRun).releases},
	"rollback": {"rollback --host H [MODULE...] [--to ID]                    switch modules back to the release live before",
		(*cliRun).rollback},
	"hosts": {"hosts                                                      list the project's hosts",
		func(r *cliRun, _ context.Context, args []string) error { return r.hostsCommand(args) }},
	"create-project": {"create-project NAME                                        make a new project directory NAME",
		func(r *cliRun, _ context.Context, args []string) error { return r.createProject(args) }},
}

var commandOrder = []string{"deploy", "status", "releases", "rollback", "unlock", "hosts", "create-project"}

// defaults returns the run of c with its defaults filled in; the caller's
// CLI stays as it was.
func (c *CLI) defaults() *cliRun {
	cc := *c
	r := &cliRun{CLI: &cc}
	if r.Args == nil {
		r.Args = os.Args[1:]
	}
	if r.Stdout == nil {
		r.Stdout = os.Stdout
	}
	if r.Stderr == nil {
		r.Stderr = os.Stderr
	}
	if r.ProjectDir == "" {
		r.ProjectDir = "."
	}
	r.project = r.ProjectDir
	return r
}

func (r *cliRun) globalFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("porter", flag.ContinueOnError)
	fs.SetOutput(r.Stderr)
	r.addGlobalFlags(fs, nil)
	fs.Usage = func() {
		fmt.Fprintf(r.Stderr, "usage: %s [global flags] COMMAND [flags]\n\ncommands:\n", progName())
		for _, name := range commandOrder {
			fmt.Fprintln(r.Stderr, "  "+commands[name].usage)
		}
		fmt.Fprintln(r.Stderr, "\nglobal flags, before the command or after it (but for create-project):")
		fs.PrintDefaults()
	}
	return fs
}

// globalFlagNames are the flags of every command but create-project, given
// before the command or after it.
var globalFlagNames = []string{"project", "v", "accept-new-host-keys"}

// addGlobalFlags adds the global flags to fs but those that taken says a
// plugin has, with their values so far as defaults: a command's flag set
// takes them after the command (deploy -v), the global one before it.
func (r *cliRun) addGlobalFlags(fs *flag.FlagSet, taken map[string]string) {
	if taken["project"] == "" {
		fs.StringVar(&r.project, "project", r.project, "the project `DIR`ectory (holding project.ini)")
	}
	if taken["v"] == "" {
		fs.BoolVar(&r.verbose, "v", r.verbose, "verbose: debug logs with times")
	}
	if taken["accept-new-host-keys"] == "" {
		fs.BoolVar(&r.acceptNew, "accept-new-host-keys", r.acceptNew, "trust an unknown host's key on first use and add it to known_hosts (a changed key is still refused)")
	}
}

// applyGlobalFlags makes the logger and the SSH options of the run from the
// global flags; a command calls it again once it has parsed its own flags.
func (r *cliRun) applyGlobalFlags() {
	r.log = slog.New(clilog.New(r.Stderr, r.verbose))
	r.dial = append([]remote.Option(nil), r.Dial...)
	if r.acceptNew {
		r.dial = append(r.dial, remote.WithAcceptNewHostKeys())
	}
}

// projectFlag returns the value of the last --project in args (before any
// "--"): deploy must load the project to know its plugins' flags before it
// can parse its arguments.
func projectFlag(args []string) (string, bool) {
	dir, found := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			name, ok = strings.CutPrefix(a, "-")
		}
		if !ok {
			continue
		}
		if v, ok := strings.CutPrefix(name, "project="); ok {
			dir, found = v, true
		} else if name == "project" && i+1 < len(args) {
			dir, found = args[i+1], true
			i++
		}
	}
	return dir, found
}

// exitStatus prints err, if any, as one line and returns the exit status.
func (r *cliRun) exitStatus(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(r.Stderr, "%s: %s\n", progName(), remote.Printable(err.Error()))
		return ExitUsage
	default:
		// An error may quote a host: a lock's holder, a record, stderr.
		fmt.Fprintf(r.Stderr, "%s: %s%s\n", progName(), remote.Printable(err.Error()), r.hint(err))
		if onlyLocked(err) {
			return ExitLocked
		}
		return ExitError
	}
}

// onlyLocked reports whether err is a lock another deploy holds and
// nothing else: on every failed host of a fleet, if it is one.
func onlyLocked(err error) bool {
	var fe *FleetError
	if errors.As(err, &fe) && len(fe.Errs) > 0 {
		for _, herr := range fe.Errs {
			if !onlyLocked(herr) {
				return false
			}
		}
		return true
	}
	var also alsoErr
	if errors.As(err, &also) {
		return false // and then something else failed too
	}
	return errors.Is(err, ledger.ErrLocked)
}

// hint is what the CLI adds to a library error: the command that helps.
func (r *cliRun) hint(err error) string {
	if r.ctx != nil && errors.Is(err, context.Canceled) {
		if cause := context.Cause(r.ctx); cause != nil && cause != context.Canceled {
			return " (stopped: " + cause.Error() + ")" // "interrupt signal received"
		}
	}
	switch {
	case errors.Is(err, ErrNotAProject):
		return ": run it in the project directory, pass --project DIR, or create one with " + progName() + " create-project NAME"
	case errors.Is(err, ErrNoConfig):
		return ": pass --config NAME"
	case errors.Is(err, ErrUnknownHost) && r.host == "":
		return ": pass --host NAME"
	}
	var le *ledger.LockedError
	if errors.As(err, &le) {
		host := r.host
		var fe *FleetError
		if errors.As(err, &fe) {
			for i, herr := range fe.Errs {
				if errors.As(herr, &le) {
					host = fe.Failed[i]
					break
				}
			}
		}
		if host == "" {
			host = "HOST"
		}
		if le.Err != nil {
			return fmt.Sprintf(": if no deploy of %s runs, run: %s unlock --host %s %s", le.Module, progName(), host, le.Module)
		}
		return fmt.Sprintf(": if that deploy is dead, run: %s unlock --host %s %s", progName(), host, le.Module)
	}
	return ""
}

// usageError is a command line that cannot run as written.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func progName() string { return filepath.Base(os.Args[0]) }

func (r *cliRun) loadProject() (*Project, error) {
	return LoadProject(r.project)
}

func (r *cliRun) hostsCommand(args []string) error {
	fs := flag.NewFlagSet("hosts", flag.ContinueOnError)
	fs.SetOutput(r.Stderr)
	r.addGlobalFlags(fs, nil)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("hosts: unexpected argument %q", fs.Arg(0))}
	}
	r.applyGlobalFlags()
	return r.hosts()
}

func (r *cliRun) hosts() error {
	p, err := r.loadProject()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(r.Stdout, 0, 4, 2, ' ', 0)
	for _, h := range p.Hosts {
		if !h.IsGroup() {
			fmt.Fprintf(tw, "%s\t%s\n", h.Name, h.Address)
			continue
		}
		hs, err := p.Resolve(h.Name)
		if err != nil {
			return err
		}
		names := make([]string, len(hs))
		for i, m := range hs {
			names[i] = m.Name
		}
		fmt.Fprintf(tw, "%s\tgroup of %d: %s\n", h.Name, len(hs), strings.Join(names, ", "))
	}
	return tw.Flush()
}

// forceFlag is --force (all modules) or --force=a,b (those).
type forceFlag struct {
	set   bool
	value Force
}

func (f *forceFlag) IsBoolFlag() bool { return true }

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

func (r *cliRun) deploy(ctx context.Context, args []string) error {
	dir := r.project
	if d, ok := projectFlag(args); ok {
		dir = d // deploy --project DIR: the project says which plugin flags there are
	}
	p, err := LoadProject(dir)
	if err != nil {
		if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
			fmt.Fprintf(r.Stderr, "usage: %s deploy --host NAME --config NAME [--release NAME] [--force[=a,b]] [rollout flags] [plugin flags] [global flags]\n(run it in a project, or pass --project DIR, to see the plugins' flags)\n", progName())
			return flag.ErrHelp
		}
		return err
	}
	var opts Options
	var force forceFlag
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(r.Stderr)
	fs.StringVar(&opts.Host, "host", "", "the [hosts] `NAME` to deploy to: a host, a group, or a comma list of them")
	fs.StringVar(&opts.Config, "config", "", "the config/`NAME` directory of each module (testing, production, ...)")
	fs.StringVar(&opts.Release, "release", DefaultRelease, "the [release:`NAME`] section to deploy")
	fs.Var(&force, "force", "redeploy every module (--force) or these (--force=`a,b`) even when up to date")
	rollout := addRolloutFlags(fs, &opts)
	groups, err := addPluginFlags(fs, p)
	if err != nil {
		return err
	}
	// After the plugins' flags: a plugin's -v, had one declared it before
	// -v was taken after the command too, stays the plugin's.
	r.addGlobalFlags(fs, groups.owner)
	fs.Usage = func() { r.deployUsage(fs, groups) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
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
		fmt.Fprintf(r.Stdout, "no --host given; the hosts of %s:\n", p.Name)
		if err := r.hosts(); err != nil {
			return err
		}
		return &usageError{msg: "deploy: pass --host NAME, one of: " + strings.Join(p.HostNames(), ", ")}
	}
	if err := rollout(); err != nil {
		return err
	}
	r.host = opts.Host
	opts.Force = force.value
	opts.Flags = map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if groups.owner[f.Name] != "" {
			opts.Flags[f.Name] = f.Value.String()
		}
	})
	opts.Addresses = r.Addresses
	rep, err := Deploy(ctx, p, opts)
	printReport(r.Stdout, rep, func(hosts string) string {
		return rerunCommand(r.Args[:len(r.Args)-len(args)-1], fs, hosts)
	})
	return err
}

type flagGroups struct {
	order []string            // plugin names with flags, sorted
	flags map[string][]string // plugin -> flag names
	owner map[string]string   // flag name -> plugin
}

// addPluginFlags adds the flags of the plugins the project uses. Two
// plugins declaring one flag share it.
func addPluginFlags(fs *flag.FlagSet, p *Project) (flagGroups, error) {
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
			if fs.Lookup(f.Name) != nil || f.Name == "" || strings.HasPrefix(f.Name, "-") {
				return g, fmt.Errorf("plugin %s declares the flag %q, which deploy has already or which is not a flag name: rename it", name, f.Name)
			}
			g.flags[name] = append(g.flags[name], f.Name)
			bools[f.Name] = f.Bool
			g.owner[f.Name] = name
			if f.Bool {
				fs.Bool(f.Name, f.Default == "true", f.Usage)
			} else {
				fs.String(f.Name, f.Default, f.Usage)
			}
		}
		if len(g.flags[name]) > 0 {
			g.order = append(g.order, name)
		}
	}
	sort.Strings(g.order)
	return g, nil
}

func (r *cliRun) deployUsage(fs *flag.FlagSet, g flagGroups) {
	fmt.Fprintf(r.Stderr, "usage: %s deploy --host NAME --config NAME [--release NAME] [--force[=a,b]] [rollout flags] [plugin flags] [global flags]\n\n", progName())
	plugin := map[string]bool{}
	for f := range g.owner {
		plugin[f] = true
	}
	global := func(f *flag.Flag) bool { return slices.Contains(globalFlagNames, f.Name) && !plugin[f.Name] }
	printFlags(r.Stderr, fs, func(f *flag.Flag) bool { return !plugin[f.Name] && !global(f) })
	for _, name := range g.order {
		fmt.Fprintf(r.Stderr, "\nplugin %s:\n", name)
		mine := map[string]bool{}
		for _, f := range g.flags[name] {
			mine[f] = true
		}
		printFlags(r.Stderr, fs, func(f *flag.Flag) bool { return mine[f.Name] })
	}
	fmt.Fprintln(r.Stderr, "\nglobal flags (before or after deploy):")
	printFlags(r.Stderr, fs, global)
}

func printFlags(w io.Writer, fs *flag.FlagSet, keep func(*flag.Flag) bool) {
	sub := flag.NewFlagSet("", flag.ContinueOnError)
	sub.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if keep(f) {
			sub.Var(f.Value, f.Name, f.Usage)
		}
	})
	sub.PrintDefaults()
}

func shortVersion(v string) string {
	if v == "" {
		return "-"
	}
	if s, ok := strings.CutPrefix(v, "sha256:"); ok && len(s) > 12 {
		return "sha256:" + s[:12]
	}
	if len(v) == 40 {
		return v[:12]
	}
	return v
}
