package porter_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	_ "github.com/porter-deploy/porter/plugins/django"
	"github.com/porter-deploy/porter/portertest"
)

// The bad-input corpus: malformed projects and arguments, each with the
// whole error it must produce, run against one real SSH server whose home
// must be byte for byte the same afterwards, and which no case may even
// connect to (every one of these is found before a deploy dials).

// goodProject is the project every case starts from: it deploys.
var goodProject = map[string]string{
	"project.ini":                 "[project]\nname = shop\ndepends = app\n[hosts]\ntest = x@y\n",
	"app/app.ini":                 "[module]\npath = $HOME/app\nconfig = app.conf\n[scm]\nurl = dir://src\n",
	"app/src/index.html":          "<h1>shop</h1>\n",
	"app/config/testing/app.conf": "debug = 1\n",
}

// badCase is one malformed project or argument: the files it writes over
// goodProject ("" removes one), the deploy's arguments, and the error.
type badCase struct {
	name  string
	files map[string]string
	opts  args
	want  string // the whole error, $DIR the project and $HOME the server's home; "re:" makes it a regexp
}

// args are the deploy's arguments: host "test" and config "testing" unless set.
type args struct {
	host, config, release string
	force                 porter.Force
	address               string
}

// set is files, as key, value pairs.
func set(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// proj is a project.ini of shop with depends = app and [hosts] hosts.
func proj(hosts string) map[string]string {
	return set("project.ini", "[project]\nname = shop\ndepends = app\n[hosts]\n"+hosts)
}

// mod is app's ini.
func mod(ini string) map[string]string { return set("app/app.ini", ini) }

const (
	appHead = "[module]\npath = $HOME/app\n"
	appSCM  = "[scm]\nurl = dir://src\n"
)

var projectCases = []badCase{
	// project.ini itself
	{"no project.ini", set("project.ini", ""), args{}, "$DIR: not a porter project (no project.ini): open $DIR/project.ini: no such file or directory"},
	{"project.ini of 0 bytes", set("project.ini", "\x00"), args{}, "$DIR/project.ini is empty: write [project] depends = the root modules, and [hosts] NAME = user@host"},
	{"project.ini unclosed section", set("project.ini", "[project]\nname = shop\n[hosts\ntest = x@y\n"), args{}, "$DIR/project.ini:3: unclosed section: [hosts: write [section], key = value, or a ; comment"},
	{"project.ini line without =", set("project.ini", "[project]\ndepends = app\nwhat is this\n"), args{}, "$DIR/project.ini:3: key-value delimiter not found: what is this: write [section], key = value, or a ; comment"},
	{"project.ini empty key", set("project.ini", "[project]\ndepends = app\n= x@y\n"), args{}, "$DIR/project.ini:3: empty key name: = x@y: write [section], key = value, or a ; comment"},
	{"project.ini too large", set("project.ini", "[project]\ndepends = app\n[hosts]\ntest = x@y\n"+strings.Repeat("; padding\n", porter.MaxINISize/10)), args{}, "$DIR/project.ini: more than 1048576 bytes: too large for an ini (a real one is a few KiB; porter reads at most MaxINISize, 1 MiB): is it the right file?"},
	{"project.ini section twice", set("project.ini", "[project]\ndepends = app\n[hosts]\ntest = x@y\n[project]\nname = other\n"), args{}, "$DIR/project.ini:5: [project] again (first on line 1): write each section once"},
	{"project.ini key twice", proj("test = x@y\ntest = x@z\n"), args{}, "$DIR/project.ini:6: [hosts] test again (first on line 5): set each key once"},
	{"no depends", set("project.ini", "[project]\nname = shop\n[hosts]\ntest = x@y\n"), args{}, "$DIR/project.ini [project]: depends is empty: list the root modules, e.g. depends = root"},
	// modules
	{"module ini missing", set("app/app.ini", ""), args{}, "module app: app/app.ini: no such file: create it with a [module] section, or map the module to its directory in [modules] of project.ini: unknown module"},
	{"module in depends unknown", set("project.ini", "[project]\ndepends = app, ghost\n[hosts]\ntest = x@y\n"), args{}, "module ghost: ghost/ghost.ini: no such file: create it with a [module] section, or map the module to its directory in [modules] of project.ini: unknown module"},
	{"module ini of 0 bytes", mod("\x00"), args{}, "module app: app/app.ini is empty: write a [module] section with path = /where/it/goes"},
	{"module ini without [module]", mod("[scm]\nurl = dir://src\n"), args{}, "module app: app/app.ini has no [module] section: add one with path = /where/it/goes"},
	{"module ini syntax", mod(appHead + "[scm\nurl = dir://src\n"), args{}, "module app: app/app.ini:3: unclosed section: [scm: write [section], key = value, or a ; comment"},
	{"module ini too large", mod(appHead + strings.Repeat("x = 1\n", porter.MaxINISize/6+1)), args{}, "module app: app/app.ini: more than 1048576 bytes: too large for an ini (a real one is a few KiB; porter reads at most MaxINISize, 1 MiB): is it the right file?"},
	{"module ini key twice", mod(appHead + "path = /srv/other\n"), args{}, "module app: app/app.ini:3: [module] path again (first on line 2): set each key once"},
	{"module name ..", set("project.ini", "[project]\ndepends = ..\n[hosts]\ntest = x@y\n"), args{}, `project.ini: module name ".." is not valid: use a plain directory name, and map it to a path in [modules]`},
	{"module name with a slash", set("project.ini", "[project]\ndepends = a/b\n[hosts]\ntest = x@y\n"), args{}, `project.ini: module name "a/b" is not valid: use a plain directory name, and map it to a path in [modules]`},
	{"module mapped to a missing dir", set("project.ini", "[project]\ndepends = app\n[hosts]\ntest = x@y\n[modules]\napp = services/app\n"), args{}, "module app: services/app/app.ini: no such file: create it with a [module] section, or map the module to its directory in [modules] of project.ini: unknown module"},
	{"cycle on itself", mod(appHead + "depends = app\n"), args{}, "dependency cycle: app -> app: remove one of these depends"},
	{"long cycle", set("app/app.ini", appHead+"depends = b\n", "b/b.ini", "[module]\npath = b\ndepends = c\n", "c/c.ini", "[module]\npath = c\ndepends = d\n", "d/d.ini", "[module]\npath = d\ndepends = app\n"), args{}, "dependency cycle: app -> b -> c -> d -> app: remove one of these depends"},
	{"cycle on one host only", set("app/app.ini", appHead+"depends-test = b\n", "b/b.ini", "[module]\npath = b\ndepends = app\n"), args{}, "dependency cycle: app -> b -> app: remove one of these depends"},
	// [module] path
	{"path not set", mod("[module]\ndepends =\n"), args{}, "module app: app/app.ini [module]: path is not set: add path = /where/it/goes/on/the/host"},
	{"path empty", mod("[module]\npath =\n"), args{}, "module app: app/app.ini [module]: path is not set: add path = /where/it/goes/on/the/host"},
	{"path /", mod("[module]\npath = /\n"), args{}, "module app: app/app.ini [module]: path = / is the root directory: a deploy writes its records there and may delete what the source lacks: name a directory of the module's own, such as /srv/app"},
	{"path / on one host", mod("[module]\npath = /srv/app\npath-test = //\n"), args{}, "module app: app/app.ini [module]: path = // is the root directory: a deploy writes its records there and may delete what the source lacks: name a directory of the module's own, such as /srv/app"},
	{"path .", mod("[module]\npath = ./\n"), args{}, "module app: app/app.ini [module]: path = ./ is the login directory itself: a deploy writes its records there and may delete what the source lacks: name a directory of the module's own, such as /srv/app"},
	// [module] config
	{"config with ..", mod(appHead + "config = ../../etc/passwd\n"), args{}, `module app: app/app.ini [module]: config = ../../etc/passwd: "../../etc/passwd" is not a plain relative path (no "..", "." or empty elements): name a file under config/<NAME>/ of the module, as a/b.ini`},
	{"config absolute", mod(appHead + "config = /etc/passwd\n"), args{}, `module app: app/app.ini [module]: config = /etc/passwd: "/etc/passwd" is an absolute path: name a file under config/<NAME>/ of the module, as a/b.ini`},
	{"config with NUL", mod(appHead + "config = app\x00.conf\n"), args{}, "module app: app/app.ini [module]: config = app\x00.conf: \"app\\x00.conf\" holds a backslash, a NUL or a line break: name a file under config/<NAME>/ of the module, as a/b.ini"},
	{"config under .porter", mod(appHead + "config = .porter/app/state.json\n"), args{}, `module app: app/app.ini [module]: config = .porter/app/state.json: ".porter/app/state.json" is under .porter, where porter keeps its state on the host: name a file under config/<NAME>/ of the module, as a/b.ini`},
	{"config file missing", mod(appHead + "config = app.conf, gone.conf\n"), args{}, "module app: config testing: app/config/testing/gone.conf: file does not exist: create it, or take gone.conf out of config = in app/app.ini [module]"},
	{"config through a symlink of the source", set("app/app.ini", appHead+"config = etc/app.conf\n"+appSCM, "app/config/testing/etc/app.conf", "x\n"), args{}, "deploy app to test: module app: app/app.ini [module]: config = etc/app.conf: etc is a symlink in the source (to /etc), and etc/app.conf would be copied through it on the host: make etc a directory of the source, or take it out"},
	// other settings
	{"use_rsync not a bool", mod(appHead + "use_rsync = maybe\n"), args{}, `module app: app/app.ini [module]: use_rsync = "maybe": want true or false`},
	{"keep_releases not a number", mod(appHead + "strategy = releases\nkeep_releases = five\n"), args{}, `module app: app/app.ini [module]: keep_releases = "five": want a whole number`},
	{"unknown strategy", mod(appHead + "strategy = bluegreen\n"), args{}, `module app: app/app.ini [module]: strategy = "bluegreen": want inplace or releases`},
	{"unknown scm scheme", mod(appHead + "[scm]\nurl = ftp://example.com/app\n"), args{}, `deploy app to test: app/app.ini [scm] url: scm url "ftp://example.com/app" (module $DIR/app): unknown scm scheme "ftp": use one of dir, git, none`},
	{"dir source missing", mod(appHead + "[scm]\nurl = dir://build\n"), args{}, "deploy app to test: checkout: scm url dir://build: directory $DIR/app/build does not exist: build it first or fix [scm] url: stat $DIR/app/build: no such file or directory"},
	// plugins
	{"unknown plugin", mod(appHead + "[plugin:example.com/nope]\n"), args{}, `module app: app/app.ini [plugin:example.com/nope]: plugin "example.com/nope" is not registered: add  import _ "example.com/nope"  to your deploy program`},
	{"plugin section without a name", mod(appHead + "[plugin: ]\n"), args{}, "module app: app/app.ini [plugin: ]: names no plugin: write [plugin:IMPORT/PATH], the import path of a plugin your deploy program imports"},
	{"plugin setting of the wrong type", mod(appHead + "[plugin:github.com/porter-deploy/porter/plugins/django]\nmigrate = sometimes\n"), args{}, `module app: app/app.ini [plugin:github.com/porter-deploy/porter/plugins/django]: migrate = "sometimes": want true or false`},
	{"plugin setting unknown", mod(appHead + "[plugin:github.com/porter-deploy/porter/plugins/django]\nmigrations = true\n"), args{}, `module app: app/app.ini [plugin:github.com/porter-deploy/porter/plugins/django]: unknown key "migrations": use settings_file, settings_dir or migrate`},
	// [hosts]
	{"host with a space", proj("test = x@a b\n"), args{}, `$DIR/project.ini [hosts] test: address "x@a b": " " at byte 3: an address holds no spaces, commas or control characters (several hosts go in a group: name = user@a, user@b): write user@host[:port]`},
	{"hosts without commas", proj("test = root@a root@b\n"), args{}, `$DIR/project.ini [hosts] test: address "root@a root@b": " " at byte 6: an address holds no spaces, commas or control characters (several hosts go in a group: name = user@a, user@b): write user@host[:port]`},
	{"host name with a comma", proj("a,b = x@y\n"), args{}, `$DIR/project.ini [hosts] a,b: the name "a,b" holds a comma, @ or a space, which --host cannot take: rename it`},
	{"host with a newline and an option", proj("test = x@y\n  -oProxyCommand=touch\n"), args{}, `$DIR/project.ini [hosts] test: address "-oProxyCommand=touch": starts with "-": write user@host[:port]`},
	{"host -oProxyCommand", proj("test = -oProxyCommand=touch\n"), args{}, `$DIR/project.ini [hosts] test: address "-oProxyCommand=touch": starts with "-": write user@host[:port]`},
	{"host user -o", proj("test = -oProxyCommand=x@y\n"), args{}, `$DIR/project.ini [hosts] test: address "-oProxyCommand=x@y": starts with "-": write user@host[:port]`},
	{"host -host", proj("test = x@-oProxyCommand=y\n"), args{}, `$DIR/project.ini [hosts] test: address "x@-oProxyCommand=y": a user or host cannot start with "-": write user@host[:port]`},
	{"port 0", proj("test = x@y:0\n"), args{}, `$DIR/project.ini [hosts] test: address "x@y:0": bad port "0": want a number from 1 to 65535: write user@host[:port]`},
	{"port 65536", proj("test = x@y:65536\n"), args{}, `$DIR/project.ini [hosts] test: address "x@y:65536": bad port "65536": want a number from 1 to 65535: write user@host[:port]`},
	{"port not a number", proj("test = x@y:ssh\n"), args{}, `$DIR/project.ini [hosts] test: address "x@y:ssh": bad port "ssh": want a number from 1 to 65535: write user@host[:port]`},
	{"host without an address", proj("test =\n"), args{}, "$DIR/project.ini [hosts] test has no address: write test = user@host, or list hosts: test = user@a, user@b"},
	{"groups listing each other", proj("test = x@y\na = b, x@z\nb = a\n"), args{}, "$DIR/project.ini [hosts]: groups list each other: a -> b -> a"},
	// arguments
	{"unknown host", nil, args{host: "prod"}, `unknown host "prod": valid hosts: test`},
	{"no host", nil, args{host: " "}, "no host given: unknown host; valid hosts: test"},
	{"host with a newline", nil, args{host: "test\n-oProxyCommand=x"}, `unknown host "-oProxyCommand=x": valid hosts: test`},
	{"address -oProxyCommand", nil, args{address: "-oProxyCommand=x"}, `host test: address "-oProxyCommand=x": starts with "-": give user@host[:port]`},
	{"address port out of range", nil, args{address: "x@127.0.0.1:99999"}, `host test: address "x@127.0.0.1:99999": bad port "99999": want a number from 1 to 65535: give user@host[:port]`},
	{"config ..", nil, args{config: ".."}, `config "..": no valid config name: name a config/NAME directory of the modules (e.g. testing, production)`},
	{"config with a slash", nil, args{config: "a/b"}, `config "a/b": no valid config name: name a config/NAME directory of the modules (e.g. testing, production)`},
	{"force unknown module", nil, args{force: porter.ForceModules("ghost")}, `force ghost: unknown module "ghost": modules of shop: app`},
	{"release unknown, dir", nil, args{release: "beta"}, `release "beta": unknown release: no module of shop has a [release:NAME] section, so the only release is the default, stable: add [release:beta] to a module's ini, or deploy stable`},
	{"release unknown, dir with releases", mod(appHead + appSCM + "[release:v1]\n[release:v2]\n"), args{release: "beta"}, `release "beta": unknown release: no module of shop has a [release:beta] section; the releases defined: v1, v2`},
	{"release unknown, none", mod(appHead + "[scm]\nurl = none://\n[release:stable]\nversion = 1\n"), args{release: "beta"}, `release "beta": unknown release: no module of shop has a [release:beta] section; the releases defined: stable`},
	{"release unknown, git", mod(appHead + "[scm]\nurl = git://example.invalid/app.git\n[release:stable]\nbranch = main\n"), args{release: "beta"}, `release "beta": unknown release: no module of shop has a [release:beta] section; the releases defined: stable`},
	{"release missing, git", mod(appHead + "[scm]\nurl = git://example.invalid/app.git\n[release:beta]\nbranch = main\n"), args{}, "deploy app to test: app/app.ini: no [release:stable] section: add one with branch = NAME (or tag, commit)"},
	{"release without version, none", mod(appHead + "[scm]\nurl = none://\n[release:stable]\n"), args{}, `deploy app to test: checkout: release "stable" of none://: set version in [release:stable]`},
}

// foundInTheCheckout names the cases of projectCases whose error only the
// checkout finds (in the tree it fetched), while the deploy dials its
// hosts: a connection may have been made then, and closed unused (no
// command, no SFTP write). Every other bad input stops the deploy before
// the dial.
var foundInTheCheckout = map[string]bool{"config through a symlink of the source": true}

func TestBadInputCorpus(t *testing.T) {
	srv := portertest.NewServer(t)
	for _, tc := range projectCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeBadProject(t, srv, tc.files)
			before, conns, execs := homeTree(t, srv.Home()), srv.Connections(), len(srv.Execs())
			err := loadAndDeploy(srv, dir, tc.opts)
			want := strings.NewReplacer("$DIR", dir, "$HOME", srv.Home()).Replace(tc.want)
			require.Error(t, err)
			if re, ok := strings.CutPrefix(want, "re:"); ok {
				assert.Regexp(t, regexp.MustCompile("^"+re+"$"), err.Error())
			} else {
				assert.Equal(t, want, err.Error())
			}
			if foundInTheCheckout[tc.name] {
				assert.LessOrEqual(t, srv.Connections(), conns+1, "at most the deploy's one connection, closed unused")
			} else {
				assert.Equal(t, conns, srv.Connections(), "no SSH connection was made")
			}
			assert.Len(t, srv.Execs(), execs, "no command ran on the host")
			assert.Equal(t, before, homeTree(t, srv.Home()), "nothing was written to the host")
		})
	}
}

