package porter_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/ledger"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// hcSeen records, per host and deploy path ("HOST:BASE"), the signals the hc-app hook
// saw after the send, with where they ran and the rollback payloads.
var hcSeen sync.Map // host:base -> *fleetLog

func init() {
	porter.RegisterDeployment("hc-app", func(m *porter.Module) error {
		log := func(m *porter.Module, e string) {
			v, _ := hcSeen.LoadOrStore(m.HostName()+":"+m.Base(), &fleetLog{})
			v.(*fleetLog).add(e)
		}
		m.PushSignalHandler(porter.SigDeployFinish, func(_ context.Context, m *porter.Module, _ any) error {
			log(m, "deploy-finish in "+filepath.Base(m.Path()))
			return nil
		})
		m.PushSignalHandler(porter.SigDeployFailed, func(_ context.Context, m *porter.Module, payload any) error {
			var he *porter.HealthError
			log(m, fmt.Sprintf("deploy-failed (health error: %t)", errors.As(payload.(porter.DeployFailed).Err, &he)))
			return nil
		})
		for _, sig := range []porter.Signal{porter.SigRollbackStart, porter.SigRollbackFinish} {
			m.PushSignalHandler(sig, func(ctx context.Context, m *porter.Module, payload any) error {
				info := payload.(porter.RollbackInfo)
				// Read on the host: a relative path is relative to its login directory.
				cur, err := m.Host().Run(ctx, "readlink -- "+remote.Quote(m.CurrentPath()))
				if err != nil {
					return err
				}
				log(m, fmt.Sprintf("%s %s (%s) -> %s in %s, current %s", sig, info.From.ID, info.From.State, info.To.ID,
					filepath.Base(m.Path()), filepath.Base(strings.TrimSpace(string(cur.Stdout)))))
				return nil
			})
		}
		return nil
	})
}

// healthFixture is a project of one module, hc-app, deployed with
// releases to <remote>/app of one SSH server: portertest's, or a real
// OpenSSH sshd.
type healthFixture struct {
	local, remote string
	address       string
	dial          []remote.Option
	pt            *portertest.Server // nil for sshd
}

func newHealthFixture(t *testing.T, openssh bool, health string) *healthFixture {
	t.Helper()
	f := &healthFixture{local: t.TempDir(), remote: t.TempDir()}
	if openssh {
		srv := sshdtest.Start(t)
		f.address, f.dial = srv.Address(), srv.DialOptions()
	} else {
		f.pt = portertest.NewServer(t)
		f.address, f.dial = f.pt.Address(), f.pt.DialOptions()
	}
	portertest.WriteFiles(t, f.local, map[string]string{
		"project.ini":       "[project]\ndepends = hc-app\n[hosts]\ntest = x@y\n",
		"hc-app/hc-app.ini": "[module]\npath = " + f.remote + "/app\nstrategy = releases\n" + health + "[scm]\nurl = dir://src\n",
		"hc-app/src/app.py": "v1\n",
		"hc-app/src/lib.py": "lib v1\n",
	})
	return f
}

func (f *healthFixture) base() string { return filepath.Join(f.remote, "app") }

func (f *healthFixture) deploy(t *testing.T) (*porter.Report, error) {
	t.Helper()
	p, err := porter.LoadProject(f.local)
	require.NoError(t, err)
	return porter.Deploy(context.Background(), p, porter.Options{
		Target: porter.Target{Host: "test", Address: f.address, Dial: f.dial}, Config: "testing", Logger: discard})
}

func (f *healthFixture) seen() []string { return hcSeenOn("test", f.base()) }

func hcSeenOn(host, base string) []string {
	v, ok := hcSeen.Load(host + ":" + base)
	if !ok {
		return nil
	}
	return v.(*fleetLog).all()
}

// statusServer is an HTTP server on loopback (the host's side: the SSH
// servers run on this machine) that answers its n-th request (from 1)
// with status(n) and a body naming it.
type statusServer struct {
	*httptest.Server
	requests atomic.Int32
}

func newStatusServer(t *testing.T, status func(n int) int) *statusServer {
	t.Helper()
	s := &statusServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1))
		code := status(n)
		w.WriteHeader(code)
		fmt.Fprintf(w, "answer %d: %d %s", n, code, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *statusServer) hostPort() string { return strings.TrimPrefix(s.URL, "http://") }

func always(code int) func(int) int { return func(int) int { return code } }

