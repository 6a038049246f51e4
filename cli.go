package porter

import (
	"context"
	"errors"
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

	"github.com/spf13/pflag"

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
	fs := r.newFlagSet("")
	fs.SetInterspersed(false) // the first argument that is no flag is the command
	r.addGlobalFlags(fs)
	if err := fs.Parse(r.Args); err != nil {
		return r.exitStatus(flagError(fs, r.Args, err))
	}
	r.applyGlobalFlags()
	args := fs.Args()
	if help, _ := fs.GetBool("help"); help {
		return r.exitStatus(r.help(ctx, args)) // porter --help [COMMAND]
	}
	if len(args) == 0 {
		r.usage(r.Stderr, fs)
		return ExitUsage
	}
	if args[0] == "help" {
		return r.exitStatus(r.help(ctx, args[1:]))
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return r.exitStatus(&usageError{msg: fmt.Sprintf("unknown command %q (%s help lists them)", args[0], progName())})
	}
	r.ctx = ctx
	return r.exitStatus(cmd(r, ctx, args[1:]))
}

// help is the help command: the usage, or with a command, that command's
// (COMMAND --help).
func (r *cliRun) help(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fs := r.newFlagSet("")
		r.addGlobalFlags(fs)
		r.usage(r.Stdout, fs)
		return nil
	}
	if len(args) > 1 {
		return &usageError{msg: "help: want one COMMAND at most, e.g. help deploy"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return &usageError{msg: fmt.Sprintf("help: unknown command %q (%s help lists them)", args[0], progName())}
	}
	return cmd(r, ctx, []string{"--help"})
}

// usage prints the usage of the whole command line to w, fs being the
// global flags.
func (r *cliRun) usage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "usage: %s [global flags] COMMAND [flags] [ARG...]\n\ncommands:\n", progName())
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	for _, c := range commandDocs {
		fmt.Fprintf(tw, "  %s %s\t%s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(tw, "  help [COMMAND]\t%s\n", "this help, or a command's (the same as COMMAND --help)")
	tw.Flush()
	fmt.Fprintln(w, "\nglobal flags, before the command or after it (but for create-project):")
	printFlags(w, fs, func(*pflag.Flag) bool { return true })
	fmt.Fprintf(w, `
Flags and arguments go in any order; "--" ends the flags. A flag's value
follows it (--host web) or an "=" (--host=web); a flag longer than one
letter takes two dashes. %[1]s COMMAND --help lists a command's flags
(deploy's with those of the project's plugins).

exit status:
  %[2]d  done
  %[3]d  the command failed
  %[4]d  the command line was wrong
  %[5]d  nothing failed but that another deploy holds a lock: try again later
`, progName(), ExitOK, ExitError, ExitUsage, ExitLocked)
}

// commands are the subcommands of the CLI, by name.
var commands = map[string]func(r *cliRun, ctx context.Context, args []string) error{
	"deploy":         (*cliRun).deploy,
	"status":         (*cliRun).status,
	"unlock":         (*cliRun).unlock,
	"releases":       (*cliRun).releases,
	"rollback":       (*cliRun).rollback,
	"hosts":          (*cliRun).hostsCommand,
	"create-project": (*cliRun).createProject,
}

// commandDoc is what the usage says of a command.
type commandDoc struct {
	name    string
	args    string // its flags and arguments, in short
	summary string // what it does
}

// commandDocs are the commands in the order the usage lists them.
var commandDocs = []commandDoc{
	{"deploy", "--host H --config C [--release R] [--force[=a,b]]", "deploy the project's modules to a host or group"},
	{"status", "--host H [--release R] [--config C]", "what the host runs, and what a deploy would do"},
	{"releases", "--host H [MODULE...]", "the releases of modules deployed with strategy = releases"},
	{"rollback", "--host H [--to ID] [MODULE...]", "switch modules back to the release live before"},
	{"unlock", "--host H MODULE...", "remove the lock of a deploy that died"},
	{"hosts", "", "list the project's hosts"},
	{"create-project", "NAME", "make a new project directory NAME"},
}

func docOf(name string) commandDoc {
	for _, c := range commandDocs {
		if c.name == name {
			return c
		}
	}
	return commandDoc{name: name}
}

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

// newFlagSet returns the flag set of the command cmd ("" for the global
// one) with its --help: it prints nothing itself, the caller says what
// went wrong (flagError) and prints the usage.
func (r *cliRun) newFlagSet(cmd string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false // the usage lists them as they are added: the main ones first
	fs.BoolP("help", "h", false, "show this help and exit")
	return fs
}

// parseFlags parses args with fs; after --help it prints the command's
// usage to stdout and returns pflag.ErrHelp (exit status 0).
func (r *cliRun) parseFlags(fs *pflag.FlagSet, args []string, usage func(io.Writer)) error {
	if err := fs.Parse(args); err != nil {
		return flagError(fs, args, err)
	}
	if help, _ := fs.GetBool("help"); help {
		usage(r.Stdout)
		return pflag.ErrHelp
	}
	return nil
}

// flagError is the usage error of the arguments args that fs could not
// parse: one line naming the command and the flag.
func flagError(fs *pflag.FlagSet, args []string, err error) error {
	cmd, prefix, help := fs.Name(), "", progName()+" --help"
	if cmd != "" {
		prefix, help = cmd+": ", progName()+" "+cmd+" --help"
	}
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		if name, ok := singleDashLong(args, ne.GetSpecifiedShortnames()); ok {
			// -host: the stdlib's flag package took it; pflag reads the
			// letters -h -o -s -t.
			if fs.Lookup(name) != nil {
				return &usageError{msg: fmt.Sprintf("%s-%s: write --%s (a flag longer than one letter takes two dashes)", prefix, name, name)}
			}
			if cmd == "" {
				return &usageError{msg: fmt.Sprintf("unknown flag -%s before the command (a flag longer than one letter takes two dashes, and a command's flags go after it: see %s)", name, help)}
			}
			return &usageError{msg: fmt.Sprintf("%sunknown flag -%s (a flag longer than one letter takes two dashes, and there is no --%s: see %s)", prefix, name, name, help)}
		}
		if cmd == "" {
			return &usageError{msg: fmt.Sprintf("%s before the command (a command's flags go after it: see %s)", err, help)}
		}
	}
	return &usageError{msg: fmt.Sprintf("%s%s (see %s)", prefix, err, help)}
}

