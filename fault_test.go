package porter_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// faultPlans holds, by module base path, what the "fm" module's hook does
// at each signal of the deploy under test.
var faultPlans sync.Map // base path -> *faultPlan

type faultPlan struct {
	failAt porter.Signal // the handler fails here
	cutAt  porter.Signal // the connection is cut here (cut)
	cut    func()
	undone []porter.Signal // SigDeployFailed seen
	mu     sync.Mutex
}

// The "fm" module's service is a stand-in (the real ones are tested with
// their plugins: supervisor, crontab): a state file beside the module's
// path on the host, which the hook writes through the connection as a
// plugin would run `supervisorctl stop` and `start`: "stopped" at
// deploy-start, "running" at deploy-finish and deploy-failed. The same
// handlers are in testdata/faultdeploy.
func serviceFile(m *porter.Module) string { return path.Dir(m.Base()) + "/service.state" }

func setService(ctx context.Context, m *porter.Module, state string) error {
	_, err := m.Host().Run(ctx, "printf %s "+state+" > "+remote.Quote(serviceFile(m)))
	return err
}

func init() {
	sigs := []porter.Signal{porter.SigDeployStart, porter.SigSourcePreSend, porter.SigSourceSend, porter.SigSourcePostSend, porter.SigDeployFinish}
	porter.RegisterDeployment("fm", func(m *porter.Module) error {
		m.PushSignalHandler(porter.SigDeployStart, func(ctx context.Context, m *porter.Module, _ any) error {
			return setService(ctx, m, "stopped")
		})
		for _, sig := range sigs {
			m.PushSignalHandler(sig, func(ctx context.Context, m *porter.Module, _ any) error {
				v, ok := faultPlans.Load(m.Base())
				if !ok {
					return nil
				}
				fp := v.(*faultPlan)
				switch sig {
				case fp.failAt:
					return fmt.Errorf("injected failure")
				case fp.cutAt:
					fp.cut()
					// What a plugin does next on the host fails.
					_, err := m.Host().Run(ctx, "true")
					return err
				}
				return nil
			})
		}
		m.PushSignalHandler(porter.SigDeployFinish, func(ctx context.Context, m *porter.Module, _ any) error {
			return setService(ctx, m, "running")
		})
		m.PushSignalHandler(porter.SigDeployFailed, func(ctx context.Context, m *porter.Module, _ any) error {
			if v, ok := faultPlans.Load(m.Base()); ok {
				fp := v.(*faultPlan)
				fp.mu.Lock()
				fp.undone = append(fp.undone, porter.SigDeployFailed)
				fp.mu.Unlock()
			}
			return nil
		})
		m.PushSignalHandler(porter.SigDeployFailed, func(ctx context.Context, m *porter.Module, _ any) error {
			return setService(ctx, m, "running")
		})
		return nil
	})
}

// faultTree writes version v of a 2 MB tree (64 files of 32 KiB, content
// that does not compress) under dir.
func faultTree(t *testing.T, dir string, v int) {
	t.Helper()
	r := rand.New(rand.NewSource(int64(v)))
	buf := make([]byte, 32<<10)
	for i := range 64 {
		r.Read(buf)
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%4), fmt.Sprintf("f%02d.bin", i))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, buf, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "VERSION"), []byte(fmt.Sprint(v)), 0o644))
}

const faultChangeBytes = 64 * 32 << 10

type faultCase struct {
	name string
	// arm injects the fault before the second deploy; it may return a
	// reason to skip.
	arm func(t *testing.T, fx *faultFixture, fp *faultPlan) string
	// step is the step the error must name.
	step string
	// sent: the fault comes after the whole source was sent.
	sent bool
	// deploy, when set, runs the faulty deploy itself and returns its
	// error's text (the deploy program's last line of stderr).
	deploy func(t *testing.T, fx *faultFixture) string
}

