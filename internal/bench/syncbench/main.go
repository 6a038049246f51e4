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
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/porter-deploy/porter/internal/bench/tree"
	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/internal/sshdtest"
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
	defer printPeakRSS()
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

// env is the benchmark's sshd and the ssh options of the OpenSSH tools.
type env struct {
	srv     *sshdtest.Server
	host    string   // user@127.0.0.1
	port    string   // sshd's port
	sshOpts []string // for ssh and scp (without the port flag)
	dir     string
	self    string
}

func (e *env) sshCmd() string {
	return "ssh -p " + e.port + " " + strings.Join(e.sshOpts, " ")
}

// result is one run of one tool.
type result struct {
	took time.Duration
	rss  int64 // KiB, porter only
}

type tool struct {
	name string
	// run syncs src to dst (one module, or the deploy's modules).
	run func(c *kase, src, dst string) (result, error)
}

// kase is one line of the table.
type kase struct {
	name, target string
	src          string
	tools        []string
	mtimes       bool
	prepare      func(round int) error  // before each round (all tools)
	reset        func(dst string) error // before each run of a tool
	verify       func(src, dst string) error
	modules      int // deploy case: modules under src/mN
	results      map[string][]result
	verified     map[string]string
}

func run() error {
	e := &env{}
	var err error
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	e.dir = *flagDir
	if e.dir == "" {
		if e.dir, err = os.MkdirTemp("", "syncbench-"); err != nil {
			return err
		}
	} else {
		if e.dir, err = os.MkdirTemp(e.dir, "syncbench-"); err != nil {
			return err
		}
	}
	if !*flagKeep {
		defer os.RemoveAll(e.dir)
	}
	for _, bin := range []string{"rsync", "ssh", "scp", "tar"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is needed to compare with: apt-get install openssh-client rsync tar", bin)
		}
	}
	sshdDir := filepath.Join(e.dir, "sshd")
	if err := os.MkdirAll(sshdDir, 0o700); err != nil {
		return err
	}
	if e.srv, err = sshdtest.StartProcess(sshdDir); err != nil {
		return fmt.Errorf("start sshd (apt-get install openssh-server): %w", err)
	}
	defer e.srv.Close()
	e.host = e.srv.User() + "@127.0.0.1"
	_, e.port, _ = strings.Cut(e.srv.Addr(), ":")
	e.sshOpts = []string{"-F", "/dev/null", "-i", e.srv.IdentityFile(), "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + e.srv.KnownHostsFile(), "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"}

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

	printMachine(e, n)
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
	rmAll := func(dst string) error { return os.RemoveAll(dst) }
	verifyTree := func(mtimes bool) func(src, dst string) error {
		return func(src, dst string) error { return tree.Compare(src, dst, mtimes, ".git", ".porter") }
	}

	if want["first"] || want["noop"] || want["change"] {
		src, err := mk("5k", spec5k)
		if err != nil {
			return err
		}
		files := spec5k.Files + spec5k.Big
		label := fmt.Sprintf("%d files, %s", files, size(src))
		if want["first"] {
			cases = append(cases, &kase{name: "first sync, " + label, target: "<= 0.8x", src: src,
				tools: []string{"porter", "rsync", "tar", "scp"}, mtimes: true, reset: rmAll, verify: verifyTree(true)})
		}
		if want["noop"] {
			cases = append(cases, &kase{name: "nothing changed, " + label, target: "<= 0.5x", src: src,
				tools: []string{"porter", "rsync"}, verify: verifyTree(true)})
		}
		if want["change"] {
			cases = append(cases, &kase{name: "1% of files changed, " + label, target: "<= 0.6x", src: src,
				tools: []string{"porter", "rsync"}, verify: verifyTree(true),
				prepare: func(round int) error { _, err := tree.Touch(src, 1, uint64(round)+1); return err }})
		}
	}
	if want["100k"] {
		src, err := mk("100k", spec100k)
		if err != nil {
			return err
		}
		cases = append(cases, &kase{name: fmt.Sprintf("first sync, %d files of 1 KiB", spec100k.Files), target: "<= 1.0x, RSS <= 200 MB",
			src: src, tools: []string{"porter", "rsync", "tar"}, mtimes: true, reset: rmAll, verify: verifyTree(true)})
	}
	if want["1g"] {
		src, err := mk("1g", spec1g)
		if err != nil {
			return err
		}
		cases = append(cases, &kase{name: "first sync, one file of " + size(src), target: "<= 1.0x, flat memory",
			src: src, tools: []string{"porter", "rsync", "tar", "scp"}, mtimes: true, reset: rmAll, verify: verifyTree(true)})
	}
	if want["deploy"] {
		src := filepath.Join(e.dir, "src-deploy")
		for m := range deployMods {
			if _, err := mk(filepath.Join("deploy", fmt.Sprintf("m%d", m)), deploySpec); err != nil {
				return err
			}
		}
		cfg := filepath.Join(e.dir, "config")
		if err := os.MkdirAll(cfg, 0o755); err != nil {
			return err
		}
		for _, name := range []string{"local_settings.py", "app.ini"} {
			if err := os.WriteFile(filepath.Join(cfg, name), []byte("DEBUG = False\n# "+name+"\n"), 0o644); err != nil {
				return err
			}
		}
		cases = append(cases, &kase{name: fmt.Sprintf("deploy: %d modules of %d files, each sync + 2 copies + 3 commands", deployMods, deploySpec.Files),
			target: "<= 0.1x", src: src, tools: []string{"porter", "per-step"}, modules: deployMods, reset: rmAll,
			verify: func(src, dst string) error {
				for m := range deployMods {
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
			}})
	}

	for _, c := range cases {
		if err := e.runCase(c, tools, n); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	printTable(cases)
	return nil
}

func (e *env) runCase(c *kase, tools map[string]tool, n int) error {
	fmt.Fprintf(os.Stderr, "== %s\n", c.name)
	c.results = map[string][]result{}
	c.verified = map[string]string{}
	dsts := map[string]string{}
	for _, t := range c.tools {
		dsts[t] = filepath.Join(e.dir, "dst", strings.ReplaceAll(c.name, "/", "_"), t)
		if c.reset == nil {
			// Cases that start from a synced tree: sync once first.
			if err := os.RemoveAll(dsts[t]); err != nil {
				return err
			}
			if _, err := tools[t].run(c, c.src, dsts[t]); err != nil {
				return fmt.Errorf("%s (initial sync): %w", t, err)
			}
		}
	}
	for round := range n {
		if c.prepare != nil {
			if err := c.prepare(round); err != nil {
				return err
			}
		}
		// Alternate: each round starts with the next tool.
		for k := range c.tools {
			t := c.tools[(round+k)%len(c.tools)]
			dst := dsts[t]
			if c.reset != nil {
				if err := c.reset(dst); err != nil {
					return err
				}
			}
			dropCaches()
			r, err := tools[t].run(c, c.src, dst)
			if err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			c.results[t] = append(c.results[t], r)
			fmt.Fprintf(os.Stderr, "   %-8s run %d: %v\n", t, round+1, r.took.Round(time.Millisecond))
			if t == "porter" || round == n-1 {
				if err := c.verify(c.src, dst); err != nil {
					if t == "porter" {
						return fmt.Errorf("porter's copy differs from the source: %w", err)
					}
					c.verified[t] = "differs: " + err.Error()
				} else if c.verified[t] == "" {
					c.verified[t] = "ok"
				}
			}
		}
	}
	for _, t := range c.tools {
		if err := os.RemoveAll(dsts[t]); err != nil {
			return err
		}
	}
	return nil
}

// dropCaches is a no-op: the trees stay in the page cache for every tool
// alike (the first run of each case warms it).
func dropCaches() {}

func (e *env) tools() map[string]tool {
	ssh := e.sshCmd()
	return map[string]tool{
		"porter": {name: "porter", run: func(c *kase, src, dst string) (result, error) {
			j := job{Address: e.srv.Address(), KnownHosts: e.srv.KnownHostsFile(), Identity: e.srv.IdentityFile()}
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
			return timeCmd(exec.Command(e.self, "-child", string(b)))
		}},
		"rsync": {name: "rsync -a", run: func(c *kase, src, dst string) (result, error) {
			return timeCmd(exec.Command("rsync", "-a", "--exclude=.git*", "-e", ssh, src+"/", e.host+":"+dst+"/"))
		}},
		"tar": {name: "tar | ssh tar", run: func(c *kase, src, dst string) (result, error) {
			remoteCmd := "mkdir -p " + remote.Quote(dst) + " && tar -C " + remote.Quote(dst) + " -xpf -"
			pipe := "tar -C " + remote.Quote(src) + " --exclude='.git*' -cf - . | " + ssh + " " + e.host + " " + remote.Quote(remoteCmd)
			return timeCmd(exec.Command("sh", "-c", pipe))
		}},
		"scp": {name: "scp -r", run: func(c *kase, src, dst string) (result, error) {
			args := append([]string{"-rpq", "-P", e.port}, e.sshOpts...)
			return timeCmd(exec.Command("scp", append(args, src, e.host+":"+dst)...))
		}},
		"per-step": {name: "rsync/scp/ssh per step", run: func(c *kase, src, dst string) (result, error) {
			start := time.Now()
			for m := range c.modules {
				s, d := filepath.Join(src, fmt.Sprintf("m%d", m)), filepath.Join(dst, fmt.Sprintf("m%d", m))
				steps := [][]string{
					append(append([]string{"ssh", "-p", e.port}, e.sshOpts...), e.host, "mkdir -p -- "+remote.Quote(d)),
					{"rsync", "-a", "--exclude=.git*", "-e", ssh, s + "/", e.host + ":" + d + "/"},
					append(append([]string{"scp", "-pq", "-P", e.port}, e.sshOpts...), filepath.Join(e.dir, "config", "local_settings.py"), e.host+":"+d+"/"),
					append(append([]string{"scp", "-pq", "-P", e.port}, e.sshOpts...), filepath.Join(e.dir, "config", "app.ini"), e.host+":"+d+"/"),
					append(append([]string{"ssh", "-p", e.port}, e.sshOpts...), e.host, "find "+remote.Quote(d)+" -name '*.pyc' -delete"),
					append(append([]string{"ssh", "-p", e.port}, e.sshOpts...), e.host, "echo restarted"),
				}
				for _, st := range steps {
					if _, err := timeCmd(exec.Command(st[0], st[1:]...)); err != nil {
						return result{}, err
					}
				}
			}
			return result{took: time.Since(start)}, nil
		}},
	}
}

// printPeakRSS prints the process's peak RSS (VmHWM, KiB) for the parent.
func printPeakRSS() {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			fmt.Println("peak-rss-kib", f[1])
		}
	}
}