func TestHealthHTTPPasses(t *testing.T) {
	for _, openssh := range []bool{false, true} {
		t.Run(map[bool]string{false: "portertest", true: "openssh"}[openssh], func(t *testing.T) {
			srv := newStatusServer(t, always(200))
			f := newHealthFixture(t, openssh, "health = "+srv.URL+"/healthz\n")
			rep, err := f.deploy(t)
			require.NoError(t, err)
			mr := rep.Hosts[0].Modules[0]
			assert.Equal(t, porter.Deployed, mr.Outcome)
			require.NotNil(t, mr.Health)
			assert.Equal(t, porter.HealthResult{Check: srv.URL + "/healthz", Passed: true, Tries: 1,
				Last: porter.HealthTry{Status: 200, Exit: -1, Output: "answer 1: 200 /healthz"}}, *mr.Health)
			assert.Equal(t, int32(1), srv.requests.Load())
			if f.pt != nil {
				assert.Equal(t, []string{srv.hostPort()}, f.pt.Tunnels(), "the GET went through the SSH connection")
			}
			rels := f.releases(t)
			require.Len(t, rels, 1)
			assert.Equal(t, ledger.Good, rels[0].State)
		})
	}
}

func (f *healthFixture) releases(t *testing.T) []ledger.Release {
	t.Helper()
	h, err := remote.Dial(context.Background(), f.address, f.dial...)
	require.NoError(t, err)
	defer h.Close()
	rels, err := ledger.Place{Host: h, Module: "hc-app", Path: f.base()}.Releases(context.Background())
	require.NoError(t, err)
	return rels
}

// 503 twice, then 200: the third try passes; the server counts the tries,
// the settings make the wait between them short.
func TestHealthFailsThenPassesWithinRetries(t *testing.T) {
	for _, openssh := range []bool{false, true} {
		t.Run(map[bool]string{false: "portertest", true: "openssh"}[openssh], func(t *testing.T) {
			srv := newStatusServer(t, func(n int) int {
				if n <= 2 {
					return 503
				}
				return 200
			})
			f := newHealthFixture(t, openssh, "health = "+srv.URL+"/\nhealth_retries = 3\nhealth_interval = 1ms\n")
			rep, err := f.deploy(t)
			require.NoError(t, err)
			mr := rep.Hosts[0].Modules[0]
			assert.Equal(t, porter.Deployed, mr.Outcome)
			assert.Equal(t, 3, mr.Health.Tries)
			assert.Equal(t, "answer 3: 200 /", mr.Health.Last.Output)
			assert.Equal(t, int32(3), srv.requests.Load())
		})
	}
}

// A release that never passes its check: current goes back to the
// release before, byte for byte, with the rollback signals, then
// SigDeployFailed; the failed release is gone and the record is v1's.
func TestHealthNeverPassesRollsBack(t *testing.T) {
	for _, openssh := range []bool{false, true} {
		t.Run(map[bool]string{false: "portertest", true: "openssh"}[openssh], func(t *testing.T) {
			var down atomic.Bool
			srv := newStatusServer(t, func(int) int {
				if down.Load() {
					return 500
				}
				return 200
			})
			f := newHealthFixture(t, openssh, "health = "+srv.URL+"/healthz\nhealth_retries = 2\nhealth_interval = 0\n")
			_, err := f.deploy(t)
			require.NoError(t, err)
			id1 := currentRelease(t, f.base())
			before := readTree(t, filepath.Join(f.base(), "releases", id1))
			rec1 := readRecord(t, f.base(), "hc-app")

			down.Store(true)
			portertest.WriteFiles(t, f.local, map[string]string{"hc-app/src/app.py": "v2\n", "hc-app/src/new.py": "new\n"})
			rep, err := f.deploy(t)
			var he *porter.HealthError
			require.ErrorAs(t, err, &he)
			assert.EqualError(t, err, `deploy hc-app to test: health check `+srv.URL+`/healthz failed after 2 tries: status 500, want 200: body "answer 3: 500 /healthz"`)
			assert.Equal(t, porter.HealthResult{Check: srv.URL + "/healthz", Tries: 2,
				Last: porter.HealthTry{Status: 500, Exit: -1, Output: "answer 3: 500 /healthz", Err: he.Result.Last.Err}}, he.Result)
			mr := rep.Hosts[0].Modules[0]
			assert.Equal(t, porter.Failed, mr.Outcome)
			assert.Equal(t, he.Result, *mr.Health)

			assert.Equal(t, id1, currentRelease(t, f.base()), "current is the release before again")
			assert.Equal(t, before, readTree(t, filepath.Join(f.base(), "current")+"/"), "byte for byte the old files")
			assert.Equal(t, []string{id1}, releaseDirs(t, f.base()), "the failed release is removed")
			assert.Equal(t, rec1, readRecord(t, f.base(), "hc-app"), "the record is the release before's")

			seen := f.seen()
			require.Len(t, seen, 5, "%q", seen)
			id2 := strings.TrimPrefix(seen[1], "deploy-finish in ")
			assert.NotEqual(t, id1, id2)
			assert.Equal(t, []string{
				"deploy-finish in " + id1,
				"deploy-finish in " + id2,
				"rollback-start " + id2 + " (failed) -> " + id1 + " in " + id1 + ", current " + id2,
				"rollback-finish " + id2 + " (failed) -> " + id1 + " in " + id1 + ", current " + id1,
				"deploy-failed (health error: true)",
			}, seen)
		})
	}
}