// TestCheckoutFailureWhileDialling: a git release that the repository
// does not have is found by the fetch, while the host is dialled; the
// deploy stops with the checkout's error, and the connection is closed
// unused.
func TestCheckoutFailureWhileDialling(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: apt-get install git (the CI script installs it)")
	}
	srv := portertest.NewServer(t)
	repo := t.TempDir()
	for _, args := range [][]string{{"init", "-q"}, {"commit", "-q", "--allow-empty", "-m", "one"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	dir := writeBadProject(t, srv, set("app/app.ini", appHead+"[scm]\nurl = git://"+repo+"\n[release:stable]\nbranch = nosuch\n"))
	before := homeTree(t, srv.Home())

	err := loadAndDeploy(srv, dir, args{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `deploy app to test: checkout: release "stable" of git://`+repo)
	assert.Contains(t, err.Error(), "nosuch")
	assert.LessOrEqual(t, srv.Connections(), 1)
	assert.Empty(t, srv.Execs(), "no command ran on the host")
	assert.Equal(t, before, homeTree(t, srv.Home()), "nothing was written to the host")
}

// writeBadProject writes goodProject with files over it.
func writeBadProject(t *testing.T, srv *portertest.Server, files map[string]string) string {
	t.Helper()
	all := map[string]string{}
	for k, v := range goodProject {
		all[k] = v
	}
	for k, v := range files {
		all[k] = v
	}
	dir := t.TempDir()
	for k, v := range all {
		switch v {
		case "":
			continue
		case "\x00":
			v = "" // a file of 0 bytes
		}
		portertest.WriteFiles(t, dir, map[string]string{k: strings.ReplaceAll(v, "$HOME", srv.Home())})
	}
	if strings.Contains(all["app/app.ini"], "etc/app.conf") {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "app/src"), 0o755))
		require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "app/src/etc")))
	}
	return dir
}

