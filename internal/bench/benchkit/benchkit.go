// Package benchkit is what the side-by-side benchmarks (syncbench,
// deploybench) share: a throwaway OpenSSH sshd on loopback and the ssh
// options of the OpenSSH tools, child processes timed with their peak RSS,
// cases run n times with the tools alternating and every copy checked, and
// the figures of the tables (medians, ratios, sizes, the machine).
package benchkit

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/porter-deploy/porter/internal/sshdtest"
)

// SSHD is the benchmark's sshd and the options the OpenSSH tools reach it
// with.
type SSHD struct {
	Srv  *sshdtest.Server
	Host string   // user@127.0.0.1
	Port string   // sshd's port
	Opts []string // ssh and scp options without the port flag
}

// StartSSHD starts sshd with its files in dir/sshd. Close it with Close.
func StartSSHD(dir string) (*SSHD, error) {
	sshdDir := filepath.Join(dir, "sshd")
	if err := os.MkdirAll(sshdDir, 0o700); err != nil {
		return nil, err
	}
	srv, err := sshdtest.StartProcess(sshdDir)
	if err != nil {
		return nil, fmt.Errorf("start sshd (apt-get install openssh-server): %w", err)
	}
	s := &SSHD{Srv: srv, Host: srv.User() + "@127.0.0.1"}
	_, s.Port, _ = strings.Cut(srv.Addr(), ":")
	s.Opts = []string{"-F", "/dev/null", "-i", srv.IdentityFile(), "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + srv.KnownHostsFile(), "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"}
	return s, nil
}

// Close stops sshd.
func (s *SSHD) Close() error { return s.Srv.Close() }

// SSHCmd is the ssh command line for rsync -e.
func (s *SSHD) SSHCmd() string {
	return "ssh -p " + s.Port + " " + strings.Join(s.Opts, " ")
}

// Rsync is `rsync -a -e ssh src/ host:dst/`, .git* left out as porter
// leaves it out.
func (s *SSHD) Rsync(src, dst string) *exec.Cmd {
	return exec.Command("rsync", "-a", "--exclude=.git*", "-e", s.SSHCmd(), src+"/", s.Host+":"+dst+"/")
}

// NeedTools fails naming the first of bins that is not on PATH.
func NeedTools(bins ...string) error {
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is needed to compare with: apt-get install openssh-client rsync tar", bin)
		}
	}
	return nil
}

// WorkDir makes a new directory prefix-* under parent (under $TMPDIR when
// parent is "").
func WorkDir(parent, prefix string) (string, error) {
	return os.MkdirTemp(parent, prefix+"-")
}

// Result is one run of one tool.
type Result struct {
	Took   time.Duration
	RSS    int64  // peak RSS (VmHWM) the process printed with PrintPeakRSS, KiB; 0 if none
	Stdout string // what it printed
	Stderr string
}

// PrintPeakRSS prints the process's peak RSS (VmHWM, KiB) to w as the line
// "peak-rss-kib N", which Time reads. The process reads it itself:
// ru_maxrss, as the parent gets it from wait4, also counts the parent's
// memory that the child shared before it started the program (Go starts
// children with vfork).
func PrintPeakRSS(w io.Writer) {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			fmt.Fprintln(w, "peak-rss-kib", f[1])
		}
	}
}

// Time runs cmd and returns how long it took, what it printed and the peak
// RSS it printed (PrintPeakRSS), on stdout or stderr. With debug, the
// child's stderr is copied to ours as it comes.
func Time(cmd *exec.Cmd, debug bool) (Result, error) {
	var stderr, stdout strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if debug {
		cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	}
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args[:min(len(cmd.Args), 3)], " "), err,
			Shorten(strings.TrimSpace(stderr.String()+"\n"+stdout.String()), 2000))
	}
	r := Result{Took: took, Stdout: stdout.String(), Stderr: stderr.String()}
	for _, l := range strings.Split(r.Stdout+"\n"+r.Stderr, "\n") {
		if v, ok := strings.CutPrefix(l, "peak-rss-kib "); ok {
			r.RSS, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return r, nil
}

// MedianIndex returns the index of the median run of rs (the lower of the
// two middle ones for an even count), or -1 for none.
func MedianIndex(rs []Result) int {
	if len(rs) == 0 {
		return -1
	}
	idx := make([]int, len(rs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return int(rs[a].Took - rs[b].Took) })
	return idx[(len(idx)-1)/2]
}

// Median returns the median time of rs (the mean of the two middle ones
// for an even count) and the highest peak RSS of them.
func Median(rs []Result) (time.Duration, int64) {
	if len(rs) == 0 {
		return 0, 0
	}
	ds := make([]time.Duration, len(rs))
	var rss int64
	for i, r := range rs {
		ds[i] = r.Took
		rss = max(rss, r.RSS)
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2], rss
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2, rss
}

// Shorten cuts s to n bytes, marking the cut.
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Size is the total size of the regular files under p, for a case's name.
func Size(p string) string {
	var total int64
	filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	if total >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(total)/(1<<30))
	}
	return fmt.Sprintf("%.0f MB", float64(total)/1e6)
}

// FSType is "tmpfs" when dir is on a tmpfs, else "disk".
func FSType(dir string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil && st.Type == 0x01021994 {
		return "tmpfs"
	}
	return "disk"
}

// PrintMachine prints the machine, the tools' versions and setup.
func PrintMachine(w io.Writer, setup string) {
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
		if f := strings.Fields(string(b)); len(f) > 1 {
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
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s RAM, Linux %s, %s\n", cpu, runtime.NumCPU(), mem, kernel, runtime.Version())
	fmt.Fprintf(w, "tools:   %s; %s; %s\n", version("ssh", "-V"), version("rsync", "--version"), version("tar", "--version"))
	fmt.Fprintf(w, "setup:   %s\n", setup)
}
