package porter_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
)

var debugLine = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d DEBUG `)

func TestCLIGlobalFlagsBeforeOrAfterTheCommand(t *testing.T) {
	f := newFixture(t, twoModules())
	run := cliRunner(f, f.local)

	for _, args := range [][]string{
		{"-v", "deploy", "--host", "test", "--config", "testing", "--force"},
		{"deploy", "--host", "test", "--config", "testing", "--force", "-v"},
		{"deploy", "-v", "--host", "test", "--config", "testing", "--force"},
		{"--verbose", "status", "--host", "test"},
		{"status", "--host", "test", "-v"},
		{"unlock", "--host", "test", "-v", "a"},
		{"-v", "unlock", "--host", "test", "a"},
	} {
		code, _, errOut := run(args...)
		require.Equal(t, porter.ExitOK, code, "%q: %s", args, errOut)
		assert.Regexp(t, debugLine, errOut, "%q logs at debug level, with times", args)
	}
	for _, args := range [][]string{
		{"deploy", "--host", "test", "--config", "testing", "--force"},
		{"status", "--host", "test"},
		{"unlock", "--host", "test", "a"},
	} {
		code, _, errOut := run(args...)
		require.Equal(t, porter.ExitOK, code, "%q: %s", args, errOut)
		assert.NotRegexp(t, debugLine, errOut, "%q is not verbose", args)
	}

	// --project after the command, from a directory that is no project.
	elsewhere := cliRunner(f, t.TempDir())
	for _, args := range [][]string{
		{"hosts", "--project", f.local, "-v"},
		{"status", "--host", "test", "--project", f.local},
		{"deploy", "--host", "test", "--config", "testing", "--project=" + f.local},
		{"deploy", "--project", f.local, "--host", "test", "--config", "testing", "-v"},
		{"unlock", "--project", f.local, "--host", "test", "b"},
	} {
		code, out, errOut := elsewhere(args...)
		require.Equal(t, porter.ExitOK, code, "%q: %s", args, errOut)
		if args[0] == "hosts" {
			assert.Equal(t, "test  x@y\n", out)
		}
	}
	code, _, errOut := elsewhere("deploy", "--host", "test", "--config", "testing")
	assert.Equal(t, porter.ExitError, code)
	assert.Contains(t, errOut, "not a porter project")
	code, _, errOut = run("hosts", "extra")
	assert.Equal(t, porter.ExitUsage, code)
	assert.Contains(t, errOut, `hosts: unexpected argument "extra"`)
}

func TestCLIAcceptNewHostKeysAfterTheCommand(t *testing.T) {
	f := newFixture(t, twoModules())
	known := filepath.Join(t.TempDir(), "known_hosts")
	run := func(args ...string) (int, string) {
		var out, errb strings.Builder
		cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: f.local,
			Addresses: map[string]string{"test": f.srv.Address()},
			Dial:      portertest.TrustOnly(known, f.srv.IdentityFile())}
		return cli.Run(context.Background()), errb.String()
	}
	code, errOut := run("status", "--host", "test")
	assert.Equal(t, porter.ExitError, code, "an unknown key is refused")
	assert.Contains(t, errOut, "--accept-new-host-keys")
	code, errOut = run("status", "--host", "test", "--accept-new-host-keys")
	require.Equal(t, porter.ExitOK, code, errOut)
	b, err := os.ReadFile(known)
	require.NoError(t, err)
	assert.Contains(t, string(b), "ssh-ed25519")
}

func TestCLIUsageNamesTheGlobalFlags(t *testing.T) {
	f := newFixture(t, twoModules())
	run := cliRunner(f, f.local)
	code, out, _ := run("help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Contains(t, out, "usage: porter.test [global flags] COMMAND [flags] [ARG...]\n")
	assert.Contains(t, out, "\nglobal flags, before the command or after it (but for create-project):\n")
	for _, name := range []string{"      --accept-new-host-keys   ", "      --project DIR   ", "  -v, --verbose   "} {
		assert.Regexp(t, "\n"+regexp.QuoteMeta(strings.TrimRight(name, " "))+"  +", out)
	}

	code, out, _ = run("deploy", "--help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Contains(t, out, "[plugin flags] [global flags]\n")
	own, global, ok := strings.Cut(out, "\nglobal flags (before or after deploy):\n")
	require.True(t, ok, out)
	assert.Contains(t, own, "      --host NAME ")
	assert.NotContains(t, own, "--verbose", "the global flags are listed apart")
	assert.Regexp(t, `  -v, --verbose +verbose`, global)
	assert.Contains(t, global, "      --project DIR ")
	assert.NotContains(t, global, "--host")

	code, out, _ = run("status", "--help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Regexp(t, `  -v, --verbose +verbose`, out)
}

// vPlugin declares a -v of its own, as a plugin may have before -v was
// taken after the command too.
type vPlugin struct{}

var vSeen sync.Map // module path -> the plugin's -v

func (vPlugin) Flags() []porter.Flag {
	return []porter.Flag{{Name: "v", Bool: true, Default: "false", Usage: "the plugin's own v"}}
}

func (vPlugin) RegisterSignalHandlers(m *porter.Module) error {
	return storeAtDeployStart(m, &vSeen, func(m *porter.Module) any { return m.FlagBool("v") })
}

// storeAtDeployStart is the RegisterSignalHandlers of a test plugin: at
// deploy-start it stores what of m in seen, by m's path.
func storeAtDeployStart(m *porter.Module, seen *sync.Map, what func(*porter.Module) any) error {
	m.PushSignalHandler(porter.SigDeployStart, func(_ context.Context, m *porter.Module, _ any) error {
		seen.Store(m.Path(), what(m))
		return nil
	})
	return nil
}

func init() { porter.RegisterPlugin("test/flag-v", func() porter.Plugin { return vPlugin{} }) }

func TestCLIPluginFlagNamedLikeAGlobalOneStaysThePlugins(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\ntest = x@y\n",
		"a/a.ini":     "[module]\npath = $REMOTE/a\n[plugin:test/flag-v]\n",
	})
	run := cliRunner(f, f.local)
	code, _, errOut := run("deploy", "--host", "test", "--config", "testing", "-v")
	require.Equal(t, porter.ExitOK, code, errOut)
	v, _ := vSeen.Load(f.remote + "/a")
	assert.Equal(t, true, v, "-v after deploy is the plugin's")
	assert.NotRegexp(t, debugLine, errOut)

	code, _, errOut = run("-v", "deploy", "--host", "test", "--config", "testing", "--force")
	require.Equal(t, porter.ExitOK, code, errOut)
	v, _ = vSeen.Load(f.remote + "/a")
	assert.Equal(t, false, v)
	assert.Regexp(t, debugLine, errOut, "-v before the command is still the global one")

	code, out, _ := run("deploy", "--help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Regexp(t, `plugin test/flag-v:\n  -v, --v +the plugin's own v\n`, out)
	_, global, _ := strings.Cut(out, "\nglobal flags (before or after deploy):\n")
	assert.Regexp(t, `\n      --verbose +verbose`, global, "--verbose, without its -v")
	assert.NotContains(t, global, "-v,")

	code, _, errOut = run("deploy", "--host", "test", "--config", "testing", "--force", "--verbose")
	require.Equal(t, porter.ExitOK, code, errOut)
	v, _ = vSeen.Load(f.remote + "/a")
	assert.Equal(t, false, v)
	assert.Regexp(t, debugLine, errOut, "--verbose after the command is still the global one")
}