type faultFixture struct {
	srv         *portertest.Server
	address     string
	dial        []remote.Option
	local       string
	base        string
	strategy    string
	cutAfter    func(n int64) // cuts the connection after n more bytes from the client
	restore     func()        // undoes the fault before the re-run, if it lasts
	restoreWhat string        // what restore does, for the matrix
	sshd        *sshdtest.Server
	proxy       *cutProxy
}

// live is the tree that runs: current with releases, the path in place
// (without porter's state).
func (fx *faultFixture) live() string {
	if fx.strategy == "releases" {
		return filepath.Join(fx.base, "current") + "/" // what the link points to
	}
	return fx.base
}

func (fx *faultFixture) deploy(t *testing.T) error {
	t.Helper()
	p, err := porter.LoadProject(fx.local)
	require.NoError(t, err)
	_, err = porter.Deploy(context.Background(), p, porter.Options{Target: porter.Target{Host: "test", Address: fx.address, Dial: fx.dial}, Config: "testing"})
	return err
}

// newFaultFixture makes the project and its server; with smallDisk, the
// module's path is on a 3 MiB file system (portertest.WithSmallDisk):
// version 1 fits, versions 1 and 2 do not.
func newFaultFixture(t *testing.T, strategy string, smallDisk bool) *faultFixture {
	t.Helper()
	var opts []portertest.ServerOption
	if smallDisk {
		opts = append(opts, portertest.WithSmallDisk(3<<20))
	}
	fx := &faultFixture{srv: portertest.NewServer(t, opts...), local: t.TempDir(), strategy: strategy}
	remoteDir := fx.srv.Disk()
	if remoteDir == "" {
		remoteDir = t.TempDir()
	}
	fx.base = filepath.Join(remoteDir, "app")
	fx.address, fx.dial, fx.cutAfter = fx.srv.Address(), fx.srv.DialOptions(), fx.srv.CutAfter
	portertest.WriteFiles(t, fx.local, map[string]string{
		"project.ini": "[project]\ndepends = fm\n[hosts]\ntest = x@y\n",
		"fm/fm.ini":   "[module]\npath = " + fx.base + "\nstrategy = " + strategy + "\n[scm]\nurl = dir://src\n",
	})
	faultTree(t, filepath.Join(fx.local, "fm", "src"), 1)
	return fx
}

var sshdLog func(*testing.T) string

var faultCases = []faultCase{
	{name: "fail at deploy-start", step: "deploy-start", arm: failAt(porter.SigDeployStart)},
	{name: "fail at source-pre-send", step: "source-pre-send", arm: failAt(porter.SigSourcePreSend)},
	{name: "fail at source-send", step: "source-send", sent: true, arm: failAt(porter.SigSourceSend)},
	{name: "fail at source-post-send", step: "source-post-send", sent: true, arm: failAt(porter.SigSourcePostSend)},
	{name: "fail at deploy-finish", step: "deploy-finish", sent: true, arm: failAt(porter.SigDeployFinish)},
	{name: "cut at 10% of the transfer", step: "source-send", arm: cutAt(0.1)},
	{name: "cut at 50% of the transfer", step: "source-send", arm: cutAt(0.5)},
	{name: "cut at 90% of the transfer", step: "source-send", arm: cutAt(0.9)},
	{name: "cut at source-post-send", step: "source-post-send", sent: true, arm: func(t *testing.T, fx *faultFixture, fp *faultPlan) string {
		fp.cutAt, fp.cut = porter.SigSourcePostSend, fx.srv.Cut
		return ""
	}},
	{name: "disk full", step: "source-send", arm: nil}, // see runFaultCase
	{name: "no write permission", step: "source-send", arm: func(t *testing.T, fx *faultFixture, fp *faultPlan) string {
		dir := fx.live()
		if fx.strategy == "releases" {
			dir = filepath.Join(fx.base, "releases")
		}
		dir, _ = filepath.EvalSymlinks(dir)
		if os.Geteuid() == 0 {
			// Root writes whatever the modes say: the directory is made
			// immutable instead (the plain-user run of .ci/run takes the
			// modes away).
			if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
				return fmt.Sprintf("root writes whatever the modes say, and chattr +i failed here (%v: %s): the plain-user run of .ci/run covers it", err, out)
			}
			undo := func() error { return exec.Command("chattr", "-i", dir).Run() }
			t.Cleanup(func() { undo() })
			fx.restore, fx.restoreWhat = func() { require.NoError(t, undo()) }, "re-run once writable again (root: chattr -i)"
			return ""
		}
		require.NoError(t, os.Chmod(dir, 0o555))
		fx.restore, fx.restoreWhat = func() { require.NoError(t, os.Chmod(dir, 0o755)) }, "re-run once writable again"
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return ""
	}},
}