// singleDashLong returns the name of the argument of args, before any
// "--", that is a flag of several letters after one dash (-host, -host=x)
// ending in rest, what pflag had left of it when it found no flag for the
// next letter.
func singleDashLong(args []string, rest string) (string, bool) {
	if rest == "" {
		return "", false
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		letters, ok := strings.CutPrefix(a, "-")
		if !ok || strings.HasPrefix(letters, "-") || !strings.HasSuffix(letters, rest) {
			continue
		}
		name, _, _ := strings.Cut(letters, "=")
		if len(name) > 1 {
			return name, true
		}
	}
	return "", false
}

// globalFlagNames are the flags of every command but create-project, given
// before the command or after it.
var globalFlagNames = []string{"project", "verbose", "accept-new-host-keys"}

// addGlobalFlags adds the global flags to fs, with their values so far as
// defaults (a command's flag set takes them after the command, deploy -v,
// the global one before it), but those a plugin's flag took already: a
// plugin's --v, or its -v, stays the plugin's.
func (r *cliRun) addGlobalFlags(fs *pflag.FlagSet) {
	if fs.Lookup("project") == nil {
		fs.StringVar(&r.project, "project", r.project, "the project `DIR`ectory (holding project.ini)")
	}
	if fs.Lookup("verbose") == nil {
		v := "v"
		if fs.ShorthandLookup(v) != nil {
			v = ""
		}
		fs.BoolVarP(&r.verbose, "verbose", v, r.verbose, "verbose: debug logs with times")
	}
	if fs.Lookup("accept-new-host-keys") == nil {
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
		if v, ok := strings.CutPrefix(a, "--project="); ok {
			dir, found = v, true
		} else if a == "--project" && i+1 < len(args) {
			dir, found = args[i+1], true
			i++
		}
	}
	return dir, found
}

// wantsHelp reports whether args hold -h or --help (before any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" {
			return true
		}
	}
	return false
}

// singleDashProject is the usage error of a -project in args (before any
// "--"), which deploy could not load the project of.
func singleDashProject(args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-project" || strings.HasPrefix(a, "-project=") {
			return &usageError{msg: "deploy: -project: write --project (a flag longer than one letter takes two dashes)"}
		}
	}
	return nil
}

// exitStatus prints err, if any, as one line and returns the exit status.
func (r *cliRun) exitStatus(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
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

func (r *cliRun) hostsCommand(_ context.Context, args []string) error {
	fs := r.newFlagSet("hosts")
	r.addGlobalFlags(fs)
	if err := r.parseFlags(fs, args, func(w io.Writer) { r.commandUsage(w, fs, nil) }); err != nil {
		return err
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

func (r *cliRun) createProject(_ context.Context, args []string) error {
	fs := r.newFlagSet("create-project")
	if err := r.parseFlags(fs, args, func(w io.Writer) { r.commandUsage(w, fs, nil) }); err != nil {
		return err
	}
	if args = fs.Args(); len(args) != 1 {
		return &usageError{msg: "create-project: want one NAME, e.g. create-project myproject"}
	}
	if err := CreateProject(args[0]); err != nil {
		return err
	}
	fmt.Fprintf(r.Stdout, "created project %s: edit %s/project.ini [hosts], then deploy with\n  %s --project %s deploy --host testing --config testing\n",
		args[0], args[0], progName(), args[0])
	return nil
}

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

const deploySynopsis = "deploy --host NAME --config NAME [--release NAME] [--force[=a,b]] [rollout flags] [plugin flags] [global flags]"

// deployFlags returns the flag set of deploy for the project p (nil: one
// that could not be loaded, whose plugins' flags are unknown).
func (r *cliRun) deployFlags(p *Project, opts *Options, force *forceFlag) (fs *pflag.FlagSet, rollout func() error, groups flagGroups, err error) {
	fs = r.newFlagSet("deploy")
	fs.StringVar(&opts.Host, "host", "", "the [hosts] `NAME` to deploy to: a host, a group, or a comma list of them")
	fs.StringVar(&opts.Config, "config", "", "the config/`NAME` directory of each module (testing, production, ...)")
	fs.StringVar(&opts.Release, "release", DefaultRelease, "the [release:`NAME`] section to deploy")
	fs.Var(force, "force", "redeploy every module (--force) or these (--force=a,b) even when up to date")
	fs.Lookup("force").NoOptDefVal = "true"
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
	p, err := LoadProject(dir)
	if err != nil {
		if uerr := singleDashProject(args); uerr != nil {
			return uerr
		}
		if wantsHelp(args) {
			fs, _, _, _ := r.deployFlags(nil, &opts, &force)
			r.deployUsage(r.Stdout, fs, flagGroups{})
			fmt.Fprintln(r.Stdout, "\n(run it in a project, or pass --project DIR, to see the plugins' flags)")
			return pflag.ErrHelp
		}
		return err
	}
	fs, rollout, groups, err := r.deployFlags(p, &opts, &force)
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
	fs.Visit(func(f *pflag.Flag) {
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