// loadAndDeploy loads the project in dir and deploys it to srv with a.
func loadAndDeploy(srv *portertest.Server, dir string, a args) error {
	p, err := porter.LoadProject(dir)
	if err != nil {
		return err
	}
	opts := porter.Options{Target: porter.Target{Host: a.host, Address: a.address, Dial: srv.DialOptions()},
		Config: a.config, Release: a.release, Force: a.force}
	if opts.Host == "" {
		opts.Host = "test"
	}
	if opts.Config == "" {
		opts.Config = "testing"
	}
	if opts.Address == "" {
		opts.Address = srv.Address()
	}
	_, err = porter.Deploy(context.Background(), p, opts)
	return err
}

// homeTree is every entry under root: its mode, and a file's content or a
// link's target.
func homeTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		info, err := d.Info()
		require.NoError(t, err)
		v := info.Mode().String()
		switch {
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			v += " " + string(b)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			v += " -> " + target
		}
		out[p] = v
		return nil
	}))
	return out
}

// cliCase is an argument case through the command line: its exit status
// and the last line of stderr (the error, with the CLI's hint).
type cliCase struct {
	args []string
	code int
	want string // $DIR is the project
}

var cliCases = []cliCase{
	{[]string{"deploy", "--host", "prod", "--config", "testing"}, porter.ExitError, `unknown host "prod": valid hosts: test`},
	{[]string{"deploy", "--host", "test,prod", "--config", "testing"}, porter.ExitError, `unknown host "prod": valid hosts: test`},
	{[]string{"deploy", "--host", "test\n-oProxyCommand=x", "--config", "testing"}, porter.ExitError, `unknown host "-oProxyCommand=x": valid hosts: test`},
	{[]string{"deploy", "--config", "testing"}, porter.ExitUsage, "deploy: pass --host NAME, one of: test"},
	{[]string{"deploy", "--host", "test"}, porter.ExitUsage, "deploy: pass --config NAME, the config/NAME directory of each module (testing, production, ...)"},
	{[]string{"deploy", "--host", "test", "--config", "../etc"}, porter.ExitError, `config "../etc": no valid config name: name a config/NAME directory of the modules (e.g. testing, production): pass --config NAME`},
	{[]string{"deploy", "--host", "test", "--config", "testing", "--release", "beta"}, porter.ExitError, `release "beta": unknown release: no module of shop has a [release:NAME] section, so the only release is the default, stable: add [release:beta] to a module's ini, or deploy stable`},
	{[]string{"deploy", "--host", "test", "--config", "testing", "--force=ghost"}, porter.ExitError, `force ghost: unknown module "ghost": modules of shop: app`},
	{[]string{"deploy", "--host", "test", "--config", "testing", "--force="}, porter.ExitUsage, `deploy: invalid argument "" for "--force" flag: no module named: use --force for all, or --force=a,b (see porter.test deploy --help)`},
	{[]string{"deploy", "--host", "test", "--config", "testing", "--force", "ghost"}, porter.ExitUsage, `deploy: unexpected argument "ghost" (to force a module, write --force=ghost)`},
	{[]string{"deploy", "-host", "test", "--config", "testing"}, porter.ExitUsage, "deploy: -host: write --host (a flag longer than one letter takes two dashes)"},
	{[]string{"deploy", "--host", "test", "--config", "testing", "--batch", "-1"}, porter.ExitUsage, "deploy: --batch -1: want 0 (the default) or more"},
	{[]string{"deploy", "--host", "test", "--config", "testing", "--parallel", "many"}, porter.ExitUsage, `deploy: invalid argument "many" for "--parallel" flag: must be an integer (see porter.test deploy --help)`},
	{[]string{"deploy", "--host", "test", "--config", "testing", "--oProxyCommand=x"}, porter.ExitUsage, "deploy: unknown flag: --oProxyCommand (see porter.test deploy --help)"},
	{[]string{"--project", "$DIR/nowhere", "deploy", "--host", "test", "--config", "testing"}, porter.ExitError, "$DIR/nowhere: not a porter project (no project.ini): open $DIR/nowhere/project.ini: no such file or directory: run it in the project directory, pass --project DIR, or create one with porter.test create-project NAME"},
	{[]string{"status", "--host", "prod"}, porter.ExitError, `unknown host "prod": valid hosts: test`},
	{[]string{"status", "--host", "test", "--release", "beta"}, porter.ExitError, `release "beta": unknown release: no module of shop has a [release:NAME] section, so the only release is the default, stable: add [release:beta] to a module's ini, or deploy stable`},
	{[]string{"unlock", "--host", "test", "ghost"}, porter.ExitError, `unknown module "ghost": modules of shop: app`},
	{[]string{"frobnicate"}, porter.ExitUsage, `unknown command "frobnicate" (porter.test help lists them)`},
}