// notePlugin has a value flag and a switch, and records what a deploy
// got of them.
type notePlugin struct{}

var noteSeen sync.Map // module path -> "note=... quick=..."

func (notePlugin) Flags() []porter.Flag {
	return []porter.Flag{
		{Name: "note", Usage: "a `TEXT` for the plugin"},
		{Name: "quick", Bool: true, Default: "false", Usage: "the plugin's switch"},
	}
}

func (notePlugin) RegisterSignalHandlers(m *porter.Module) error {
	return storeAtDeployStart(m, &noteSeen, func(m *porter.Module) any {
		return fmt.Sprintf("note=%s quick=%t", m.Flag("note"), m.FlagBool("quick"))
	})
}

func init() { porter.RegisterPlugin("test/flag-note", func() porter.Plugin { return notePlugin{} }) }

// Every command takes its flags, the global ones and its arguments in any
// order, as pflag parses them; "--" ends the flags.
func TestCLIFlagsAnywhere(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = a, b\n[hosts]\ntest = x@y\n",
		"a/a.ini":     "[module]\npath = $REMOTE/a\n[scm]\nurl = dir://src\n[plugin:test/flag-note]\n",
		"a/src/f":     "a1",
		"b/b.ini":     "[module]\npath = $REMOTE/b\nstrategy = releases\n[scm]\nurl = dir://src\n",
		"b/src/f":     "b1",
	})
	run := cliRunner(f, f.local)
	elsewhere := cliRunner(f, t.TempDir())
	for _, tc := range []struct {
		args    []string
		verbose bool
		plugin  string // what the plugin of a saw, for a deploy
		out     string // a regexp stdout matches
	}{
		{[]string{"deploy", "--host", "test", "-v", "--config", "testing", "--force"}, true, "note= quick=false", ""},
		{[]string{"-v", "deploy", "--force", "--config=testing", "--host=test"}, true, "note= quick=false", ""},
		{[]string{"deploy", "--quick", "--host", "test", "--note", "hello world", "--config", "testing", "--force=a"}, false, "note=hello world quick=true", `(?m)^a\s+deployed`},
		{[]string{"deploy", "--note=--host", "--quick=false", "--host", "test", "--config", "testing", "--force", "--verbose"}, true, "note=--host quick=false", ""},
		{[]string{"--accept-new-host-keys", "deploy", "--config", "testing", "--host", "test", "--parallel", "1"}, false, "", `(?m)^b\s+unchanged`},
		{[]string{"status", "-v", "--host=test"}, true, "", `(?m)^a\s+up to date`},
		{[]string{"--verbose", "status", "--config", "testing", "--host", "test"}, true, "", `(?m)^b\s+up to date`},
		{[]string{"releases", "b", "--host", "test"}, false, "", `(?m)^b\s+\S+\s+sha256:`},
		{[]string{"releases", "--host", "test", "b", "-v"}, true, "", `(?m)^b\s+\S+\s+sha256:`},
		{[]string{"unlock", "--host", "x", "b", "-v", "--host", "test"}, true, "", `^b was not locked\n$`},
		{[]string{"unlock", "b", "--host", "test"}, false, "", `^b was not locked\n$`},
		{[]string{"unlock", "--host", "test", "b", "--", "a"}, false, "", `^b was not locked\na was not locked\n$`},
		{[]string{"hosts", "-v"}, true, "", `^test  x@y\n$`}, // logs nothing, but takes -v
		{[]string{"-v", "hosts"}, true, "", `^test  x@y\n$`},
	} {
		code, out, errOut := run(tc.args...)
		require.Equal(t, porter.ExitOK, code, "%q: %s", tc.args, errOut)
		if tc.verbose && tc.args[0] != "hosts" && tc.args[1] != "hosts" {
			assert.Regexp(t, debugLine, errOut, "%q logs at debug level, with times", tc.args)
		} else {
			assert.NotRegexp(t, debugLine, errOut, "%q is not verbose", tc.args)
		}
		if tc.plugin != "" {
			seen, _ := noteSeen.LoadAndDelete(f.remote + "/a")
			assert.Equal(t, tc.plugin, seen, "%q", tc.args)
		}
		if tc.out != "" {
			assert.Regexp(t, tc.out, out, "%q", tc.args)
		}
	}

	// --project anywhere, from a directory that is no project.
	for _, args := range [][]string{
		{"--project", f.local, "hosts"},
		{"hosts", "--project=" + f.local},
		{"status", "--host", "test", "--project", f.local},
		{"deploy", "--note", "x", "--project", f.local, "--host", "test", "--config", "testing"},
		{"releases", "--project", f.local, "b", "--host", "test"},
	} {
		code, _, errOut := elsewhere(args...)
		require.Equal(t, porter.ExitOK, code, "%q: %s", args, errOut)
	}

	// After "--" nothing is a flag: -v is a module's name, and no debug log.
	code, _, errOut := run("unlock", "--host", "test", "--", "-v")
	assert.Equal(t, porter.ExitError, code, errOut)
	assert.Contains(t, errOut, `"-v"`)
	assert.NotRegexp(t, debugLine, errOut)

	// rollback: flags and modules in any order (two modules and --to is
	// rollback's own usage error, after the parse).
	code, _, errOut = run("rollback", "a", "--to", "r1", "--host", "test", "b")
	assert.Equal(t, porter.ExitUsage, code)
	assert.Equal(t, "porter.test: rollback: --to names a release of one module: rollback --host test --to ID MODULE\n", errOut)
	code, out, errOut := run("rollback", "b", "-v", "--host", "test")
	assert.NotEqual(t, porter.ExitUsage, code, errOut)
	assert.Regexp(t, debugLine, errOut, out)
}

