package porter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/porter-deploy/porter/internal/clilog"
	"github.com/porter-deploy/porter/remote"
	"github.com/spf13/pflag"
)

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

At a terminal, deploy draws a live line per host under its log lines:
the module, the step, the files and bytes sent of the totals, the rate
and the time left, then the host's outcome. In a pipe, with -q, or with
TERM=dumb it writes plain log lines only, and a send that lasts logs a
"sending" line once a second. No colour is used (so NO_COLOR holds).

exit status:
  %[2]d  done
  %[3]d  the command failed
  %[4]d  the command line was wrong
  %[5]d  nothing failed but that another deploy holds a lock: try again later
`, progName(), ExitOK, ExitError, ExitUsage, ExitLocked)
}

// commandDoc is what the usage says of a command.
type commandDoc struct {
	name    string
	args    string // its flags and arguments, in short
	summary string // what it does
}

// commandDocs are the commands in the order the usage lists them.
var commandDocs = []commandDoc{
	{"deploy", "--host H --config C [--release R] [--force[=a,b]] [--plan [--diff]] [--json]", "deploy the project's modules to a host or group"},
	{"status", "--host H [--release R] [--config C] [--json]", "what the host runs, and what a deploy would do"},
	{"releases", "--host H [--json] [MODULE...]", "the releases of modules deployed with strategy = releases"},
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
	command, prefix, help := fs.Name(), "", progName()+" --help"
	if command != "" {
		prefix, help = command+": ", progName()+" "+command+" --help"
	}
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		if name, ok := singleDashLong(args, ne.GetSpecifiedShortnames()); ok {
			// -host: the stdlib's flag package took it; pflag reads the
			// letters -h -o -s -t.
			if fs.Lookup(name) != nil {
				return &usageError{msg: fmt.Sprintf("%s-%s: write --%s (a flag longer than one letter takes two dashes)", prefix, name, name)}
			}
			if command == "" {
				return &usageError{msg: fmt.Sprintf("unknown flag -%s before the command (a flag longer than one letter takes two dashes, and a command's flags go after it: see %s)", name, help)}
			}
			return &usageError{msg: fmt.Sprintf("%sunknown flag -%s (a flag longer than one letter takes two dashes, and there is no --%s: see %s)", prefix, name, name, help)}
		}
		if command == "" {
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
var globalFlagNames = []string{"project", "verbose", "quiet", "accept-new-host-keys"}

// addGlobalFlags adds the global flags to fs, with their values so far as
// defaults (a command's flag set takes them after the command, deploy -v,
// the global one before it), but those a plugin's flag took already: a
// plugin's --v, or its -v, stays the plugin's.
func (r *cliRun) addGlobalFlags(fs *pflag.FlagSet) {
	if fs.Lookup("project") == nil {
		fs.StringVar(&r.project, "project", r.project, "the project `DIR`ectory (holding project.ini)")
	}
	short := func(letter string) string {
		if fs.ShorthandLookup(letter) != nil {
			return ""
		}
		return letter
	}
	if fs.Lookup("verbose") == nil {
		fs.BoolVarP(&r.verbose, "verbose", short("v"), r.verbose, "verbose: debug logs with times")
	}
	if fs.Lookup("quiet") == nil {
		fs.BoolVarP(&r.quiet, "quiet", short("q"), r.quiet, "no live view at a terminal: plain log lines, as in a pipe")
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
