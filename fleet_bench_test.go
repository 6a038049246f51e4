package porter_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/bench/tree"
	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
)

// sshdFleet is n real OpenSSH sshd on loopback that one key and one
// known_hosts reach, and a project whose group fleet lists them (h1..hn),
// module app (a generated tree, in place) going to <remote>/hN.
type sshdFleet struct {
	srvs           []*sshdtest.Server
	known, keyFile string
	local, remote  string
	src            string
}

func startSshdFleet(b testing.TB, n int, spec tree.Spec) *sshdFleet {
	b.Helper()
	if !sshdtest.Available() {
		b.Skip("sshd not installed: apt-get install openssh-server")
	}
	f := &sshdFleet{local: b.TempDir(), remote: b.TempDir(), known: filepath.Join(b.TempDir(), "known_hosts")}
	var known []byte
	var pub ssh.PublicKey
	for i := range n {
		s := sshdtest.Start(b)
		f.srvs = append(f.srvs, s)
		k, err := os.ReadFile(s.KnownHostsFile())
		if err != nil {
			b.Fatal(err)
		}
		known = append(known, k...)
		if i == 0 {
			f.keyFile = s.IdentityFile()
			raw, err := os.ReadFile(f.keyFile)
			if err != nil {
				b.Fatal(err)
			}
			signer, err := ssh.ParsePrivateKey(raw)
			if err != nil {
				b.Fatal(err)
			}
			pub = signer.PublicKey()
		} else if err := s.AuthorizeKey(pub); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(f.known, known, 0o600); err != nil {
		b.Fatal(err)
	}
	var hosts, paths, names []string
	for i, s := range f.srvs {
		name := fmt.Sprintf("h%d", i+1)
		names = append(names, name)
		hosts = append(hosts, name+" = "+s.Address())
		paths = append(paths, fmt.Sprintf("path-%s = %s", name, filepath.Join(f.remote, name)))
	}
	portertest.WriteFiles(b, f.local, map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\n" + strings.Join(hosts, "\n") + "\nfleet = " + strings.Join(names, ", ") + "\n",
		"app/app.ini": "[module]\npath = " + f.remote + "/none\n" + strings.Join(paths, "\n") + "\n[scm]\nurl = dir://src\n",
	})
	f.src = filepath.Join(f.local, "app", "src")
	if err := tree.Make(f.src, spec); err != nil {
		b.Fatal(err)
	}
	return f
}

// deploy deploys the project to sel with porter.Deploy.
func (f *sshdFleet) deploy(b testing.TB, sel string) time.Duration {
	p, err := porter.LoadProject(f.local)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	_, err = porter.Deploy(context.Background(), p, porter.Options{Config: "t", Logger: discard, Target: f.target(sel)})
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func (f *sshdFleet) target(sel string) porter.Target {
	return porter.Target{Host: sel, Dial: portertest.TrustOnly(f.known, f.keyFile)}
}

// rsync runs one `rsync -a` per host, all at once (xargs -P), as a team
// without a deploy tool would.
func (f *sshdFleet) rsync(b *testing.B) time.Duration {
	var lines []string
	for i, s := range f.srvs {
		ip, port, _ := strings.Cut(s.Addr(), ":")
		lines = append(lines, fmt.Sprintf("%s %s@%s %s", port, s.User(), ip, filepath.Join(f.remote, fmt.Sprintf("h%d", i+1))))
	}
	ssh := "ssh -F /dev/null -i " + f.keyFile + " -o IdentitiesOnly=yes -o UserKnownHostsFile=" + f.known + " -o StrictHostKeyChecking=yes -o BatchMode=yes"
	script := `exec rsync -a -e "` + ssh + ` -p $1" ` + f.src + `/ "$2:$3/"`
	cmd := exec.Command("xargs", "-P", fmt.Sprint(len(f.srvs)), "-L", "1", "sh", "-c", script, "sh")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("rsync: %v: %s", err, out)
	}
	return time.Since(start)
}