// opensshCases run against a real sshd, through a TCP proxy.
var opensshCases = []faultCase{
	{name: "cut at 10% of the transfer", step: "source-send", arm: cutAt(0.1)},
	{name: "cut at 50% of the transfer", step: "source-send", arm: cutAt(0.5)},
	{name: "cut at 90% of the transfer", step: "source-send", arm: cutAt(0.9)},
	{name: "sshd's session processes killed at 50% of the transfer", step: "source-send", arm: func(t *testing.T, fx *faultFixture, fp *faultPlan) string {
		fx.proxy.At(faultChangeBytes/2, func() { require.NoError(t, fx.sshd.KillSessions()) })
		return ""
	}},
	{name: "sshd killed (listener and sessions) at 50% of the transfer", step: "source-send", arm: func(t *testing.T, fx *faultFixture, fp *faultPlan) string {
		killed := make(chan struct{}) // the kill runs in the proxy's goroutine
		fx.proxy.At(faultChangeBytes/2, func() { assert.NoError(t, fx.sshd.Kill()); close(killed) })
		fx.restore, fx.restoreWhat = func() {
			select {
			case <-killed:
			case <-time.After(time.Minute):
				t.Fatal("the proxy never killed sshd")
			}
			require.NoError(t, fx.sshd.Restart())
		}, "re-run once sshd is back"
		return ""
	}},
	{name: "sshd's session processes killed at source-post-send", step: "source-post-send", sent: true, arm: func(t *testing.T, fx *faultFixture, fp *faultPlan) string {
		fp.cutAt, fp.cut = porter.SigSourcePostSend, func() { require.NoError(t, fx.sshd.KillSessions()) }
		return ""
	}},
}

func failAt(sig porter.Signal) func(*testing.T, *faultFixture, *faultPlan) string {
	return func(t *testing.T, fx *faultFixture, fp *faultPlan) string {
		fp.failAt = sig
		return ""
	}
}

func cutAt(frac float64) func(*testing.T, *faultFixture, *faultPlan) string {
	return func(t *testing.T, fx *faultFixture, fp *faultPlan) string {
		fx.cutAfter(int64(frac * faultChangeBytes))
		return ""
	}
}