// Every command, and the command line, has its help: on stdout, exit 0,
// the flags spelled --name.
func TestCLIHelpForEveryCommand(t *testing.T) {
	f := newFixture(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\ntest = x@y\n",
		"a/a.ini":     "[module]\npath = $REMOTE/a\n[plugin:test/flag-note]\n",
	})
	run := cliRunner(f, f.local)
	singleDash := regexp.MustCompile(`(^|[\s\[(])-[a-z][a-z-]+`)
	for _, cmd := range []string{"deploy", "status", "releases", "rollback", "unlock", "hosts", "create-project"} {
		for _, args := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}, {"--help", cmd}, {"-v", cmd, "--help"}} {
			code, out, errOut := run(args...)
			require.Equal(t, porter.ExitOK, code, "%q: %s", args, errOut)
			assert.Empty(t, errOut, "%q", args)
			assert.True(t, strings.HasPrefix(out, "usage: porter.test "+cmd), "%q: %s", args, out)
			assert.Regexp(t, `(?m)^  -h, --help +show this help`, out, "%q", args)
			assert.NotRegexp(t, singleDash, out, "%q: no flag of one dash", args)
			if cmd != "hosts" && cmd != "create-project" {
				assert.Regexp(t, `(?m)^      --host NAME +the \[hosts\] NAME`, out, "%q", args)
			}
			if cmd != "create-project" {
				assert.Contains(t, out, "\nglobal flags (before or after "+cmd+"):\n", "%q", args)
				assert.Regexp(t, `(?m)^      --project DIR +`, out, "%q", args)
			} else {
				assert.NotContains(t, out, "--project", "%q", args)
			}
		}
	}

	// deploy's: its own flags, the rollout ones, each plugin's, the global
	// ones, each under its heading.
	code, out, _ := run("deploy", "--help")
	require.Equal(t, porter.ExitOK, code)
	assert.Regexp(t, `(?s)\ndeploy flags:\n.*  --force\[=a,b\] +redeploy every module.*`+
		`\n\nrollout flags \(for several hosts\):\n.*  --keep-going .*`+
		`\n\nplugin test/flag-note:\n      --note TEXT +a TEXT for the plugin\n      --quick +the plugin's switch\n`+
		`\nglobal flags \(before or after deploy\):\n`, out)
	assert.NotContains(t, out, "[=true|false]")

	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"-v", "help"}} {
		code, out, errOut := run(args...)
		require.Equal(t, porter.ExitOK, code, "%q: %s", args, errOut)
		assert.Empty(t, errOut)
		for _, cmd := range []string{"deploy", "status", "releases", "rollback", "unlock", "hosts", "create-project", "help"} {
			assert.Regexp(t, `(?m)^  `+cmd+` `, out, "%q lists %s", args, cmd)
		}
		assert.Regexp(t, `(?s)\nexit status:\n  0  done\n  1  the command failed\n  2  the command line was wrong\n  3  nothing failed but that another deploy holds a lock`, out)
		assert.NotRegexp(t, singleDash, out, "%q: no flag of one dash", args)
	}

	// No command: the usage on stderr, and a usage error.
	code, out, errOut := run()
	assert.Equal(t, porter.ExitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "usage: porter.test [global flags] COMMAND")
}