func (f *sshdFleet) reset(b *testing.B) {
	for i := range f.srvs {
		if err := os.RemoveAll(filepath.Join(f.remote, fmt.Sprintf("h%d", i+1))); err != nil {
			b.Fatal(err)
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkFleetDeploy deploys the 5,005-file tree to 10 real OpenSSH
// sshd on loopback with porter.Deploy, and compares it, side by side in one
// run, with 10 `rsync -a` run at once (xargs -P10): the first sync (empty
// hosts) and after a 1% change. It also deploys the 1% change to one host
// of the ten, for the cost of going from 1 host to 10. Medians:
//
//	go test -run XXX -bench FleetDeploy -benchtime 5x .
func BenchmarkFleetDeploy(b *testing.B) {
	for _, bin := range []string{"rsync", "ssh", "xargs"} {
		if _, err := exec.LookPath(bin); err != nil {
			b.Skipf("%s is needed to compare with: apt-get install openssh-client rsync", bin)
		}
	}
	f := startSshdFleet(b, 10, tree.Tree5k)
	took := map[string][]time.Duration{}
	seed := uint64(1)
	for b.Loop() {
		f.reset(b)
		took["porter first"] = append(took["porter first"], f.deploy(b, "fleet"))
		f.reset(b)
		took["rsync first"] = append(took["rsync first"], f.rsync(b))
		f.reset(b)
		f.deploy(b, "fleet") // porter's records, for the 1% case
		for _, kase := range []string{"porter 1%", "rsync 1%", "porter 1% one host"} {
			seed++
			if _, err := tree.Touch(f.src, 1, seed); err != nil {
				b.Fatal(err)
			}
			switch kase {
			case "porter 1%":
				took[kase] = append(took[kase], f.deploy(b, "fleet"))
			case "rsync 1%":
				took[kase] = append(took[kase], f.rsync(b))
			default:
				took[kase] = append(took[kase], f.deploy(b, "h1"))
				f.deploy(b, "fleet") // the others catch up, untimed
			}
		}
	}
	m := map[string]time.Duration{}
	for k, d := range took {
		m[k] = median(d)
	}
	ratio := func(a, c string) float64 { return float64(m[a]) / float64(m[c]) }
	b.ReportMetric(float64(m["porter first"].Milliseconds()), "porter-first-ms")
	b.ReportMetric(float64(m["rsync first"].Milliseconds()), "rsync-first-ms")
	b.ReportMetric(ratio("porter first", "rsync first"), "first-porter/rsync")
	b.ReportMetric(float64(m["porter 1%"].Milliseconds()), "porter-1%-ms")
	b.ReportMetric(float64(m["rsync 1%"].Milliseconds()), "rsync-1%-ms")
	b.ReportMetric(ratio("porter 1%", "rsync 1%"), "1%-porter/rsync")
	b.ReportMetric(ratio("porter 1%", "porter 1% one host"), "10hosts/1host")
	b.Logf("10 OpenSSH sshd, 5,005 files, median of %d: first sync porter %v, 10x rsync -a %v (%.2fx, target <= 0.7x); "+
		"1%% changed porter %v, rsync %v (%.2fx); 1%% to 1 host %v, to 10 hosts %.2fx (target <= 3x)",
		b.N, m["porter first"].Round(time.Millisecond), m["rsync first"].Round(time.Millisecond), ratio("porter first", "rsync first"),
		m["porter 1%"].Round(time.Millisecond), m["rsync 1%"].Round(time.Millisecond), ratio("porter 1%", "rsync 1%"),
		m["porter 1% one host"].Round(time.Millisecond), ratio("porter 1%", "porter 1% one host"))
}

// BenchmarkFleetManyHosts runs the deploy command a user runs (the
// examples/basic program: porter.Main) against 20 and then 200 in-process
// portertest hosts, one small module each, and reports its wall time and
// peak RSS (the program's own: the servers are in this process), and the
// memory each extra host costs:
//
//	go test -run XXX -bench FleetManyHosts -benchtime 1x .
func BenchmarkFleetManyHosts(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "deploy")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/basic").CombinedOutput(); err != nil {
		b.Fatalf("build: %v: %s", err, out)
	}
	type run struct {
		took time.Duration
		rss  int64 // KiB
	}
	deploy := func(n int) run {
		fleet := portertest.NewFleet(b, n)
		home, local := b.TempDir(), b.TempDir()
		var hosts, names []string
		for i, s := range fleet.Servers {
			names = append(names, fmt.Sprintf("h%d", i+1))
			hosts = append(hosts, fmt.Sprintf("h%d = %s", i+1, s.Address()))
		}
		portertest.WriteFiles(b, local, map[string]string{
			"project.ini":   "[project]\ndepends = app\n[hosts]\n" + strings.Join(hosts, "\n") + "\nfleet = " + strings.Join(names, ", ") + "\n",
			"app/app.ini":   "[module]\npath = app\n[scm]\nurl = dir://src\n",
			"app/src/a.txt": "a\n", "app/src/d/b.txt": "b\n",
		})
		// The user's ~/.ssh: the fleet's key and known_hosts.
		opts := fleetSSHFiles(b, fleet)
		portertest.WriteFiles(b, home, map[string]string{".ssh/known_hosts": opts.known, ".ssh/id_ed25519": opts.key})
		if err := os.Chmod(filepath.Join(home, ".ssh", "id_ed25519"), 0o600); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "--project", local, "deploy", "--host", "fleet", "--config", "t")
		cmd.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		rss := watchPeakRSS(cmd.Process.Pid)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("deploy to %d hosts: %v: %s", n, err, out.Bytes())
		}
		took := time.Since(start)
		for _, s := range fleet.Servers[:1] {
			if _, err := os.Stat(filepath.Join(s.Home(), "app", "d", "b.txt")); err != nil {
				b.Fatal(err)
			}
		}
		return run{took, rss()}
	}
	var small, big []run
	for b.Loop() {
		small = append(small, deploy(20))
		big = append(big, deploy(200))
	}
	pick := func(rs []run) run {
		slices.SortFunc(rs, func(a, c run) int { return int(a.took - c.took) })
		return rs[len(rs)/2]
	}
	s, l := pick(small), pick(big)
	perHost := float64(l.rss-s.rss) / 180 / 1024 // MiB per extra host
	b.ReportMetric(float64(l.took.Milliseconds()), "200-hosts-ms")
	b.ReportMetric(float64(l.rss)/1024, "200-hosts-peak-MiB")
	b.ReportMetric(float64(s.rss)/1024, "20-hosts-peak-MiB")
	b.ReportMetric(perHost, "MiB/extra-host")
	b.Logf("the deploy command, one small module: 20 hosts %v, peak RSS %.1f MiB; 200 hosts %v, peak RSS %.1f MiB; %.2f MiB per extra host (target < 2)",
		s.took.Round(time.Millisecond), float64(s.rss)/1024, l.took.Round(time.Millisecond), float64(l.rss)/1024, perHost)
}

type sshFiles struct{ known, key string }

// fleetSSHFiles reads the fleet's known_hosts and private key.
func fleetSSHFiles(b *testing.B, f *portertest.Fleet) sshFiles {
	var known []byte
	for _, s := range f.Servers {
		k, err := os.ReadFile(s.KnownHostsFile())
		if err != nil {
			b.Fatal(err)
		}
		known = append(known, k...)
	}
	key, err := os.ReadFile(f.Servers[0].IdentityFile())
	if err != nil {
		b.Fatal(err)
	}
	return sshFiles{string(known), string(key)}
}

// watchPeakRSS reads the VmHWM (peak RSS of the process's own memory,
// in KiB) of pid every 10 ms until it exits; the function it returns waits
// for that and gives the last value read.
func watchPeakRSS(pid int) func() int64 {
	done := make(chan int64)
	go func() {
		var peak int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for ; ; <-tick.C {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil || bytes.Contains(b, []byte("State:\tZ")) {
				done <- peak
				return
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
					fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &peak)
				}
			}
		}
	}()
	return func() int64 { return <-done }
}
