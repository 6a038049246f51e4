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
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/remote"
)

// Main is the whole command line of a deploy program:
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
	quiet     bool // no live view
	acceptNew bool
	// Made from the global flags by applyGlobalFlags.
	log  *slog.Logger
	dial []remote.Option // CLI.Dial, and what the flags add
	host string          // the --host of the command, for hints
	json bool            // --json: stdout gets JSON only (docs/json.md)
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
	return r.hosts(r.Stdout)
}

// hosts lists the project's hosts and groups to w.
func (r *cliRun) hosts(w io.Writer) error {
	p, err := r.loadProject()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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