// A flag of several letters after one dash, which the stdlib's flag
// package took, is a usage error that says how to write it.
func TestCLISingleDashLongFlagIsAUsageError(t *testing.T) {
	f := newFixture(t, twoModules())
	run := cliRunner(f, f.local)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "-host", "test", "--config", "testing"}, "deploy: -host: write --host"},
		{[]string{"deploy", "--host", "test", "-config=testing"}, "deploy: -config: write --config"},
		{[]string{"deploy", "--host", "test", "--config", "testing", "-force"}, "deploy: -force: write --force"},
		{[]string{"deploy", "-project", f.local, "--host", "test"}, "deploy: -project: write --project"},
		{[]string{"status", "-host=test"}, "status: -host: write --host"},
		{[]string{"status", "--host", "test", "-verbose"}, "status: -verbose: write --verbose"},
		{[]string{"releases", "--host", "test", "-parallel", "2"}, "releases: -parallel: write --parallel"},
		{[]string{"rollback", "--host", "test", "-to", "r1", "b"}, "rollback: -to: write --to"},
		{[]string{"unlock", "a", "-host", "test"}, "unlock: -host: write --host"},
		{[]string{"hosts", "-accept-new-host-keys"}, "hosts: -accept-new-host-keys: write --accept-new-host-keys"},
		{[]string{"-project", f.local, "hosts"}, "-project: write --project"},
		{[]string{"-help"}, "-help: write --help"},
		{[]string{"deploy", "-help"}, "deploy: -help: write --help"},
		{[]string{"-host", "test", "status"}, "unknown flag -host before the command (a flag longer than one letter takes two dashes, and a command's flags go after it"},
		{[]string{"status", "--host", "test", "-hots"}, "status: unknown flag -hots (a flag longer than one letter takes two dashes, and there is no --hots: see porter.test status --help)"},
	} {
		errOut := assertUsageLine(t, run, tc.args, tc.want)
		if strings.Contains(tc.want, "write --") {
			assert.True(t, strings.HasSuffix(errOut, " (a flag longer than one letter takes two dashes)\n"), "%q: %s", tc.args, errOut)
		}
	}
	assert.Empty(t, f.srv.Commands(), "no command reached the host")
}