func TestHealthWrongStatus(t *testing.T) {
	srv := newStatusServer(t, always(200))
	f := newHealthFixture(t, false, "health = "+srv.URL+"/ready\nhealth_status = 204\nhealth_retries = 1\n")
	_, err := f.deploy(t)
	assert.EqualError(t, err, `deploy hc-app to test: health check `+srv.URL+`/ready failed after 1 try: status 200, want 204: body "answer 1: 200 /ready"`)
	assert.Equal(t, int32(1), srv.requests.Load())
	// A first deploy has no release to go back to: current is removed,
	// no rollback signal is sent.
	_, lerr := os.Lstat(filepath.Join(f.base(), "current"))
	assert.True(t, errors.Is(lerr, os.ErrNotExist), "%v", lerr)
	assert.Empty(t, releaseDirs(t, f.base()))
	id := strings.TrimPrefix(f.seen()[0], "deploy-finish in ")
	assert.Equal(t, []string{"deploy-finish in " + id, "deploy-failed (health error: true)"}, f.seen())
}

// A server that never answers: each try ends at health_timeout.
func TestHealthTimeout(t *testing.T) {
	release := make(chan struct{})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	f := newHealthFixture(t, false, "health = "+srv.URL+"/\nhealth_timeout = 50ms\nhealth_retries = 2\nhealth_interval = 0\n")
	rep, err := f.deploy(t)
	assert.EqualError(t, err, `deploy hc-app to test: health check `+srv.URL+`/ failed after 2 tries: no answer within 50ms (health_timeout): context deadline exceeded`)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	assert.Equal(t, porter.HealthTry{Exit: -1, Err: rep.Hosts[0].Modules[0].Health.Last.Err}, rep.Hosts[0].Modules[0].Health.Last)
	assert.Equal(t, int32(2), requests.Load())
}

func TestHealthTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	f := newHealthFixture(t, false, "health = tcp://"+ln.Addr().String()+"\n")
	rep, err := f.deploy(t)
	require.NoError(t, err)
	assert.Equal(t, porter.HealthResult{Check: "tcp://" + ln.Addr().String(), Passed: true, Tries: 1, Last: porter.HealthTry{Exit: -1}},
		*rep.Hosts[0].Modules[0].Health)
	assert.Equal(t, []string{ln.Addr().String()}, f.pt.Tunnels())

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := closed.Addr().String()
	closed.Close() // nothing listens there now
	f = newHealthFixture(t, false, "health = tcp://"+addr+"\nhealth_retries = 2\nhealth_interval = 1ms\n")
	_, err = f.deploy(t)
	var he *porter.HealthError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 2, he.Result.Tries)
	assert.True(t, strings.HasPrefix(err.Error(), "deploy hc-app to test: health check tcp://"+addr+" failed after 2 tries: connect to "+addr+" from "+f.address+": ssh: rejected: connect failed"), err.Error())
}

func TestHealthCommand(t *testing.T) {
	// It runs in current: the release just switched to.
	f := newHealthFixture(t, false, "health_command = cat app.py && echo warn >&2\n")
	rep, err := f.deploy(t)
	require.NoError(t, err)
	assert.Equal(t, porter.HealthTry{Exit: 0, Output: "v1\nwarn\n"}, rep.Hosts[0].Modules[0].Health.Last)

	f = newHealthFixture(t, false, "health_command = echo not ready; printf '\\033[31mred'; exit 3\nhealth_retries = 2\nhealth_interval = 0\n")
	rep, err = f.deploy(t)
	assert.EqualError(t, err, `deploy hc-app to test: health check command "echo not ready; printf '\\033[31mred'; exit 3" failed after 2 tries: exit status 3: output "not ready\n\\x1b[31mred"`)
	assert.Equal(t, porter.HealthTry{Exit: 3, Output: "not ready\n\\x1b[31mred", Err: rep.Hosts[0].Modules[0].Health.Last.Err}, rep.Hosts[0].Modules[0].Health.Last)

	// Output beyond 512 bytes is cut on the host; the command still
	// ends with its own status, not of a closed pipe.
	f = newHealthFixture(t, false, "health_command = i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; exit 2\nhealth_retries = 1\n")
	rep, err = f.deploy(t)
	require.Error(t, err)
	last := rep.Hosts[0].Modules[0].Health.Last
	assert.Equal(t, 2, last.Exit)
	assert.Len(t, last.Output, 512)
	assert.True(t, strings.HasPrefix(last.Output, "line-0\nline-1\n"), last.Output)

	f = newHealthFixture(t, false, "health_command = sleep 5\nhealth_timeout = 50ms\nhealth_retries = 1\n")
	_, err = f.deploy(t)
	assert.EqualError(t, err, `deploy hc-app to test: health check command "sleep 5" failed after 1 try: no answer within 50ms (health_timeout): context deadline exceeded`)
}

