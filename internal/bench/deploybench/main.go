// Command deploybench measures the deploy a user runs: a deploy program
// built from porter.Main() (./cmd/deploy), run as a user runs it against a
// real OpenSSH sshd on loopback that it starts (internal/sshdtest), side by
// side with rsync -a -e ssh in the same run. Each case runs n times per
// tool, the order alternating, with sync(2) before each run; both copies
// are checked byte for byte against the source after every run (rsync's
// after its last), and the table gives medians, the ratio, porter's peak
// RSS and where the time of porter's median run went (the -v "timings"
// lines):
//
//	go run ./internal/bench/deploybench                 # full run, work dir under $TMPDIR
//	go run ./internal/bench/deploybench -dir /dev/shm   # everything on tmpfs
//	go run ./internal/bench/deploybench -small          # tiny trees, one run (CI)
//
// The project has one module per case: a dir:// source of the tree (or a
// git:// one for the git case), deployed in place to a path under the
// work dir. The deploy program runs with a HOME of its own in the work dir
// (~/.ssh/config names the sshd, ~/.ssh/known_hosts trusts it), so its
// caches land there too.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/porter-deploy/porter/internal/bench/benchkit"
	"github.com/porter-deploy/porter/internal/bench/tree"
)

var (
	flagN     = flag.Int("n", 5, "runs per tool and case (the median is reported)")
	flagSmall = flag.Bool("small", false, "tiny trees and one run: proves the benchmark works (CI)")
	flagDir   = flag.String("dir", "", "parent of the work directory (default $TMPDIR; /dev/shm for tmpfs)")
	flagCases = flag.String("cases", "first,force,change,skip,git,100k,1g", "cases to run")
	flagKeep  = flag.Bool("keep", false, "keep the work directory")
	flagDebug = flag.Bool("debug", false, "copy the deploy program's log to stderr as it runs")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "deploybench:", err)
		os.Exit(1)
	}
}

// env is the run's sshd, work dir, deploy program and its HOME.
type env struct {
	*benchkit.SSHD
	dir  string
	prog string // the deploy program
	home string // its HOME
}

// kase is one line of the table.
type kase struct {
	benchkit.Case
	key     string
	src     string
	project string // the project dir, module "app"
	git     bool   // git:// source: the deployed mtimes are the checkout's
	args    []string
	want    string // the module's status in porter's report
}

func run() error {
	if err := benchkit.NeedTools("rsync", "ssh", "git", "go"); err != nil {
		return err
	}
	e := &env{}
	var err error
	if e.dir, err = benchkit.WorkDir(*flagDir, "deploybench"); err != nil {
		return err
	}
	if !*flagKeep {
		defer os.RemoveAll(e.dir)
	}
	if e.SSHD, err = benchkit.StartSSHD(e.dir); err != nil {
		return err
	}
	defer e.Close()
	if err := e.build(); err != nil {
		return err
	}
	if err := e.writeHome(); err != nil {
		return err
	}
	n := *flagN
	spec5k, spec100k, spec1g := tree.Tree5k, tree.Tree100k, tree.Tree1G
	if *flagSmall {
		n = 1
		spec5k = tree.Spec{Files: 200, Big: 1, BigSize: 1 << 20}
		spec100k = tree.Spec{Files: 2000, MinSize: 1024, MaxSize: 1024, Dirs: 20}
		spec1g = tree.Spec{Big: 1, BigSize: 16 << 20}
	}
	benchkit.PrintMachine(os.Stdout, fmt.Sprintf("sshd on 127.0.0.1:%s, work dir %s (%s), %d runs per tool, medians, sync before each run; "+
		"porter is the deploy program (porter.Main) run as `deploy -v --host bench --config bench`", e.Port, e.dir, benchkit.FSType(e.dir), n))
	cases, err := e.cases(wanted(*flagCases), spec5k, spec100k, spec1g)
	if err != nil {
		return err
	}
	for _, c := range cases {
		if err := benchkit.RunCase(e.bind(c), n, os.Stderr); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		for _, t := range c.Tools {
			if err := os.RemoveAll(e.dst(c, t)); err != nil {
				return err
			}
		}
	}
	printTable(os.Stdout, cases)
	return nil
}

func wanted(list string) map[string]bool {
	want := map[string]bool{}
	for _, c := range strings.Split(list, ",") {
		want[strings.TrimSpace(c)] = true
	}
	return want
}

// build builds the deploy program into the work dir.
func (e *env) build() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return fmt.Errorf("run deploybench inside porter's module (scripts/bench-deploy): go env GOMOD: %v", err)
	}
	e.prog = filepath.Join(e.dir, "deploy")
	build := exec.Command("go", "build", "-o", e.prog, "./internal/bench/deploybench/cmd/deploy")
	build.Dir = filepath.Dir(strings.TrimSpace(string(out)))
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the deploy program: %w: %s", err, out)
	}
	return nil
}

// writeHome writes the deploy program's ~/.ssh: an alias bench-sshd for
// the sshd and a known_hosts that trusts it.
func (e *env) writeHome() error {
	e.home = filepath.Join(e.dir, "home")
	if err := os.MkdirAll(filepath.Join(e.home, ".ssh"), 0o700); err != nil {
		return err
	}
	known, err := os.ReadFile(e.Srv.KnownHostsFile())
	if err != nil {
		return err
	}
	config := "Host bench-sshd\n  HostName 127.0.0.1\n  Port " + e.Port + "\n  User " + e.Srv.User() +
		"\n  IdentityFile " + e.Srv.IdentityFile() + "\n"
	if err := os.WriteFile(filepath.Join(e.home, ".ssh", "config"), []byte(config), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(e.home, ".ssh", "known_hosts"), known, 0o600)
}

// dst is where tool t deploys c's tree.
func (e *env) dst(c *kase, t string) string { return filepath.Join(e.dir, "dst", c.key, t) }

// deploy runs the deploy program on c's project.
func (e *env) deploy(c *kase) (benchkit.Result, error) {
	args := append([]string{"--project", c.project, "-v", "deploy", "--host", "bench", "--config", "bench"}, c.args...)
	cmd := exec.Command(e.prog, args...)
	cmd.Env = append(cleanEnv(), "HOME="+e.home, "SSH_AUTH_SOCK=", "DEPLOYBENCH_PEAK_RSS=1")
	return benchkit.Time(cmd, *flagDebug)
}

// cleanEnv is our environment without what would point the deploy
// program elsewhere than its HOME.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "SSH_AUTH_SOCK", "XDG_CACHE_HOME", "XDG_CONFIG_HOME":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// bind fills in c's Case: the tools' runs, checks and copies.
func (e *env) bind(c *kase) *benchkit.Case {
	c.Tools = []string{"porter", "rsync"}
	c.Run = func(t string) (benchkit.Result, error) {
		if t == "porter" {
			return e.deploy(c)
		}
		return benchkit.Time(e.Rsync(c.src, e.dst(c, t)), false)
	}
	status := regexp.MustCompile(`(?m)^app\s+` + c.want + `\s`)
	c.Check = func(t string, r benchkit.Result) error {
		if t == "porter" && !status.MatchString(r.Stdout) {
			return fmt.Errorf("porter's report does not say app %s:\n%s", c.want, r.Stdout)
		}
		return nil
	}
	c.Verify = func(t string) error {
		// A git checkout's files have the checkout's mtimes, not the
		// upstream's.
		return tree.Compare(c.src, e.dst(c, t), !(c.git && t == "porter"), ".git", ".porter")
	}
	return &c.Case
}