// assertUsageLine checks that run(args...) is a usage error (exit status 2)
// that prints one line, starting with want, on stderr, and returns it.
func assertUsageLine(t *testing.T, run func(...string) (int, string, string), args []string, want string) string {
	t.Helper()
	code, out, errOut := run(args...)
	assert.Equal(t, porter.ExitUsage, code, "%q: %s", args, errOut)
	assert.Empty(t, out, "%q", args)
	assert.True(t, strings.HasPrefix(errOut, "porter.test: "+want), "%q: %s", args, errOut)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "%q: one line: %s", args, errOut)
	return errOut
}

// An unknown flag, a flag without its value, a wrong value: one line that
// names the command and the flag, and exit status 2.
func TestCLIUnknownFlagOrMissingValue(t *testing.T) {
	f := newFixture(t, twoModules())
	run := cliRunner(f, f.local)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "--hots", "test"}, "deploy: unknown flag: --hots (see porter.test deploy --help)"},
		{[]string{"deploy", "--config", "testing", "--host"}, "deploy: flag needs an argument: --host (see porter.test deploy --help)"},
		{[]string{"deploy", "--host", "test", "--config", "testing", "--parallel", "many"}, `deploy: invalid argument "many" for "--parallel" flag: `},
		{[]string{"deploy", "--host", "test", "--config", "testing", "--force="}, `deploy: invalid argument "" for "--force" flag: no module named: use --force for all, or --force=a,b`},
		{[]string{"status", "--host"}, "status: flag needs an argument: --host (see porter.test status --help)"},
		{[]string{"status", "--host", "test", "-x"}, "status: unknown shorthand flag: 'x' in -x (see porter.test status --help)"},
		{[]string{"releases", "--host", "test", "--bogus=1"}, "releases: unknown flag: --bogus (see porter.test releases --help)"},
		{[]string{"rollback", "b", "--host", "test", "--to"}, "rollback: flag needs an argument: --to (see porter.test rollback --help)"},
		{[]string{"unlock", "--host", "test", "--force", "a"}, "unlock: unknown flag: --force (see porter.test unlock --help)"},
		{[]string{"hosts", "--host", "test"}, "hosts: unknown flag: --host (see porter.test hosts --help)"},
		{[]string{"create-project", "-v", "x"}, "create-project: unknown shorthand flag: 'v' in -v (see porter.test create-project --help)"},
		{[]string{"--host", "test", "status"}, "unknown flag: --host before the command (a command's flags go after it: see porter.test --help)"},
		{[]string{"--project"}, "flag needs an argument: --project (see porter.test --help)"},
		{[]string{"frobnicate", "--host", "test"}, `unknown command "frobnicate" (porter.test help lists them)`},
		{[]string{"help", "frobnicate"}, `help: unknown command "frobnicate" (porter.test help lists them)`},
		{[]string{"help", "deploy", "status"}, "help: want one COMMAND at most"},
		{[]string{"hosts", "extra"}, `hosts: unexpected argument "extra"`},
		{[]string{"create-project"}, "create-project: want one NAME"},
	} {
		assertUsageLine(t, run, tc.args, tc.want)
	}
	assert.Empty(t, f.srv.Commands(), "no command reached the host")
}

