package porter_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/bench/tree"
	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// BenchmarkDeployAfterOnePercentChange deploys the 5,005-file tree after a
// 1% change with strategy = inplace and with strategy = releases, side by
// side in one run (alternating, same change), through porter.Deploy to a
// real OpenSSH sshd on loopback (portertest where sshd is missing), and
// reports each and their ratios. "releases" is the steady state, once
// keep_releases (5) releases exist: each deploy recycles the oldest.
// "releases-copy" keeps 1,000, so that each deploy seeds its release with a
// copy of the current one, as the first five deploys of a module do:
//
//	go test -run XXX -bench DeployAfterOnePercentChange -benchtime 10x .
//	PORTER_BENCH_REMOTE=/dev/shm go test -run XXX -bench DeployAfterOnePercentChange -benchtime 10x .
//
// PORTER_BENCH_TREE=code deploys a tree of code instead: 5,000 files of
// 1-4 KiB, no big assets.
func BenchmarkDeployAfterOnePercentChange(b *testing.B) {
	spec, treeName := tree.Tree5k, "5,005 files"
	if os.Getenv("PORTER_BENCH_TREE") == "code" {
		spec, treeName = tree.Spec{Files: 5000, MaxSize: 4096}, "code tree (5,000 files of 1-4 KiB)"
	}
	var address string
	var dial []remote.Option
	server := "OpenSSH"
	if sshdtest.Available() {
		srv := sshdtest.Start(b)
		address, dial = srv.Address(), srv.DialOptions()
	} else {
		srv := portertest.NewServer(b)
		address, dial, server = srv.Address(), srv.DialOptions(), "portertest"
	}
	// The host's side on the test's disk, or where PORTER_BENCH_REMOTE says
	// (e.g. a tmpfs: /dev/shm).
	remoteDir := b.TempDir()
	if d := os.Getenv("PORTER_BENCH_REMOTE"); d != "" {
		var err error
		if remoteDir, err = os.MkdirTemp(d, "porter-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(remoteDir) })
	}
	projects := map[string]*porter.Project{}
	srcs := map[string]string{}
	kinds := map[string]string{"inplace": "strategy = inplace\n", "releases": "strategy = releases\n",
		"releases-copy": "strategy = releases\nkeep_releases = 1000\n"}
	for strategy, ini := range kinds {
		local := b.TempDir()
		portertest.WriteFiles(b, local, map[string]string{
			"project.ini":    "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
			"app/app.ini":    "[module]\npath = " + filepath.Join(remoteDir, strategy) + "\n" + ini + "[scm]\nurl = dir://src\n",
			"app/config/t/x": "x\n",
		})
		srcs[strategy] = filepath.Join(local, "app", "src")
		if err := tree.Make(srcs[strategy], spec); err != nil {
			b.Fatal(err)
		}
		p, err := porter.LoadProject(local)
		if err != nil {
			b.Fatal(err)
		}
		projects[strategy] = p
	}
	// PORTER_BENCH_LOG=FILE writes the measured deploys' debug logs there.
	logger := discard
	if f := os.Getenv("PORTER_BENCH_LOG"); f != "" {
		w, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { w.Close() })
		logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	phases := map[string]map[string][]time.Duration{} // strategy, phase
	measuring := false
	cpu := map[string][]time.Duration{} // the machine's CPU time per deploy
	deploy := func(strategy string) time.Duration {
		cpu0 := machineCPU()
		start := time.Now()
		log := discard
		if measuring {
			log = logger.With("strategy", strategy)
		}
		rep, err := porter.Deploy(context.Background(), projects[strategy], porter.Options{Target: porter.Target{Host: "test", Address: address, Dial: dial}, Config: "t",
			Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		if measuring {
			cpu[strategy] = append(cpu[strategy], machineCPU()-cpu0)
			if phases[strategy] == nil {
				phases[strategy] = map[string][]time.Duration{}
			}
			for _, h := range rep.Hosts {
				for _, t := range h.Timings {
					phases[strategy][t.Phase] = append(phases[strategy][t.Phase], t.Duration)
				}
				for _, m := range h.Modules {
					for _, t := range m.Timings {
						phases[strategy][t.Phase] = append(phases[strategy][t.Phase], t.Duration)
					}
				}
			}
		}
		return took
	}
	order := []string{"inplace", "releases", "releases-copy"}
	// Up to the steady state: keep_releases (5) releases.
	for i := range 5 {
		for _, s := range order {
			if _, err := tree.Touch(srcs[s], 1, uint64(1000+i)); err != nil {
				b.Fatal(err)
			}
			deploy(s)
		}
	}
	took := map[string][]time.Duration{}
	seed := uint64(1)
	measuring = true
	for b.Loop() {
		seed++
		for _, s := range order {
			if _, err := tree.Touch(srcs[s], 1, seed); err != nil {
				b.Fatal(err)
			}
		}
		// Rotate which goes first.
		order = append(order[1:], order[0])
		for _, s := range order {
			took[s] = append(took[s], deploy(s))
		}
	}
	// Each round's own ratio, whose median holds better than the ratio
	// of the medians on a machine whose disk slows and speeds up within a
	// run (a round deploys both within a second).
	var paired []float64
	for i := range took["inplace"] {
		paired = append(paired, float64(took["releases"][i])/float64(took["inplace"][i]))
	}
	slices.Sort(paired)
	pairedMed := paired[len(paired)/2]
	// Medians: a login shell on a shared machine now and then takes far
	// longer than the rest.
	med := map[string]time.Duration{}
	for s, d := range took {
		slices.Sort(d)
		med[s] = d[len(d)/2]
	}
	ratio := func(s string) float64 { return float64(med[s]) / float64(med["inplace"]) }
	b.ReportMetric(float64(med["inplace"].Milliseconds()), "inplace-ms/deploy")
	b.ReportMetric(float64(med["releases"].Milliseconds()), "releases-ms/deploy")
	b.ReportMetric(float64(med["releases-copy"].Milliseconds()), "copy-ms/deploy")
	b.ReportMetric(ratio("releases"), "releases/inplace")
	b.ReportMetric(ratio("releases-copy"), "copy/inplace")
	b.ReportMetric(pairedMed, "releases/inplace-paired")
	b.Logf("%s, %s, 1%% changed, median of %d deploys each: inplace %v, releases (oldest recycled) %v (%.2fx; median of each round's ratio %.2fx), releases (a copy of current) %v (%.2fx)",
		server, treeName, b.N, med["inplace"].Round(time.Millisecond), med["releases"].Round(time.Millisecond), ratio("releases"), pairedMed,
		med["releases-copy"].Round(time.Millisecond), ratio("releases-copy"))
	if cpu["inplace"][0] > 0 || cpu["inplace"][len(cpu["inplace"])-1] > 0 {
		// The work done, which a busy, shared machine's noise does not
		// change as it does the wall time: porter, sshd and the host's
		// processes, all on this machine.
		for s, d := range cpu {
			slices.Sort(d)
			med[s+"-cpu"] = d[len(d)/2]
		}
		b.ReportMetric(float64(med["releases-cpu"])/float64(med["inplace-cpu"]), "releases/inplace-cpu")
		b.Logf("machine CPU per deploy (medians): inplace %v, releases %v (%.2fx), releases (a copy of current) %v",
			med["inplace-cpu"], med["releases-cpu"], float64(med["releases-cpu"])/float64(med["inplace-cpu"]), med["releases-copy-cpu"])
	}
	for _, s := range []string{"inplace", "releases", "releases-copy"} {
		b.Logf("%s phases (medians): %s", s, phaseMedians(phases[s]))
	}
}

// machineCPU is the CPU time this machine has spent busy since it booted
// (Linux: /proc/stat, in clock ticks), 0 where it cannot be read.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// phaseMedians formats the median of each phase, longest first.
func phaseMedians(ph map[string][]time.Duration) string {
	type pm struct {
		name string
		d    time.Duration
	}
	var ms []pm
	for name, ds := range ph {
		slices.Sort(ds)
		ms = append(ms, pm{name, ds[len(ds)/2]})
	}
	slices.SortFunc(ms, func(a, b pm) int { return int(b.d - a.d) })
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s %v", m.name, m.d.Round(100*time.Microsecond)))
	}
	return strings.Join(parts, ", ")
}

var discard = slog.New(slog.DiscardHandler)
