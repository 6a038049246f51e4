package porter_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/ledger"
)

// eventLog records a deploy's events; porter calls it one call at a time,
// which -race checks.
type eventLog struct {
	mu  sync.Mutex
	all []porter.Event
}

func (l *eventLog) add(e porter.Event) { l.all = append(l.all, e) }

// of returns what host saw, as "type step" lines.
func (l *eventLog) of(host string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.all {
		if e.Host != host || e.Type == porter.EventProgress {
			continue
		}
		line := string(e.Type)
		if e.Step != "" {
			line += " " + string(e.Step)
		}
		if e.Outcome != "" {
			line += " " + string(e.Outcome)
		}
		out = append(out, line)
	}
	return out
}

// deployedHostEvents are the events of a host that deploys the fleet
// fixture's one module, as "type step outcome" lines, without progress.
var deployedHostEvents = []string{
	"host-connected",
	"module-start",
	"step-start deploy",
	"step-start deploy-start", "step-end deploy-start",
	"step-start source-pre-send", "step-end source-pre-send",
	"step-start source-send", "step-end source-send",
	"step-start source-post-send", "step-end source-post-send",
	"step-start deploy-finish", "step-end deploy-finish",
	"step-end deploy",
	"module-end deployed",
	"host-end deployed",
}

func TestDeployEventsOfAFleetInOrder(t *testing.T) {
	f := newFleetFixture(t, 3)
	log := &eventLog{}
	_, err, _ := f.deploy(t, porter.Options{Events: log.add})
	require.NoError(t, err)

	require.NotEmpty(t, log.all)
	first, last := log.all[0], log.all[len(log.all)-1]
	assert.Equal(t, porter.EventDeployStart, first.Type)
	assert.Equal(t, 3, first.Hosts)
	assert.Equal(t, porter.EventDeployEnd, last.Type)
	assert.Equal(t, map[porter.Outcome]int{porter.Deployed: 3}, last.Totals)
	assert.NoError(t, last.Err)
	for i, e := range log.all {
		assert.False(t, e.Time.IsZero(), "event %d has a time", i)
		if i > 0 {
			assert.False(t, e.Time.Before(log.all[i-1].Time), "event %d comes after the one before", i)
		}
	}
	for _, h := range fleetHosts {
		assert.Equal(t, deployedHostEvents, log.of(h), h)
	}
	for _, e := range log.all {
		if e.Type == porter.EventStepEnd && e.Step == porter.SigSourceSend {
			require.NotNil(t, e.Sync)
			assert.Equal(t, 1, e.Sync.Sent, "app.py sent to %s", e.Host)
		}
		if e.Type == porter.EventModuleEnd {
			assert.Equal(t, "fleet-app", e.Module)
			assert.NotEmpty(t, e.Version)
		}
	}

	// Again, up to date: the module ends unchanged without a step.
	log2 := &eventLog{}
	_, err, _ = f.deploy(t, porter.Options{Events: log2.add})
	require.NoError(t, err)
	assert.Equal(t, []string{"host-connected", "module-start", "module-end unchanged", "host-end unchanged"}, log2.of("web1"))
}

func TestDeployEventsEndEveryHostWhenALockStopsIt(t *testing.T) {
	f := newFleetFixture(t, 3)
	conn := f.fleet.Servers[1].Dial(t)
	lock, err := ledger.Place{Host: conn, Module: "fleet-app", Path: "app"}.Lock(context.Background(), ledger.Holder{By: "carol@ci", Host: "deploy@web2"})
	require.NoError(t, err)
	defer lock.Release(context.Background())
	log := &eventLog{}
	_, err, _ = f.deploy(t, porter.Options{Events: log.add})
	require.Error(t, err)
	assert.Equal(t, []string{"host-connected", "host-end not started"}, log.of("web1"))
	assert.Equal(t, []string{"host-connected", "host-end failed"}, log.of("deploy@web2"))
	last := log.all[len(log.all)-1]
	assert.Equal(t, porter.EventDeployEnd, last.Type)
	assert.ErrorIs(t, last.Err, ledger.ErrLocked)
}

func TestDeployReportsWhereTheTimeWent(t *testing.T) {
	f := newFleetFixture(t, 1)
	rep, err, _ := f.deploy(t, porter.Options{})
	require.NoError(t, err)
	phases := func(ts []porter.Timing) []string {
		var out []string
		for _, x := range ts {
			out = append(out, x.Phase)
		}
		return out
	}
	h := rep.Hosts[0]
	assert.Equal(t, []string{"connect", "lock", "unlock"}, phases(h.Timings))
	assert.Equal(t, []string{"checkout", "version", "record", "deploy-start", "seed", "source-pre-send", "list", "send",
		"source-check", "source-post-send", "switch", "deploy-finish", "record-write", "prune"}, phases(h.Modules[0].Timings),
		"source-check: the dir:// source looked at again once sent")
	var sum time.Duration
	for _, x := range h.Modules[0].Timings {
		assert.GreaterOrEqual(t, x.Duration, time.Duration(0), x.Phase)
		if x.Phase != "checkout" { // before the host connects: not in the module's Duration
			sum += x.Duration
		}
	}
	assert.LessOrEqual(t, sum, h.Modules[0].Duration, "the phases do not overlap")
}