// On a rolling deploy (--batch 1) a host whose check fails goes back to
// its release before and stops the rollout: the next batch never starts.
func TestHealthFleetFailingHostStopsTheNextBatch(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && r.URL.Path == "/web2" {
			w.WriteHeader(503)
		}
		fmt.Fprint(w, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	hosts := []string{"web1", "web2", "web3"}
	fl := portertest.NewFleet(t, 3)
	local := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = hc-app\n[hosts]\nweb1 = deploy@web1\nweb2 = deploy@web2\nweb3 = deploy@web3\nproduction = web1, web2, web3\n",
		"hc-app/hc-app.ini": "[module]\npath = app\nstrategy = releases\nhealth = " + srv.URL + "/web1\nhealth-web2 = " + srv.URL + "/web2\n" +
			"health-web3 = " + srv.URL + "/web3\nhealth_retries = 2\nhealth_interval = 0\n[scm]\nurl = dir://src\n",
		"hc-app/src/app.py": "v1\n",
	})
	deploy := func() (*porter.Report, error) {
		p, err := porter.LoadProject(local)
		require.NoError(t, err)
		return porter.Deploy(context.Background(), p, porter.Options{Config: "testing", Logger: discard, Batch: 1,
			Target: porter.Target{Host: "production", Addresses: fl.Addresses(hosts...), Dial: fl.DialOptions()}})
	}
	_, err := deploy()
	require.NoError(t, err)
	base := func(i int) string { return filepath.Join(fl.Servers[i].Home(), "app") }
	v1 := currentRelease(t, base(0))
	for i := range hosts {
		assert.Equal(t, v1, currentRelease(t, base(i)))
		assert.Equal(t, []string{"127.0.0.1:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:]}, fl.Servers[i].Tunnels(), "each host checked through its own connection")
	}

	down.Store(true)
	portertest.WriteFiles(t, local, map[string]string{"hc-app/src/app.py": "v2\n"})
	rep, err := deploy()
	var he *porter.HealthError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, "web2", he.Host)
	assert.Equal(t, map[string]porter.Outcome{"web1": porter.Deployed, "web2": porter.Failed, "web3": porter.NotStarted}, hostOutcomes(rep))
	assert.Equal(t, "status 503, want 200: body \"/web2\"", rep.Host("web2").Modules[0].Health.Last.Got())
	v2 := currentRelease(t, base(0))
	assert.NotEqual(t, v1, v2)
	assert.Equal(t, "v2\n", read(t, filepath.Join(base(0), "current", "app.py")))
	assert.Equal(t, v1, currentRelease(t, base(1)), "web2 went back")
	assert.Equal(t, "v1\n", read(t, filepath.Join(base(1), "current", "app.py")))
	assert.Equal(t, v1, currentRelease(t, base(2)), "web3 never started")
	assert.Len(t, fl.Servers[2].Tunnels(), 1, "web3 was not checked again")
	assert.Equal(t, []string{"deploy-finish in " + v1, "deploy-finish in " + v2,
		"rollback-start " + v2 + " (failed) -> " + v1 + " in " + v1 + ", current " + v2,
		"rollback-finish " + v2 + " (failed) -> " + v1 + " in " + v1 + ", current " + v1,
		"deploy-failed (health error: true)"}, hcSeenOn("web2", "app"))
	assert.Equal(t, []string{"deploy-finish in " + v1}, hcSeenOn("web3", "app"))
}

// In place there is no release to go back to: a failed check is a failed
// deploy (SigDeployFailed runs, no record is written), and no rollback
// signal is sent.
func TestHealthInPlaceFails(t *testing.T) {
	srv := newStatusServer(t, always(500))
	f := newHealthFixture(t, false, "strategy-test = inplace\nhealth = "+srv.URL+"/\nhealth_retries = 1\n")
	_, err := f.deploy(t)
	assert.EqualError(t, err, `deploy hc-app to test: health check `+srv.URL+`/ failed after 1 try: status 500, want 200: body "answer 1: 500 /"`)
	assert.Equal(t, []string{"deploy-finish in app", "deploy-failed (health error: true)"}, f.seen())
	assert.NoFileExists(t, filepath.Join(f.base(), ledger.Dir, "hc-app", "state.json"), "a failed deploy writes no record")
	assert.Equal(t, "v1\n", read(t, filepath.Join(f.base(), "app.py")))
}