func TestBadInputCLI(t *testing.T) {
	srv := portertest.NewServer(t)
	dir := writeBadProject(t, srv, nil)
	before := homeTree(t, srv.Home())
	for _, tc := range cliCases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb strings.Builder
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "$DIR", dir)
			}
			cli := &porter.CLI{Args: args, Stdout: &out, Stderr: &errb, ProjectDir: dir,
				Addresses: map[string]string{"test": srv.Address()}, Dial: srv.DialOptions()}
			code := cli.Run(context.Background())
			assert.Equal(t, tc.code, code, errb.String())
			assert.Equal(t, "porter.test: "+strings.ReplaceAll(tc.want, "$DIR", dir)+"\n", lastLine(errb.String()))
		})
	}
	assert.Zero(t, srv.Connections(), "no SSH connection was made")
	assert.Equal(t, before, homeTree(t, srv.Home()), "nothing was written to the host")
}

func init() {
	// e2e-vanish removes a file of its dir:// source once it is checked
	// out, before the send: a build writing into the source mid-deploy.
	porter.RegisterDeployment("e2e-vanish", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigSourcePreSend, func(ctx context.Context, m *porter.Module, _ any) error {
			co, err := m.Checkout(ctx)
			if err != nil {
				return err
			}
			return os.Remove(filepath.Join(co.Dir, "gone.txt"))
		})
		return nil
	})
}