// The exit statuses the usage documents: 0 done, 1 failed, 2 a wrong
// command line, 3 stopped by another deploy's lock alone.
func TestCLIExitStatuses(t *testing.T) {
	f := newFixture(t, twoModules())
	run := cliRunner(f, f.local)
	assert.Equal(t, 0, porter.ExitOK)
	assert.Equal(t, 1, porter.ExitError)
	assert.Equal(t, 2, porter.ExitUsage)
	assert.Equal(t, 3, porter.ExitLocked)
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"deploy", "--host", "test", "--config", "testing"}, porter.ExitOK},
		{[]string{"status", "--host", "test"}, porter.ExitOK},
		{[]string{"deploy", "--host", "nope", "--config", "testing"}, porter.ExitError},
		{[]string{"unlock", "--host", "test", "nope"}, porter.ExitError},
		{[]string{"deploy", "-host", "test", "--config", "testing"}, porter.ExitUsage},
		{[]string{"status"}, porter.ExitUsage},
	} {
		code, _, errOut := run(tc.args...)
		assert.Equal(t, tc.want, code, "%q: %s", tc.args, errOut)
	}
	portertest.WriteFiles(t, f.remote, map[string]string{"b/.porter/b/lock.json": `{"by":"carol@ci","pid":7,"since":"2026-01-02T03:04:05Z"}`})
	code, _, errOut := run("deploy", "--force", "--host", "test", "--config", "testing")
	assert.Equal(t, porter.ExitLocked, code, errOut)
	assert.Contains(t, errOut, "unlock --host test b")
}
