// Command syncbench measures porter's sync engine side by side with what
// people run today over OpenSSH: rsync -a -e ssh, a tar pipe (tar -c | ssh
// host tar -x) and scp -r. It starts its own sshd on loopback
// (internal/sshdtest), generates the trees deterministically
// (internal/bench/tree), runs the tools alternately n times per case,
// checks the remote tree byte for byte after each porter run (and after
// the last run of every other tool), and prints medians and ratios:
//
//	go run ./internal/bench/syncbench                 # full run (about 10 minutes)
//	go run ./internal/bench/syncbench -small          # one quick round on tiny trees (CI)
//	go run ./internal/bench/syncbench -dir /dev/shm   # trees on tmpfs: steadier figures
//
// Each porter run is a child process (this binary with -child): process
// start, SSH handshake and sync are all in its time, as they are in rsync's,
// and its peak RSS is its own.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/porter-deploy/porter/internal/bench/benchkit"
	"github.com/porter-deploy/porter/internal/bench/tree"
	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/rsync"
)

var (
	flagN     = flag.Int("n", 5, "runs per tool and case (the median is reported)")
	flagSmall = flag.Bool("small", false, "tiny trees and one run: proves the benchmark works (CI)")
	flagDir   = flag.String("dir", "", "work directory for trees and sshd (default: a new one under $TMPDIR)")
	flagCases = flag.String("cases", "first,noop,change,100k,1g,deploy", "cases to run")
	flagKeep  = flag.Bool("keep", false, "keep the work directory")
	flagChild = flag.String("child", "", "internal: run porter in this process (JSON job)")
)

