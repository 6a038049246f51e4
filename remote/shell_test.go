package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/sshdtest"
	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/remote"
)

// server is portertest or a real OpenSSH sshd.
type server struct {
	name string
	addr string // the address dial dials
	dial func(t *testing.T, opts ...remote.Option) *remote.Host
	pt   *portertest.Server // nil for OpenSSH
}

// servers runs f against portertest and against OpenSSH (when installed).
func servers(t *testing.T, f func(t *testing.T, s server)) {
	t.Run("portertest", func(t *testing.T) {
		srv := portertest.NewServer(t)
		f(t, server{name: "portertest", addr: srv.Address(), pt: srv, dial: func(t *testing.T, opts ...remote.Option) *remote.Host { return srv.Dial(t, opts...) }})
	})
	t.Run("openssh", func(t *testing.T) {
		srv := sshdtest.Start(t)
		f(t, server{name: "openssh", addr: srv.Address(), dial: func(t *testing.T, opts ...remote.Option) *remote.Host { return srv.Dial(t, opts...) }})
	})
}

// result is what a Run returned, in comparable form.
type result struct {
	Stdout, Stderr []byte
	Status         int
	Signal         string
	ErrStderr      string
	Err            string
}

func runResult(t *testing.T, s server, h *remote.Host, cmd string) result {
	t.Helper()
	out, err := h.Run(context.Background(), cmd)
	r := result{Stdout: out.Stdout, Stderr: out.Stderr}
	// nil or empty: a session's buffers are either, depending on timing.
	if len(r.Stdout) == 0 {
		r.Stdout = nil
	}
	if len(r.Stderr) == 0 {
		r.Stderr = nil
	}
	var ee *remote.ExitError
	switch {
	case errors.As(err, &ee):
		r.Status, r.Signal, r.ErrStderr, r.Err = ee.Status, ee.Signal, ee.Stderr, ee.Error()
		assert.Equal(t, cmd, ee.Cmd)
		assert.Equal(t, s.addr, ee.Host)
	case err != nil:
		t.Fatalf("run %q: %v", cmd, err)
	}
	return r
}

func TestSharedShellSameAsSession(t *testing.T) {
	big := 1<<20 + 12345
	cases := []struct {
		name, cmd string
		want      *result // checked on top of shared == session
	}{
		{"quotes", `printf '%s|' "it's" 'say "hi"' "back\\slash"; echo`,
			&result{Stdout: []byte(`it's|say "hi"|back\slash|` + "\n")}},
		{"newlines", "echo a\necho b\n\n", &result{Stdout: []byte("a\nb\n")}},
		{"command substitution", `echo "$(echo sub) $((1+2))" ` + "`echo tick`", &result{Stdout: []byte("sub 3 tick\n")}},
		{"heredoc", "cat <<'EOF'\n$HOME 'x' \"y\"\nEOF\n", &result{Stdout: []byte("$HOME 'x' \"y\"\n")}},
		{"no trailing newline", "printf abc; printf xyz >&2", &result{Stdout: []byte("abc"), Stderr: []byte("xyz")}},
		{"binary bytes", `printf '\000\001\377\n\r\000'; printf '\000' >&2`,
			&result{Stdout: []byte("\x00\x01\xff\n\r\x00"), Stderr: []byte{0}}},
		{"stdin is empty", `cat; read x; echo "read $?"`, &result{Stdout: []byte("read 1\n")}},
		{"empty command", "", &result{}},
		{"only blanks", " \n\t", &result{}},
		{"exit status", "echo partial; echo oops >&2; exit 3",
			&result{Stdout: []byte("partial\n"), Stderr: []byte("oops\n"), Status: 3, ErrStderr: "oops\n"}},
		{"exit 255", "exit 255", &result{Status: 255}},
		{"killed by a signal", "kill -TERM $$", &result{Status: 143, Signal: "TERM"}},
		{"killed by SIGKILL", "echo before; kill -KILL $$", &result{Stdout: []byte("before\n"), Status: 137, Signal: "KILL"}},
		{"large output on both streams", fmt.Sprintf("head -c %d /dev/zero | tr '\\0' o; head -c %d /dev/zero | tr '\\0' e >&2; exit 1", big, big+7),
			&result{Stdout: bytes.Repeat([]byte("o"), big), Stderr: bytes.Repeat([]byte("e"), big+7), Status: 1, ErrStderr: strings.Repeat("e", big+7)}},
		{"many short lines", "i=0; while [ $i -lt 2000 ]; do echo $i; echo $i >&2; i=$((i+1)); done", nil},
		{"protocol-looking output", `printf '0 5 5\nlost\nporter-shell 1 /tmp\n'; printf '12\n' >&2`,
			&result{Stdout: []byte("0 5 5\nlost\nporter-shell 1 /tmp\n"), Stderr: []byte("12\n")}},
		{"reads its own protocol", `head -c 3; echo "$?"`, &result{Stdout: []byte("0\n")}},
		{"environment", `echo "$HOME|$USER|$PWD"`, nil},
	}
	servers(t, func(t *testing.T, s server) {
		shared := s.dial(t)
		session := s.dial(t, remote.WithoutSharedShell())
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := runResult(t, s, shared, c.cmd)
				want := runResult(t, s, session, c.cmd)
				assert.Equal(t, want, got, "shared shell vs a session")
				if c.want != nil {
					exp := *c.want
					exp.Err = got.Err
					if exp.Status != 0 {
						assert.NotEmpty(t, got.Err)
					}
					assert.Equal(t, exp, got)
				}
			})
		}
		if s.pt != nil {
			assert.Len(t, s.pt.Commands(), 2*len(cases), "every command listed, through the shared shell or not")
			assert.Len(t, s.pt.Execs(), len(cases)+1, "one exec per command without the shared shell, one for the shared shell")
		}
	})
}

