package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/porter-deploy/porter/internal/bench/benchkit"
	"github.com/porter-deploy/porter/internal/bench/tree"
)

// cases makes the trees and projects of the wanted cases.
func (e *env) cases(want map[string]bool, spec5k, spec100k, spec1g tree.Spec) ([]*kase, error) {
	var cases []*kase
	add := func(c *kase) error {
		if err := e.writeProject(c); err != nil {
			return err
		}
		cases = append(cases, c)
		return nil
	}
	fresh := func(c *kase) *kase {
		c.Reset = func(t string) error { return os.RemoveAll(e.dst(c, t)) }
		return c
	}
	synced := func(c *kase) *kase {
		c.Setup = func(t string) error {
			if err := os.RemoveAll(e.dst(c, t)); err != nil {
				return err
			}
			_, err := c.Run(t)
			return err
		}
		return c
	}
	if want["first"] || want["force"] || want["change"] || want["skip"] {
		src, err := e.tree("5k", spec5k)
		if err != nil {
			return nil, err
		}
		label := fmt.Sprintf("%d files, %s", spec5k.Files+spec5k.Big, benchkit.Size(src))
		for _, c := range []*kase{
			fresh(&kase{key: "first", Case: benchkit.Case{Name: "first deploy, " + label, Target: "<= 0.8x disk, <= 0.6x tmpfs"}, want: "deployed"}),
			synced(&kase{key: "force", Case: benchkit.Case{Name: "forced re-deploy, nothing changed (--force)", Target: "<= 0.4x"}, args: []string{"--force"}, want: "deployed"}),
			synced(&kase{key: "change", Case: benchkit.Case{Name: "1% of files changed", Target: "<= 0.45x"}, want: "deployed"}),
			synced(&kase{key: "skip", Case: benchkit.Case{Name: "nothing changed, not forced (skipped by the record)", Target: "<= 0.3x"}, want: "unchanged"}),
		} {
			if !want[c.key] {
				continue
			}
			c.src = src
			if c.key == "change" {
				c.Prepare = func(round int) error { _, err := tree.Touch(src, 1, uint64(round)+1); return err }
			}
			if err := add(c); err != nil {
				return nil, err
			}
		}
	}
	if want["git"] {
		src, err := e.gitTree(spec5k)
		if err != nil {
			return nil, err
		}
		c := synced(&kase{key: "git", Case: benchkit.Case{Name: "a new git commit touching 1% of files (git://)", Target: "<= 0.5x"}, src: src, git: true, want: "deployed"})
		c.Prepare = func(round int) error { return commitTouch(src, round) }
		if err := add(c); err != nil {
			return nil, err
		}
	}
	if want["100k"] {
		src, err := e.tree("100k", spec100k)
		if err != nil {
			return nil, err
		}
		if err := add(fresh(&kase{key: "100k", Case: benchkit.Case{Name: fmt.Sprintf("first deploy, %d files of 1 KiB", spec100k.Files), Target: "<= 0.6x, RSS <= 100 MB"},
			src: src, want: "deployed"})); err != nil {
			return nil, err
		}
	}
	if want["1g"] {
		src, err := e.tree("1g", spec1g)
		if err != nil {
			return nil, err
		}
		if err := add(fresh(&kase{key: "1g", Case: benchkit.Case{Name: "first deploy, one file of " + benchkit.Size(src), Target: "<= 0.6x, flat memory"},
			src: src, want: "deployed"})); err != nil {
			return nil, err
		}
	}
	return cases, nil
}

// tree makes the tree src-name once.
func (e *env) tree(name string, spec tree.Spec) (string, error) {
	p := filepath.Join(e.dir, "src-"+name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	fmt.Fprintf(os.Stderr, "making tree %s...\n", name)
	return p, tree.Make(p, spec)
}

// gitTree makes the 5k tree as a git repository with one commit on main.
func (e *env) gitTree(spec tree.Spec) (string, error) {
	src, err := e.tree("git", spec)
	if err != nil {
		return "", err
	}
	if err := os.RemoveAll(filepath.Join(src, ".git")); err != nil { // tree.Make's stand-in .git/HEAD
		return "", err
	}
	if err := git(src, "init", "-q", "-b", "main"); err != nil {
		return "", err
	}
	if err := git(src, "add", "-A"); err != nil {
		return "", err
	}
	return src, git(src, "commit", "-q", "-m", "the tree")
}

// commitTouch changes 1% of the files of the repository src and commits.
func commitTouch(src string, round int) error {
	if _, err := tree.Touch(src, 1, uint64(round)+100); err != nil {
		return err
	}
	return git(src, "commit", "-q", "-a", "-m", fmt.Sprintf("round %d", round+1))
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=deploybench", "-c", "user.email=deploybench@localhost"}, args...)...)
	cmd.Env = append(cleanEnv(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// writeProject writes c's project: one module, app, deployed in place to
// porter's copy.
func (e *env) writeProject(c *kase) error {
	c.project = filepath.Join(e.dir, "project-"+c.key)
	url, release := "dir://"+c.src, ""
	if c.git {
		url, release = "git://"+c.src, "\n[release:stable]\nbranch = main\n"
	}
	files := map[string]string{
		"project.ini": "[project]\nname = bench\ndepends = app\n\n[hosts]\nbench = bench-sshd\n",
		"app/app.ini": "[module]\npath = " + e.dst(c, "porter") + "\n\n[scm]\nurl = " + url + "\n" + release,
	}
	for rel, body := range files {
		p := filepath.Join(c.project, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func printTable(out io.Writer, cases []*kase) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\n| case\t| porter\t| rsync -a\t| porter / rsync\t| target\t| porter peak RSS\t| checked\t|")
	fmt.Fprintln(w, "| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t| ---\t|")
	for _, c := range cases {
		fmt.Fprintf(w, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t|\n", c.Name, c.Cell("porter"), c.Cell("rsync"),
			c.Ratio("porter", "rsync"), c.Target, c.PeakRSS("porter"), c.Checked())
	}
	w.Flush()
	fmt.Fprintln(out, "\nWhere porter's median run went (the deploy program's -v timings lines; rest: start, project load, SSH config, report;\nthe checkout and the connect run at the same time, so the rest counts only the longer of them):")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, c := range cases {
		i := benchkit.MedianIndex(c.Results["porter"])
		if i < 0 {
			continue
		}
		r := c.Results["porter"][i]
		fmt.Fprintf(w, "%s\t%.2f s\t%s\n", c.key, r.Took.Seconds(), phases(r.Stderr, r.Took))
	}
	w.Flush()
}

// phases sums up the "timings" lines of a -v log: each phase with its
// duration in the order logged (the module's, then the host's; those under
// half a millisecond left out), and the rest of took (the checkout and the
// connect, made at the same time, counted once: the longer).
func phases(log string, took time.Duration) string {
	var parts []string
	var sum, checkout, connect time.Duration
	for _, l := range strings.Split(log, "\n") {
		_, attrs, ok := strings.Cut(l, " timings ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(attrs) {
			k, v, _ := strings.Cut(kv, "=")
			d, err := time.ParseDuration(v)
			if err != nil {
				continue
			}
			sum += d
			switch k {
			case "checkout":
				checkout += d
			case "connect":
				connect += d
			}
			if d >= time.Millisecond/2 {
				parts = append(parts, fmt.Sprintf("%s %s", k, ms(d)))
			}
		}
	}
	if sum == 0 {
		return "(no timings in the log)"
	}
	sum -= min(checkout, connect)
	return strings.Join(append(parts, "rest "+ms(took-sum)), ", ")
}

func ms(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
}