// TestFaultMatrix deploys version 1, then version 2 with a fault, then
// version 2 again without it, for each fault and strategy. After the
// fault: an error of one line naming the host, the module and the step;
// the live tree as before (in place, a fault after the send leaves the
// new tree whole: in-place deploys cannot undo a send); the record
// unchanged; no temporary files; the undo handlers ran. The re-run must
// succeed with no unlock or clean-up. The matrix is printed at the end.
func TestFaultMatrix(t *testing.T) {
	var mu sync.Mutex
	var rows []string
	for _, strategy := range []string{"inplace", "releases"} {
		for _, tc := range faultCases {
			t.Run(strategy+"/"+tc.name, func(t *testing.T) {
				outcome := runFaultCase(t, strategy, tc, "portertest")
				mu.Lock()
				rows = append(rows, fmt.Sprintf("| %s | %s | portertest | %s |", tc.name, strategy, outcome))
				mu.Unlock()
			})
		}
		for _, tc := range signalCases() {
			t.Run(strategy+"/"+tc.name, func(t *testing.T) {
				outcome := runFaultCase(t, strategy, tc, "portertest")
				mu.Lock()
				rows = append(rows, fmt.Sprintf("| %s | %s | portertest, the deploy program built from porter.Main | %s |", tc.name, strategy, outcome))
				mu.Unlock()
			})
		}
		for _, tc := range opensshCases {
			t.Run(strategy+"/openssh/"+tc.name, func(t *testing.T) {
				outcome := runFaultCase(t, strategy, tc, "openssh")
				mu.Lock()
				rows = append(rows, fmt.Sprintf("| %s | %s | OpenSSH through a TCP proxy | %s |", tc.name, strategy, outcome))
				mu.Unlock()
			})
		}
	}
	sort.Strings(rows)
	t.Logf("fault matrix:\n| fault | strategy | server | outcome |\n| --- | --- | --- | --- |\n%s", strings.Join(rows, "\n"))
}

func runFaultCase(t *testing.T, strategy string, tc faultCase, server string) (outcome string) {
	fx := newFaultFixture(t, strategy, tc.name == "disk full")
	// What the host has, read from here (through the small disk's
	// namespace when it has one).
	on := fx.srv.Local
	if server == "openssh" {
		sshd := sshdtest.Start(t)
		proxy := newCutProxy(t, sshd.Addr())
		known := filepath.Join(t.TempDir(), "known_hosts")
		require.NoError(t, os.WriteFile(known, []byte(knownhosts.Line([]string{knownhosts.Normalize(proxy.Addr())}, sshd.HostKey())+"\n"), 0o600))
		fx.address = sshd.User() + "@" + proxy.Addr()
		fx.dial = portertest.TrustOnly(known, sshd.IdentityFile())
		fx.cutAfter = proxy.CutAfter
		fx.sshd, fx.proxy = sshd, proxy
		sshdLog = func(*testing.T) string { return sshd.Log() }
	}
	if err := fx.deploy(t); err != nil {
		if server == "openssh" {
			t.Log(sshdLog(t))
		}
		require.NoError(t, err, "version 1")
	}
	before := treeOf(t, on(fx.live()), nil)
	recBefore := readRecord(t, on(fx.base), "fm")

	faultTree(t, filepath.Join(fx.local, "fm", "src"), 2)
	fp := &faultPlan{}
	if tc.arm != nil {
		if why := tc.arm(t, fx, fp); why != "" {
			t.Skip(why)
		}
	}
	faultPlans.Store(fx.base, fp)
	var msg string
	if tc.deploy != nil {
		msg = tc.deploy(t, fx)
	} else {
		err := fx.deploy(t)
		require.Error(t, err, "the fault must fail the deploy")
		msg = err.Error()
	}
	faultPlans.Delete(fx.base)
	fx.srv.ClearFaults()
	t.Logf("the error: %s", msg)
	assert.NotContains(t, msg, "\n", "one line")
	step := tc.step + ": "
	if (tc.name == "disk full" || tc.name == "no write permission") && strategy == "releases" {
		step = "deploy: make release " // the seed copy cannot be written
	}
	assert.Contains(t, msg, "deploy fm to test: "+step, "names host, module and step")

	// In place, a staging directory a cut left at the top of the tree is
	// not part of it: the sync never sends, lists or reports it, and the
	// next deploy removes it (checked after the re-run).
	after := treeOf(t, on(fx.live()), regexp.MustCompile(`^\.porter-tmp-[0-9a-f]+/`))
	switch {
	case strategy == "inplace" && tc.sent:
		outcome = "error naming the step; the new tree whole (in place cannot undo a send); record unchanged"
		assert.Equal(t, "2", read(t, on(filepath.Join(fx.live(), "VERSION"))))
	default:
		outcome = "error naming the step; live tree as before; record unchanged"
		assert.Empty(t, treeDiff(before, after), "the live tree byte for byte as before")
	}
	assert.Equal(t, recBefore, readRecord(t, on(fx.base), "fm"), "the record is unchanged")
	service := on(filepath.Join(filepath.Dir(fx.base), "service.state"))
	lost := strings.HasPrefix(tc.name, "cut") || strings.Contains(tc.name, "killed")
	if lost {
		// The undo handlers could not reach the host: the service stays
		// stopped until the re-run starts it.
		assert.Equal(t, "stopped", read(t, service))
		outcome += "; service stopped until the re-run (no connection to start it)"
	} else {
		assert.Equal(t, "running", read(t, service), "the undo handlers started the service again")
		outcome += "; service running"
	}
	defer func() { assert.Equal(t, "running", read(t, service), "the re-run leaves the service running") }()
	if lost {
		// The connection is gone: what the deploy staged stays until the
		// next deploy removes it (in place, the staging directory at the
		// top of the tree, which the sync never sends, lists or reports).
		if strategy == "releases" {
			assert.Empty(t, findTemps(t, on(fx.live())), "no temporary files in the live tree")
		} else if len(findTemps(t, on(fx.base))) > 0 {
			outcome += "; the staging directory left for the next deploy to remove"
		}
		defer func() { assert.Empty(t, findTemps(t, on(fx.base)), "the re-run removed what the cut deploy left") }()
	} else {
		assert.Empty(t, findTemps(t, on(fx.base)), "no temporary files")
	}
	if tc.deploy == nil && !strings.HasPrefix(tc.name, "cut") && tc.name != "disk full" {
		fp.mu.Lock()
		assert.Equal(t, []porter.Signal{porter.SigDeployFailed}, fp.undone, "the undo handlers ran")
		fp.mu.Unlock()
	}

	// A plain re-run succeeds: no unlock, no clean-up.
	if tc.name == "disk full" {
		outcome += "; re-run once the disk is larger"
		return outcome + "; " + rerun(t, fx, func() { require.NoError(t, fx.srv.ResizeDisk(16<<20)) })
	}
	if fx.restore != nil {
		outcome += "; " + fx.restoreWhat
	}
	return outcome + "; " + rerun(t, fx, fx.restore)
}