func timeCmd(cmd *exec.Cmd) (result, error) {
	var stderr, stdout strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if os.Getenv("SYNCBENCH_DEBUG") != "" && len(cmd.Args) > 1 && cmd.Args[1] == "-child" {
		// The porter child's debug log, with timestamps.
		cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	}
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args[:min(len(cmd.Args), 3)], " "), err, strings.TrimSpace(stderr.String()))
	}
	r := result{took: took}
	for _, l := range strings.Split(stdout.String(), "\n") {
		if v, ok := strings.CutPrefix(l, "peak-rss-kib "); ok {
			r.rss, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return r, nil
}

func median(rs []result) (time.Duration, int64) {
	if len(rs) == 0 {
		return 0, 0
	}
	ds := make([]time.Duration, len(rs))
	var rss int64
	for i, r := range rs {
		ds[i] = r.took
		rss = max(rss, r.rss)
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2], rss
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2, rss
}

func printTable(cases []*kase) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\n| case\t| porter\t| rsync -a\t| tar pipe\t| scp -r\t| porter / rsync\t| porter / tar\t| target\t| porter peak RSS\t| checked\t|")
	fmt.Fprintln(w, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
	for _, c := range cases {
		cell := func(t string) string {
			if _, ok := c.results[t]; !ok {
				return "-"
			}
			d, _ := median(c.results[t])
			return fmt.Sprintf("%.2f s", d.Seconds())
		}
		ratio := func(a, b string) string {
			if _, ok := c.results[b]; !ok {
				return "-"
			}
			da, _ := median(c.results[a])
			db, _ := median(c.results[b])
			return fmt.Sprintf("%.2fx", da.Seconds()/db.Seconds())
		}
		rsyncCol, ratioCol := "rsync", "rsync"
		if c.modules > 0 {
			rsyncCol, ratioCol = "per-step", "per-step"
		}
		_, rss := median(c.results["porter"])
		var checked []string
		for _, t := range c.tools {
			if v := c.verified[t]; v != "" && v != "ok" {
				checked = append(checked, t+": "+shorten(v, 60))
			}
		}
		chk := "all identical"
		if len(checked) > 0 {
			chk = "porter identical; " + strings.Join(checked, "; ")
		}
		name := c.name
		if c.modules > 0 {
			name += " (rsync column: one rsync/scp/ssh process per step)"
		}
		fmt.Fprintf(w, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %d MB\t| %s\t|\n", name, cell("porter"), cell(rsyncCol), cell("tar"), cell("scp"),
			ratio("porter", ratioCol), ratio("porter", "tar"), c.target, rss/1024, chk)
	}
	w.Flush()
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func size(p string) string {
	var total int64
	filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	switch {
	case total >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(total)/(1<<30))
	default:
		return fmt.Sprintf("%.0f MB", float64(total)/1e6)
	}
}

func printMachine(e *env, n int) {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, cpu, _ = strings.Cut(l, ": ")
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				mem = fmt.Sprintf("%d GB", kb/1e6)
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	version := func(cmd ...string) string {
		out, _ := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
		l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return l
	}
	fs := "disk"
	var st syscall.Statfs_t
	if syscall.Statfs(e.dir, &st) == nil && st.Type == 0x01021994 {
		fs = "tmpfs"
	}
	fmt.Printf("machine: %s, %d CPUs, %s RAM, Linux %s, %s\n", cpu, runtime.NumCPU(), mem, kernel, runtime.Version())
	fmt.Printf("tools:   %s; %s; %s\n", version("ssh", "-V"), version("rsync", "--version"), version("tar", "--version"))
	fmt.Printf("setup:   sshd on 127.0.0.1:%s, trees in %s (%s), %d runs per tool, medians; each porter run is a new process (dial + sync)\n",
		e.port, e.dir, fs, n)
}
