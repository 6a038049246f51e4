// Package plugintest helps the tests of the bundled plugins check what a
// plugin's handlers say they would do in a plan: it loads a module bound to
// a portertest server, asks the handlers of one owner to describe
// themselves, and snapshots the trees that describing must leave as they
// are (portertest.Snapshot).
package plugintest

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
)

// Module loads the module name of p for the host "test" of its [hosts],
// with --config testing and flags, connected to srv.
func Module(tb testing.TB, srv *portertest.Server, p *porter.Project, name string, flags map[string]string) *porter.Module {
	tb.Helper()
	m, err := porter.LoadModule(p, name, porter.OnHost("test"), porter.WithConfig("testing"),
		porter.WithFlags(flags), porter.WithConnection(srv.Dial(tb)), porter.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// ErrPlanned is the error of the SigDeployFailed payload Describe gives.
var ErrPlanned = errors.New("the error that would stop the deploy")

// Describe asks the handlers of owner on each of sigs, in that order, what
// they would do, with a plan's payloads (a porter.DeployFailed for
// SigDeployFailed, nil for the others), and returns their lines as
// "SIGNAL: LINE". It fails the test when one of them has no Describer or
// its Describer fails.
func Describe(tb testing.TB, m *porter.Module, owner string, sigs ...porter.Signal) []string {
	tb.Helper()
	var out []string
	for _, sig := range sigs {
		var payload any
		if sig == porter.SigDeployFailed {
			payload = porter.DeployFailed{Err: ErrPlanned}
		}
		out = append(out, DescribeWith(tb, m, owner, sig, payload)...)
	}
	return out
}

// DescribeWith is Describe for one signal and its payload.
func DescribeWith(tb testing.TB, m *porter.Module, owner string, sig porter.Signal, payload any) []string {
	tb.Helper()
	hs, err := m.DescribeSignal(context.Background(), sig, payload)
	if err != nil {
		tb.Fatalf("describe %s: %v", sig, err)
	}
	var out []string
	for i, h := range hs {
		if h.Owner != owner {
			continue
		}
		if !h.Described || !m.SignalHandlerInfo(sig)[i].Described {
			tb.Errorf("%s: handler %d of %s is not described", sig, i, owner)
		}
		for _, l := range h.Lines {
			out = append(out, string(sig)+": "+l)
		}
	}
	return out
}

// Snapshot is portertest.Snapshot of each of roots, keyed by root.
func Snapshot(tb testing.TB, roots ...string) map[string]map[string]string {
	tb.Helper()
	out := map[string]map[string]string{}
	for _, r := range roots {
		out[r] = portertest.Snapshot(tb, r)
	}
	return out
}