func rerun(t *testing.T, fx *faultFixture, prepare func()) string {
	t.Helper()
	if prepare != nil {
		prepare()
	}
	require.NoError(t, fx.deploy(t), "a plain re-run")
	assert.Equal(t, treeOf(t, filepath.Join(fx.local, "fm", "src"), nil), treeOf(t, fx.srv.Local(fx.live()), nil))
	return "re-run deploys"
}

// cutProxy forwards TCP connections to target and can cut them all once
// the client has sent a number of bytes.
type cutProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	remaining int64  // bytes before fn; 0: not armed
	fn        func() // what happens then (cut)
	conns     []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { p.copy(u, c); c.Close(); u.Close() }()
			go func() { io.Copy(c, u); c.Close(); u.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

// CutAfter cuts every connection once clients have sent n more bytes.
func (p *cutProxy) CutAfter(n int64) { p.At(n, p.cut) }

// At calls fn once clients have sent n more bytes (the bytes up to there
// are forwarded first).
func (p *cutProxy) At(n int64, fn func()) {
	p.mu.Lock()
	p.remaining, p.fn = n, fn
	p.mu.Unlock()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// copy copies what the client sends, counting it against the cut.
func (p *cutProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			var fn func()
			rest := 0
			if p.remaining > 0 {
				if int64(n) >= p.remaining {
					rest, n = n-int(p.remaining), int(p.remaining)
					fn, p.remaining, p.fn = p.fn, 0, nil
				} else {
					p.remaining -= int64(n)
				}
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			if fn != nil {
				fn()
				if _, werr := dst.Write(buf[n : n+rest]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}

// treeDiff lists the paths where two trees of treeOf differ.
func treeDiff(a, b map[string]string) []string {
	var out []string
	for p, v := range a {
		if w, ok := b[p]; !ok {
			out = append(out, "gone: "+p)
		} else if v != w {
			out = append(out, "changed: "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, "new: "+p)
		}
	}
	sort.Strings(out)
	return out
}

var buildFaultDeploy = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "faultdeploy")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "faultdeploy")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/faultdeploy").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	return bin, nil
})

// signalCases send the deploy program SIGINT or SIGTERM in the middle of
// the transfer (the server pauses reading half-way through it) or while a
// source-post-send handler runs.
func signalCases() []faultCase {
	var out []faultCase
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, during := range []string{"transfer", "source-post-send"} {
			name := fmt.Sprintf("%s during the %s", strings.ToUpper(unix(sig)), during)
			step, sent := "source-send", false
			if during != "transfer" {
				step, sent = during, true
			}
			out = append(out, faultCase{name: name, step: step, sent: sent, deploy: func(t *testing.T, fx *faultFixture) string {
				return signalDeploy(t, fx, sig, during)
			}})
		}
	}
	return out
}