func TestBadInputSourceChangesDuringTheDeploy(t *testing.T) {
	srv := portertest.NewServer(t)
	dir := writeBadProject(t, srv, set("project.ini", "[project]\ndepends = e2e-vanish\n[hosts]\ntest = x@y\n",
		"e2e-vanish/e2e-vanish.ini", "[module]\npath = $HOME/v\n[scm]\nurl = dir://src\n",
		"e2e-vanish/src/gone.txt", "x", "e2e-vanish/src/stays.txt", "y"))
	err := loadAndDeploy(srv, dir, args{})
	require.Error(t, err)
	src, _ := filepath.EvalSymlinks(filepath.Join(dir, "e2e-vanish/src"))
	assert.Equal(t, "deploy e2e-vanish to test: source-send: the source "+src+" changed while it was deployed (files were added, removed or written): the host may have a mix of old and new files; deploy again once nothing writes to it", err.Error())
	assert.NoFileExists(t, filepath.Join(srv.Home(), "v/.porter/e2e-vanish/state.json"), "no record says the host runs a version it was not sent")
}

func TestBadInputSourceUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads a file of mode 0000: run the tests as another user to run this one")
	}
	srv := portertest.NewServer(t)
	dir := writeBadProject(t, srv, set("app/src/secret", "s"))
	require.NoError(t, os.Chmod(filepath.Join(dir, "app/src/secret"), 0))
	err := loadAndDeploy(srv, dir, args{})
	src := filepath.Join(dir, "app/src")
	assert.EqualError(t, err, "deploy app to test: checkout: scm url dir://src: hash "+src+": open "+src+"/secret: permission denied")
	assert.LessOrEqual(t, srv.Connections(), 1, "the hash fails while the host is dialled: at most that connection, closed unused")
	assert.Empty(t, srv.Execs(), "no command ran on the host")
}

func TestSourceSymlinkOutsideIsSentAsALink(t *testing.T) {
	srv := portertest.NewServer(t)
	outside := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(outside, []byte("local secret"), 0o600))
	dir := writeBadProject(t, srv, nil)
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "app/src/leak")))
	require.NoError(t, loadAndDeploy(srv, dir, args{}))
	target, err := os.Readlink(filepath.Join(srv.Home(), "app/leak"))
	require.NoError(t, err, "the link is sent as a link, as rsync -a sends it")
	assert.Equal(t, outside, target)
	for p, v := range homeTree(t, srv.Home()) {
		assert.NotContains(t, v, "local secret", "%s: what the link points to locally is never read or sent", p)
	}
}