func main() {
	flag.Parse()
	if *flagChild != "" {
		if err := child(*flagChild); err != nil {
			fmt.Fprintln(os.Stderr, "porter:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "syncbench:", err)
		os.Exit(1)
	}
}

// job is what a porter child does.
type job struct {
	Address, KnownHosts, Identity string
	Syncs                         []syncJob
}

type syncJob struct {
	Src, Dst string
	Before   []string          // remote commands run before the sync
	After    []string          // and after it
	Copies   map[string]string // local file -> remote path, over SFTP
}

func child(arg string) error {
	var j job
	if err := json.Unmarshal([]byte(arg), &j); err != nil {
		return err
	}
	defer benchkit.PrintPeakRSS(os.Stdout)
	ctx := context.Background()
	var log *slog.Logger
	if os.Getenv("SYNCBENCH_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		start := time.Now()
		defer func() { log.Debug("child done", "took", time.Since(start)) }()
	}
	h, err := remote.Dial(ctx, j.Address, portertest.TrustOnly(j.KnownHosts, j.Identity)...)
	if err != nil {
		return err
	}
	defer h.Close()
	if log != nil {
		log.Debug("dialed")
	}
	for _, s := range j.Syncs {
		for _, c := range s.Before {
			if _, err := h.Run(ctx, c); err != nil {
				return err
			}
		}
		if _, err := rsync.Sync(ctx, h, s.Src, s.Dst, rsync.Options{Exclude: []string{".git*"}, Logger: log}); err != nil {
			return err
		}
		if len(s.Copies) > 0 {
			sc, err := h.SFTP(ctx)
			if err != nil {
				return err
			}
			for from, to := range s.Copies {
				f, err := os.Open(from)
				if err != nil {
					return err
				}
				err = sftpx.WriteAtomic(ctx, sc, to, f, 0o644, time.Time{})
				f.Close()
				if err != nil {
					return err
				}
			}
		}
		for _, c := range s.After {
			if _, err := h.Run(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// env is the benchmark's sshd and work directory.
type env struct {
	*benchkit.SSHD
	dir  string
	self string
}

type tool struct {
	name string
	// run syncs src to dst (one module, or the deploy's modules).
	run func(c *kase, src, dst string) (benchkit.Result, error)
}

// kase is one line of the table.
type kase struct {
	benchkit.Case
	src     string
	tools   []string
	prepare func(round int) error // before each round (all tools)
	fresh   bool                  // each run starts from no copy (else from a synced one)
	verify  func(src, dst string) error
	modules int // deploy case: modules under src/mN
}

func run() error {
	e := &env{}
	var err error
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	if e.dir, err = benchkit.WorkDir(*flagDir, "syncbench"); err != nil {
		return err
	}
	if !*flagKeep {
		defer os.RemoveAll(e.dir)
	}
	if err := benchkit.NeedTools("rsync", "ssh", "scp", "tar"); err != nil {
		return err
	}
	if e.SSHD, err = benchkit.StartSSHD(e.dir); err != nil {
		return err
	}
	defer e.Close()

	n := *flagN
	spec5k, spec100k, spec1g, deployMods, deploySpec := tree.Tree5k, tree.Tree100k, tree.Tree1G, 8, tree.Spec{Files: 600, Dirs: 10}
	if *flagSmall {
		n = 1
		spec5k = tree.Spec{Files: 200, Big: 1, BigSize: 1 << 20}
		spec100k = tree.Spec{Files: 2000, MinSize: 1024, MaxSize: 1024, Dirs: 20}
		spec1g = tree.Spec{Big: 1, BigSize: 16 << 20}
		deployMods, deploySpec = 2, tree.Spec{Files: 30, Dirs: 3}
	}
	want := map[string]bool{}
	for _, c := range strings.Split(*flagCases, ",") {
		want[strings.TrimSpace(c)] = true
	}

	benchkit.PrintMachine(os.Stdout, fmt.Sprintf("sshd on 127.0.0.1:%s, trees in %s (%s), %d runs per tool, medians; each porter run is a new process (dial + sync)",
		e.Port, e.dir, benchkit.FSType(e.dir), n))
	tools := e.tools()
	var cases []*kase
	mk := func(name string, spec tree.Spec) (string, error) {
		p := filepath.Join(e.dir, "src-"+name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		fmt.Fprintf(os.Stderr, "making tree %s...\n", name)
		return p, tree.Make(p, spec)
	}
	verifyTree := func(src, dst string) error { return tree.Compare(src, dst, true, ".git", ".porter") }

	if want["first"] || want["noop"] || want["change"] {
		src, err := mk("5k", spec5k)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("%d files, %s", spec5k.Files+spec5k.Big, benchkit.Size(src))
		if want["first"] {
			cases = append(cases, &kase{Case: benchkit.Case{Name: "first sync, " + label, Target: "<= 0.8x"}, src: src,
				tools: []string{"porter", "rsync", "tar", "scp"}, fresh: true, verify: verifyTree})
		}
		if want["noop"] {
			cases = append(cases, &kase{Case: benchkit.Case{Name: "nothing changed, " + label, Target: "<= 0.5x"}, src: src,
				tools: []string{"porter", "rsync"}, verify: verifyTree})
		}
		if want["change"] {
			cases = append(cases, &kase{Case: benchkit.Case{Name: "1% of files changed, " + label, Target: "<= 0.6x"}, src: src,
				tools: []string{"porter", "rsync"}, verify: verifyTree,
				prepare: func(round int) error { _, err := tree.Touch(src, 1, uint64(round)+1); return err }})
		}
	}
	if want["100k"] {
		src, err := mk("100k", spec100k)
		if err != nil {
			return err
		}
		cases = append(cases, &kase{Case: benchkit.Case{Name: fmt.Sprintf("first sync, %d files of 1 KiB", spec100k.Files), Target: "<= 1.0x, RSS <= 200 MB"},
			src: src, tools: []string{"porter", "rsync", "tar"}, fresh: true, verify: verifyTree})
	}
	if want["1g"] {
		src, err := mk("1g", spec1g)
		if err != nil {
			return err
		}
		cases = append(cases, &kase{Case: benchkit.Case{Name: "first sync, one file of " + benchkit.Size(src), Target: "<= 1.0x, flat memory"},
			src: src, tools: []string{"porter", "rsync", "tar", "scp"}, fresh: true, verify: verifyTree})
	}
	if want["deploy"] {
		c, err := e.deployCase(mk, deployMods, deploySpec)
		if err != nil {
			return err
		}
		cases = append(cases, c)
	}

	for _, c := range cases {
		if err := benchkit.RunCase(e.bind(c, tools), n, os.Stderr); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		for _, t := range c.tools {
			if err := os.RemoveAll(e.dst(c, t)); err != nil {
				return err
			}
		}
	}
	printTable(cases)
	return nil
}

// deployCase is the case of a deploy's engine calls: mods modules, each a
// sync, two config copies and three remote commands.
func (e *env) deployCase(mk func(string, tree.Spec) (string, error), mods int, spec tree.Spec) (*kase, error) {
	src := filepath.Join(e.dir, "src-deploy")
	for m := range mods {
		if _, err := mk(filepath.Join("deploy", fmt.Sprintf("m%d", m)), spec); err != nil {
			return nil, err
		}
	}
	cfg := filepath.Join(e.dir, "config")
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		return nil, err
	}
	for _, name := range []string{"local_settings.py", "app.ini"} {
		if err := os.WriteFile(filepath.Join(cfg, name), []byte("DEBUG = False\n# "+name+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	return &kase{Case: benchkit.Case{Name: fmt.Sprintf("deploy: %d modules of %d files, each sync + 2 copies + 3 commands", mods, spec.Files), Target: "<= 0.1x"},
		src: src, tools: []string{"porter", "per-step"}, modules: mods, fresh: true,
		verify: func(src, dst string) error {
			for m := range mods {
				s, d := filepath.Join(src, fmt.Sprintf("m%d", m)), filepath.Join(dst, fmt.Sprintf("m%d", m))
				if err := tree.Compare(s, d, true, ".git", ".porter", "local_settings.py", "app.ini"); err != nil {
					return err
				}
				for _, name := range []string{"local_settings.py", "app.ini"} {
					if _, err := os.Stat(filepath.Join(d, name)); err != nil {
						return err
					}
				}
			}
			return nil
		}}, nil
}

// dst is where tool t copies c's tree.
func (e *env) dst(c *kase, t string) string {
	return filepath.Join(e.dir, "dst", strings.ReplaceAll(c.Name, "/", "_"), t)
}

// bind fills in c's Case: a fresh case removes the copy before each run;
// the others start from a synced copy.
func (e *env) bind(c *kase, tools map[string]tool) *benchkit.Case {
	c.Tools, c.Prepare = c.tools, c.prepare
	c.Run = func(t string) (benchkit.Result, error) { return tools[t].run(c, c.src, e.dst(c, t)) }
	c.Verify = func(t string) error { return c.verify(c.src, e.dst(c, t)) }
	if c.fresh {
		c.Reset = func(t string) error { return os.RemoveAll(e.dst(c, t)) }
	} else {
		c.Setup = func(t string) error {
			if err := os.RemoveAll(e.dst(c, t)); err != nil {
				return err
			}
			_, err := c.Run(t)
			return err
		}
	}
	return &c.Case
}

func (e *env) tools() map[string]tool {
	ssh := e.SSHCmd()
	debug := os.Getenv("SYNCBENCH_DEBUG") != ""
	timeCmd := func(cmd *exec.Cmd) (benchkit.Result, error) { return benchkit.Time(cmd, false) }
	return map[string]tool{
		"porter": {name: "porter", run: func(c *kase, src, dst string) (benchkit.Result, error) {
			j := job{Address: e.Srv.Address(), KnownHosts: e.Srv.KnownHostsFile(), Identity: e.Srv.IdentityFile()}
			if c.modules == 0 {
				j.Syncs = []syncJob{{Src: src, Dst: dst}}
			} else {
				for m := range c.modules {
					s, d := filepath.Join(src, fmt.Sprintf("m%d", m)), filepath.Join(dst, fmt.Sprintf("m%d", m))
					j.Syncs = append(j.Syncs, syncJob{Src: s, Dst: d,
						Before: []string{"mkdir -p -- " + remote.Quote(d)},
						Copies: map[string]string{
							filepath.Join(e.dir, "config", "local_settings.py"): d + "/local_settings.py",
							filepath.Join(e.dir, "config", "app.ini"):           d + "/app.ini",
						},
						After: []string{"find " + remote.Quote(d) + " -name '*.pyc' -delete", "echo restarted"},
					})
				}
			}
			b, _ := json.Marshal(j)
			return benchkit.Time(exec.Command(e.self, "-child", string(b)), debug)
		}},
		"rsync": {name: "rsync -a", run: func(c *kase, src, dst string) (benchkit.Result, error) {
			return timeCmd(e.Rsync(src, dst))
		}},
		"tar": {name: "tar | ssh tar", run: func(c *kase, src, dst string) (benchkit.Result, error) {
			remoteCmd := "mkdir -p " + remote.Quote(dst) + " && tar -C " + remote.Quote(dst) + " -xpf -"
			pipe := "tar -C " + remote.Quote(src) + " --exclude='.git*' -cf - . | " + ssh + " " + e.Host + " " + remote.Quote(remoteCmd)
			return timeCmd(exec.Command("sh", "-c", pipe))
		}},
		"scp": {name: "scp -r", run: func(c *kase, src, dst string) (benchkit.Result, error) {
			args := append([]string{"-rpq", "-P", e.Port}, e.Opts...)
			return timeCmd(exec.Command("scp", append(args, src, e.Host+":"+dst)...))
		}},
		"per-step": {name: "rsync/scp/ssh per step", run: e.perStep},
	}
}

// perStep is the deploy case done as people script it: one rsync, scp or
// ssh process per step.
func (e *env) perStep(c *kase, src, dst string) (benchkit.Result, error) {
	start := time.Now()
	ssh := append([]string{"ssh", "-p", e.Port}, e.Opts...)
	scp := append([]string{"scp", "-pq", "-P", e.Port}, e.Opts...)
	for m := range c.modules {
		s, d := filepath.Join(src, fmt.Sprintf("m%d", m)), filepath.Join(dst, fmt.Sprintf("m%d", m))
		steps := [][]string{
			append(slices.Clone(ssh), e.Host, "mkdir -p -- "+remote.Quote(d)),
			e.Rsync(s, d).Args,
			append(slices.Clone(scp), filepath.Join(e.dir, "config", "local_settings.py"), e.Host+":"+d+"/"),
			append(slices.Clone(scp), filepath.Join(e.dir, "config", "app.ini"), e.Host+":"+d+"/"),
			append(slices.Clone(ssh), e.Host, "find "+remote.Quote(d)+" -name '*.pyc' -delete"),
			append(slices.Clone(ssh), e.Host, "echo restarted"),
		}
		for _, st := range steps {
			if _, err := benchkit.Time(exec.Command(st[0], st[1:]...), false); err != nil {
				return benchkit.Result{}, err
			}
		}
	}
	return benchkit.Result{Took: time.Since(start)}, nil
}

func printTable(cases []*kase) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\n| case\t| porter\t| rsync -a\t| tar pipe\t| scp -r\t| porter / rsync\t| porter / tar\t| target\t| porter peak RSS\t| checked\t|")
	fmt.Fprintln(w, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
	for _, c := range cases {
		rsyncCol, name := "rsync", c.Name
		if c.modules > 0 {
			rsyncCol = "per-step"
			name += " (rsync column: one rsync/scp/ssh process per step)"
		}
		fmt.Fprintf(w, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t|\n", name, c.Cell("porter"), c.Cell(rsyncCol), c.Cell("tar"), c.Cell("scp"),
			c.Ratio("porter", rsyncCol), c.Ratio("porter", "tar"), c.Target, c.PeakRSS("porter"), c.Checked())
	}
	w.Flush()
}