func TestSharedShellErrorMessages(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	_, err := h.Run(context.Background(), "echo partial; echo 'no such thing' >&2; exit 3")
	assert.Equal(t, fmt.Sprintf(`run "echo partial; echo 'no such thing' >&2; exit 3" on %s: exit status 3: no such thing`, srv.Address()), err.Error())
	_, err = h.Run(context.Background(), "kill -KILL $$")
	assert.Contains(t, err.Error(), "killed by signal KILL")
}

func TestSharedShellEnvIsolation(t *testing.T) {
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		ctx := context.Background()
		before, err := h.Run(ctx, `pwd; echo "${PORTER_X-unset} ${y-unset}"; umask; ulimit -n; alias; echo "$-"`)
		require.NoError(t, err)
		_, err = h.Run(ctx, `cd /; export PORTER_X=leak; y=leak; umask 0777; ulimit -n 64; alias ll=ls; set -u; f() { :; }; exec 3>/dev/null`)
		require.NoError(t, err)
		after, err := h.Run(ctx, `pwd; echo "${PORTER_X-unset} ${y-unset}"; umask; ulimit -n; alias; echo "$-"`)
		require.NoError(t, err)
		assert.Equal(t, string(before.Stdout), string(after.Stdout))
		assert.Contains(t, string(after.Stdout), "unset unset\n")
		_, err = h.Run(ctx, "f")
		require.Error(t, err, "a function does not carry over")
		if s.pt != nil {
			assert.Equal(t, s.pt.Home()+"\n", strings.SplitAfter(string(after.Stdout), "\n")[0])
		}
	})
}

func TestSharedShellOneSession(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	var want []string
	for i := range 30 {
		cmd := fmt.Sprintf("echo %d", i)
		out, err := h.Run(context.Background(), cmd)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%d\n", i), string(out.Stdout))
		want = append(want, cmd)
	}
	assert.Equal(t, want, srv.Commands(), "each command listed, in order")
	assert.Equal(t, []string{remote.Bootstrap}, srv.Execs(), "one session for them all")
}

