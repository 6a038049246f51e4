package porter_test

import (
	"context"
	"log/slog"
	"path/filepath"
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
// reports both and their ratio:
//
//	go test -run XXX -bench DeployAfterOnePercentChange -benchtime 10x .
func BenchmarkDeployAfterOnePercentChange(b *testing.B) {
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
	remoteDir := b.TempDir()
	projects := map[string]*porter.Project{}
	srcs := map[string]string{}
	kinds := map[string]string{"inplace": "strategy = inplace\n", "releases": "strategy = releases\n",
		"releases-hardlink": "strategy = releases\nseed = hardlink\n"}
	for strategy, ini := range kinds {
		local := b.TempDir()
		portertest.WriteFiles(b, local, map[string]string{
			"project.ini":    "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
			"app/app.ini":    "[module]\npath = " + filepath.Join(remoteDir, strategy) + "\n" + ini + "[scm]\nurl = dir://src\n",
			"app/config/t/x": "x\n",
		})
		srcs[strategy] = filepath.Join(local, "app", "src")
		if err := tree.Make(srcs[strategy], tree.Tree5k); err != nil {
			b.Fatal(err)
		}
		p, err := porter.LoadProject(local)
		if err != nil {
			b.Fatal(err)
		}
		projects[strategy] = p
	}
	deploy := func(strategy string) time.Duration {
		start := time.Now()
		_, err := porter.Deploy(context.Background(), projects[strategy], porter.Options{Host: "test", Config: "t",
			Address: address, Dial: dial, Logger: discard})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	order := []string{"inplace", "releases", "releases-hardlink"}
	for _, s := range order {
		deploy(s)
	}
	var took = map[string]time.Duration{}
	seed := uint64(1)
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
			took[s] += deploy(s)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(took["inplace"].Milliseconds())/n, "inplace-ms/deploy")
	b.ReportMetric(float64(took["releases"].Milliseconds())/n, "releases-ms/deploy")
	b.ReportMetric(float64(took["releases-hardlink"].Milliseconds())/n, "hardlink-ms/deploy")
	b.ReportMetric(float64(took["releases"])/float64(took["inplace"]), "releases/inplace")
	b.ReportMetric(float64(took["releases-hardlink"])/float64(took["inplace"]), "hardlink/inplace")
	per := func(s string) time.Duration { return (took[s] / time.Duration(b.N)).Round(time.Millisecond) }
	b.Logf("%s, 5,005 files, 1%% changed, per deploy: inplace %v, releases (seed = copy) %v, releases (seed = hardlink) %v",
		server, per("inplace"), per("releases"), per("releases-hardlink"))
}

var discard = slog.New(slog.DiscardHandler)