func unix(sig syscall.Signal) string {
	if sig == syscall.SIGINT {
		return "sigint"
	}
	return "sigterm"
}

// signalDeploy runs the deploy program and sends it sig at the moment
// named; it returns the program's last line of stderr.
func signalDeploy(t *testing.T, fx *faultFixture, sig syscall.Signal, during string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a deploy program")
	}
	bin, err := buildFaultDeploy()
	require.NoError(t, err)
	home := t.TempDir()
	host, port, _ := strings.Cut(fx.srv.Addr(), ":")
	known, err := os.ReadFile(fx.srv.KnownHostsFile())
	require.NoError(t, err)
	writeInteropHome(t, home, "Host fault-host\n  HostName "+host+"\n  Port "+port+"\n  User "+fx.srv.User()+
		"\n  IdentityFile "+fx.srv.IdentityFile()+"\n", string(known), nil)
	ini := filepath.Join(fx.local, "project.ini")
	require.NoError(t, os.WriteFile(ini, []byte("[project]\ndepends = fm\n[hosts]\ntest = fault-host\n"), 0o644))

	var paused <-chan struct{}
	if during == "transfer" {
		paused = fx.srv.PauseAfter(faultChangeBytes / 2)
	}
	cmd := exec.Command(bin, "--project", fx.local, "deploy", "--host", "test", "--config", "testing")
	cmd.Env = append(os.Environ(), "HOME="+home, "SSH_AUTH_SOCK=")
	if during != "transfer" {
		cmd.Env = append(cmd.Env, "PORTER_FAULT_WAIT="+during)
	}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	out := bufio.NewScanner(stdout)
	if during == "transfer" {
		go io.Copy(io.Discard, stdout)
		select {
		case <-paused:
		case <-time.After(60 * time.Second): // a guard: the pause comes much sooner
			cmd.Process.Kill()
			t.Fatalf("the transfer never reached half-way: %s", stderr.String())
		}
		require.NoError(t, cmd.Process.Signal(sig))
		fx.srv.Resume()
	} else {
		reached := false
		for out.Scan() {
			if out.Text() == "REACHED "+during {
				reached = true
				break
			}
		}
		require.True(t, reached, "the hook never ran: %s", stderr.String())
		require.NoError(t, cmd.Process.Signal(sig))
		go io.Copy(io.Discard, stdout)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "the deploy program must fail: %s", stderr.String())
	assert.NotZero(t, ee.ExitCode())
	want := map[syscall.Signal]string{syscall.SIGINT: "(stopped: interrupt signal received)", syscall.SIGTERM: "(stopped: terminated signal received)"}[sig]
	assert.True(t, strings.HasSuffix(strings.TrimSpace(stderr.String()), want), "the program says what stopped it: %s", stderr.String())
	last := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
	return last[len(last)-1]
}

// syncBuffer is a strings.Builder that a process writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