func TestSharedShellConcurrent(t *testing.T) {
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		const n = 40
		var wg sync.WaitGroup
		errs := make([]error, n)
		outs := make([]remote.Output, n)
		for i := range n {
			wg.Go(func() {
				outs[i], errs[i] = h.Run(context.Background(), fmt.Sprintf("echo out %d; echo err %d >&2; exit %d", i, i, i%3))
			})
		}
		wg.Wait()
		for i := range n {
			assert.Equal(t, fmt.Sprintf("out %d\n", i), string(outs[i].Stdout))
			assert.Equal(t, fmt.Sprintf("err %d\n", i), string(outs[i].Stderr))
			if i%3 == 0 {
				assert.NoError(t, errs[i])
			} else {
				var ee *remote.ExitError
				require.ErrorAs(t, errs[i], &ee)
				assert.Equal(t, i%3, ee.Status)
			}
		}
		assert.LessOrEqual(t, len(remote.ShellDirs(h)), 4, "at most 4 shared shells")
		if s.pt != nil {
			assert.Len(t, s.pt.Commands(), n)
			assert.LessOrEqual(t, len(s.pt.Execs()), 4)
		}
	})
}

func TestSharedShellCancel(t *testing.T) {
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		ctx := context.Background()
		_, err := h.Run(ctx, "true")
		require.NoError(t, err)
		dirs := remote.ShellDirs(h)
		require.Len(t, dirs, 1)
		pidFile := filepath.Join(t.TempDir(), "pid")
		cctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() {
			_, err := h.Run(cctx, "sh -c 'echo $$ > "+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile+"; exec sleep 30'; echo late")
			errc <- err
		}()
		require.Eventually(t, func() bool { _, err := os.Stat(pidFile); return err == nil }, 10*time.Second, 5*time.Millisecond)
		start := time.Now()
		cancel()
		err = <-errc
		require.ErrorIs(t, err, context.Canceled)
		assert.Less(t, time.Since(start), 5*time.Second)

		b, err := os.ReadFile(pidFile)
		require.NoError(t, err)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		require.NoError(t, err)
		assert.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 5*time.Millisecond,
			"the command (and its children) are killed")

		out, err := h.Run(ctx, "echo ok")
		require.NoError(t, err)
		assert.Equal(t, "ok\n", string(out.Stdout))
		assert.NoDirExists(t, dirs[0], "the killed shell's temp dir is removed by the next one")
		assert.NotEqual(t, dirs, remote.ShellDirs(h))
	})
}

func TestSharedShellClose(t *testing.T) {
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				_, err := h.Run(context.Background(), "echo x")
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		dirs := remote.ShellDirs(h)
		require.NotEmpty(t, dirs)
		for _, d := range dirs {
			require.DirExists(t, d)
		}
		require.NoError(t, h.Close())
		for _, d := range dirs {
			assert.NoDirExists(t, d, "Close stops the shells, which remove their temp dirs")
		}
		_, err := h.Run(context.Background(), "echo after close")
		require.Error(t, err)
	})
}

func TestSharedShellCloseAfterCancel(t *testing.T) {
	// A shell killed by a cancel: its watcher removes its temp dir when it
	// sees the session end, on its own time (not before Run returns, and
	// not waited for by Close).
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	marker := filepath.Join(t.TempDir(), "started")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx, "touch "+remote.Quote(marker)+"; sleep 30")
		errc <- err
	}()
	require.Eventually(t, func() bool { _, err := os.Stat(marker); return err == nil }, 10*time.Second, 5*time.Millisecond)
	killed := remote.ShellDirs(h)
	require.Len(t, killed, 1)
	_, err := h.Run(context.Background(), "true") // on a second shell
	require.NoError(t, err)
	require.Len(t, remote.ShellDirs(h), 2)
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	require.NoError(t, h.Close())
	// The host removes it once the killed shell's watcher sees the end of
	// its input, which Close does not wait for (it is the server's side).
	assert.Eventually(t, func() bool { _, err := os.Stat(killed[0]); return os.IsNotExist(err) }, 10*time.Second, 5*time.Millisecond)
}

