package porter_test

import (
	"context"
	"errors"
	"fmt"
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

// hcSeen records, per deploy path (m.Base()), the signals the hc-app hook
// saw after the send, with where they ran and the rollback payloads.
var hcSeen sync.Map // base -> *fleetLog

func init() {
	porter.RegisterDeployment("hc-app", func(m *porter.Module) error {
		log := func(m *porter.Module, e string) {
			v, _ := hcSeen.LoadOrStore(m.Base(), &fleetLog{})
			v.(*fleetLog).add(e)
		}
		m.PushSignalHandler(porter.SigDeployFinish, func(_ context.Context, m *porter.Module, _ any) error {
			log(m, "deploy-finish in "+filepath.Base(m.Path()))
			return nil
		})
		m.PushSignalHandler(porter.SigDeployFailed, func(_ context.Context, m *porter.Module, payload any) error {
			var he *porter.HealthError
			log(m, fmt.Sprintf("deploy-failed (health error: %t)", errors.As(payload.(*porter.DeployFailed).Err, &he)))
			return nil
		})
		for _, sig := range []porter.Signal{porter.SigRollbackStart, porter.SigRollbackFinish} {
			m.PushSignalHandler(sig, func(ctx context.Context, m *porter.Module, payload any) error {
				info := payload.(*porter.RollbackInfo)
				cur, _ := os.Readlink(filepath.Join(m.Base(), "current"))
				log(m, fmt.Sprintf("%s %s (%s) -> %s in %s, current %s", sig, info.From.ID, info.From.State, info.To.ID, filepath.Base(m.Path()), filepath.Base(cur)))
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

func (f *healthFixture) seen() []string {
	v, ok := hcSeen.Load(f.base())
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
