package porter_test

import (
	"context"
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
		{"--v", "status", "--host", "test"},
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
		{"deploy", "-project", f.local, "--host", "test", "--config", "testing", "-v"},
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
	code, _, errOut := run("help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Contains(t, errOut, "usage: porter.test [global flags] COMMAND [flags]\n")
	assert.Contains(t, errOut, "\nglobal flags, before the command or after it (but for create-project):\n")
	for _, name := range []string{"-accept-new-host-keys", "-project DIR", "-v"} {
		assert.Contains(t, errOut, "\n  "+name)
	}

	code, _, errOut = run("deploy", "--help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Contains(t, errOut, "[plugin flags] [global flags]\n")
	own, global, ok := strings.Cut(errOut, "\nglobal flags (before or after deploy):\n")
	require.True(t, ok, errOut)
	assert.Contains(t, own, "-host NAME")
	assert.NotContains(t, own, "-v\t", "the global flags are listed apart")
	assert.Contains(t, global, "  -v\tverbose")
	assert.Contains(t, global, "  -project DIR")
	assert.NotContains(t, global, "  -host NAME")

	code, _, errOut = run("status", "--help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Contains(t, errOut, "  -v\tverbose")
}

// vPlugin declares a -v of its own, as a plugin may have before -v was
// taken after the command too.
type vPlugin struct{}

var vSeen sync.Map // module path -> the plugin's -v

func (vPlugin) Flags() []porter.Flag {
	return []porter.Flag{{Name: "v", Bool: true, Default: "false", Usage: "the plugin's own v"}}
}

func (vPlugin) RegisterSignalHandlers(m *porter.Module) error {
	m.PushSignalHandler(porter.SigDeployStart, func(_ context.Context, m *porter.Module, _ any) error {
		vSeen.Store(m.Path(), m.FlagBool("v"))
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

	code, _, errOut = run("deploy", "--help")
	assert.Equal(t, porter.ExitOK, code)
	assert.Contains(t, errOut, "plugin test/flag-v:\n  -v\tthe plugin's own v")
	_, global, _ := strings.Cut(errOut, "\nglobal flags (before or after deploy):\n")
	assert.NotContains(t, global, "-v")
}