func TestSharedShellTempDirRemoved(t *testing.T) {
	// A command that removes the shell's temp dir: reported, and the next
	// Run gets a new shell.
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	_, err := h.Run(context.Background(), "true")
	require.NoError(t, err)
	dirs := remote.ShellDirs(h)
	require.Len(t, dirs, 1)
	_, err = h.Run(context.Background(), "rm -rf "+remote.Quote(dirs[0]))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "temporary directory")
	out, err := h.Run(context.Background(), "echo again")
	require.NoError(t, err)
	assert.Equal(t, "again\n", string(out.Stdout))
}

func TestSharedShellKillsItself(t *testing.T) {
	// kill 0 takes the shared shell down with the command: reported as the
	// signal, as with a session of its own.
	servers(t, func(t *testing.T, s server) {
		h := s.dial(t)
		_, err := h.Run(context.Background(), "kill -TERM 0")
		var ee *remote.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, "TERM", ee.Signal)
		out, err := h.Run(context.Background(), "echo next")
		require.NoError(t, err)
		assert.Equal(t, "next\n", string(out.Stdout))
	})
}

func TestWithoutSharedShell(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t, remote.WithoutSharedShell())
	for i := range 3 {
		_, err := h.Run(context.Background(), fmt.Sprintf("echo %d", i))
		require.NoError(t, err)
	}
	assert.Equal(t, []string{remote.Bootstrap, remote.Bootstrap, remote.Bootstrap}, srv.Execs(), "a shell per command")
	assert.Equal(t, []string{"echo 0", "echo 1", "echo 2"}, srv.Commands())
}

func TestSharedShellBashrcNotRead(t *testing.T) {
	// On OpenSSH, a bash login shell reads ~/.bashrc for every exec session;
	// the commands of the shared shell must not (that is the point).
	srv := sshdtest.Start(t)
	shared := srv.Dial(t)
	session := srv.Dial(t, remote.WithoutSharedShell())
	const probe = `case $0 in *bash) echo "bash $SHLVL" ;; *) echo "not bash" ;; esac`
	out, err := session.Run(context.Background(), probe)
	require.NoError(t, err)
	if string(out.Stdout) != "bash 1\n" {
		t.Skipf("login shell is not bash (%q)", out.Stdout)
	}
	out, err = shared.Run(context.Background(), probe)
	require.NoError(t, err)
	assert.Equal(t, "bash 2\n", string(out.Stdout), "bash knows it is not sshd's child")
	// This host's ~/.bashrc may define functions (pyenv init does): then
	// a session sees them, the shared shell's commands must not.
	const fns = `declare -F | wc -l`
	a, err := session.Run(context.Background(), fns)
	require.NoError(t, err)
	b, err := shared.Run(context.Background(), fns)
	require.NoError(t, err)
	assert.Equal(t, "0", strings.TrimSpace(string(b.Stdout)), "no ~/.bashrc function in the shared shell's commands")
	if strings.TrimSpace(string(a.Stdout)) == "0" {
		t.Log("~/.bashrc defines no function here: only SHLVL proves it is not read")
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// BenchmarkRunOpenSSH measures one Run against a real sshd: a session per
// command against the shared shell, and for parallel Runs one shared shell
// (serialized) against the pool.
//
//	go test -run XXX -bench RunOpenSSH ./remote
func BenchmarkRunOpenSSH(b *testing.B) {
	srv := sshdtest.Start(b)
	const cmd = "echo hello"
	for _, c := range []struct {
		name   string
		opts   []remote.Option
		shells int
	}{
		{"session", []remote.Option{remote.WithoutSharedShell()}, 0},
		{"shared", nil, 4},
		{"shared-1", nil, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := srv.Dial(b, c.opts...)
			if c.shells > 0 {
				remote.SetMaxShells(h, c.shells)
			}
			_, err := h.Run(context.Background(), "true") // start-up aside
			require.NoError(b, err)
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.Run(context.Background(), cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"-parallel8", func(b *testing.B) {
			h := srv.Dial(b, c.opts...)
			if c.shells > 0 {
				remote.SetMaxShells(h, c.shells)
			}
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.Run(context.Background(), cmd); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
