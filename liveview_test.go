//go:build unix

package porter_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/internal/termtest"
)

// slowSend is a project whose first deploy sends 6 files of 1 MiB over a
// network of 4 MB/s (portertest's Throttle): a send of about 2 s, long
// enough for the live view's frames and the "sending" lines, with no
// sleep in the test.
func slowSend(t *testing.T) *fixture {
	files := map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\ntest = x@y\n",
		"app/app.ini": "[module]\npath = $REMOTE/app\n[scm]\nurl = dir://src\n",
	}
	rnd := rand.NewChaCha8([32]byte{7}) // incompressible, the same each run
	for i := range 6 {
		b := make([]byte, 1<<20)
		_, _ = rnd.Read(b)
		files["app/src/f"+strconv.Itoa(i)] = string(b)
	}
	f := newFixture(t, files)
	f.srv.Throttle(4e6)
	return f
}

// deployAt runs deploy of f through the CLI with stderr on w, and returns
// the exit status and stdout.
func deployAt(f *fixture, w *os.File, args ...string) (int, string) {
	var out bytes.Buffer
	cli := &porter.CLI{Args: append([]string{"deploy", "--host", "test", "--config", "testing"}, args...),
		Stdout: &out, Stderr: w, ProjectDir: f.local,
		Addresses: map[string]string{"test": f.srv.Address()}, Dial: f.srv.DialOptions()}
	return cli.Run(context.Background()), out.String()
}

// atPty runs deploy of f with stderr on a pseudo-terminal of 120 columns
// and returns what the terminal got.
func atPty(t *testing.T, f *fixture, args ...string) (int, string, []byte) {
	master, slave, err := pty.Open()
	if errors.Is(err, pty.ErrUnsupported) {
		t.Skip("no pseudo-terminal here:", err)
	}
	require.NoError(t, err)
	defer master.Close()
	require.NoError(t, pty.Setsize(master, &pty.Winsize{Rows: 40, Cols: 120}))
	got := readAll(master)
	code, out := deployAt(f, slave, args...)
	slave.Close() // the master reads to the end, then EIO
	return code, out, <-got
}

// inPipe runs deploy of f with stderr on a pipe and returns what came.
func inPipe(t *testing.T, f *fixture, args ...string) (int, string, []byte) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	got := readAll(r)
	code, out := deployAt(f, w, args...)
	w.Close()
	return code, out, <-got
}

// readAll reads r to its end (or error) in the background.
func readAll(r io.Reader) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, r) // a pty's master ends with EIO
		got <- b.Bytes()
	}()
	return got
}

// sentFigure matches the files and bytes done of a host's line.
var sentFigure = regexp.MustCompile(`^test +app source-send +\[[=>-]+\] (\d+)/6 files  ([\d.]+) (MB|KB|B)/6.3 MB`)

// mb is the bytes figure of a host's line, in MB.
func mb(m []string) float64 {
	v, _ := strconv.ParseFloat(m[2], 64)
	return v * map[string]float64{"MB": 1, "KB": 1e-3, "B": 1e-6}[m[3]]
}

// logLine is a whole line of the CLI's log: nothing of the view in it.
var logLine = regexp.MustCompile(`^\[test\] (app: )?[a-z][a-z ]*( [a-z_.]+=("[^"]*"|[^ "=]+))*$`)

func TestDeployAtATerminalDrawsALiveLinePerHost(t *testing.T) {
	t.Setenv("TERM", "xterm")
	t.Setenv("NO_COLOR", "1")
	f := slowSend(t)
	code, out, tty := atPty(t, f)
	require.Equal(t, porter.ExitOK, code, "%q", tty)
	assert.Regexp(t, `(?m)^app +deployed `, out, "the report after the view")

	// Only the cursor-up and erase of a redraw: no colour (NO_COLOR), no
	// sequence left open, nothing else.
	screen, err := termtest.Play(tty)
	require.NoError(t, err, "%q", tty)

	// The view drew and redrew the host's line, its figures growing.
	var figures []float64
	var files []int
	for _, frame := range screen.Frames {
		require.NotEmpty(t, frame, "a redraw draws over the host's line")
		require.Len(t, frame, 1, "one host, one line: %q", frame)
		if m := sentFigure.FindStringSubmatch(frame[0]); m != nil {
			n, _ := strconv.Atoi(m[1])
			files = append(files, n)
			figures = append(figures, mb(m))
		}
	}
	require.GreaterOrEqual(t, len(figures), 3, "frames of the send: %q", screen.Frames)
	assert.IsNonDecreasing(t, figures, "bytes sent only grow")
	assert.IsNonDecreasing(t, files, "files sent only grow")
	assert.Greater(t, figures[len(figures)-1], figures[0], "and did grow: %v", figures)
	all := strings.Join(allFrames(screen), "\n")
	assert.Regexp(t, `/6.3 MB  [\d.]+ (MB|KB)/s  eta (\d+s|<1s)\n`, all, "the rate and the time left")

	// The end: the log lines, whole, then the host's last line, the
	// cursor on the line below it.
	n := len(screen.Lines)
	require.Greater(t, n, 3)
	assert.Regexp(t, `^test +deployed +in [\d.]+m?s$`, screen.Lines[n-1])
	assert.Equal(t, [2]int{n, 0}, [2]int{screen.Row, screen.Col})
	assert.Equal(t, wantLog, normalLog(t, f, screen.Lines[:n-1]), "the log lines, whole, above the view")
	assert.NotContains(t, string(tty), "sending files=", "the view shows the send: no sending lines at the terminal")
}

// allFrames is every line of every frame.
func allFrames(s *termtest.Screen) []string {
	var all []string
	for _, f := range s.Frames {
		all = append(all, f...)
	}
	return all
}

// wantLog is what slowSend's first deploy logs, written as normalLog
// writes it.
var wantLog = []string{
	"[test] connecting address=$ADDRESS",
	"[test] app: deploying path=$REMOTE/app release=stable config=testing strategy=inplace",
	`[test] app: source version=sha256:H ref="dir $LOCAL/app/src @ sha256:H"`,
	`[test] app: sync done dst=$REMOTE/app address=$ADDRESS took=T stats="6 files, 0 dirs, 0 symlinks: 6 sent (6291456 bytes), 0 unchanged, 0 attrs set, 0 dirs created, 0 deleted"`,
	"[test] app: source sent path=$REMOTE/app files=6 bytes=6291456 deleted=0 unchanged=0",
	"[test] app: deployed version=sha256:H",
}

// normalLog is the lines of a deploy's log, each whole, with what changes
// from one deploy to the next (the fixture's directories and port, times,
// the version) written the same, and the "sending" lines left out.
func normalLog(t *testing.T, f *fixture, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		assert.Regexp(t, logLine, l)
		l = strings.NewReplacer(f.remote, "$REMOTE", f.local, "$LOCAL", f.srv.Address(), "$ADDRESS").Replace(l)
		l = regexp.MustCompile(`took=\S+`).ReplaceAllString(l, "took=T")
		l = regexp.MustCompile(`sha256:[0-9a-f]+`).ReplaceAllString(l, "sha256:H")
		if !strings.HasPrefix(l, "[test] app: sending files=") {
			out = append(out, l)
		}
	}
	return out
}

// plainLines are the lines of plain output (a pty's too).
func plainLines(out []byte) []string {
	return strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n"), "\n")
}

// In a pipe, and at a terminal with -q, a deploy writes the plain lines of
// its log, the same, with the "sending" lines of a send that lasts.
func TestDeployInAPipeOrQuietWritesPlainLines(t *testing.T) {
	t.Setenv("TERM", "xterm")
	piped := slowSend(t)
	code, _, pipe := inPipe(t, piped)
	require.Equal(t, porter.ExitOK, code, "%s", pipe)
	assert.NotContains(t, pipe, byte(0x1b), "no escape code in a pipe")
	sending := regexp.MustCompile(`(?m)^\[test\] app: sending files=\d+ files_total=6 bytes=\d+ bytes_total=6291456 rate="[\d.]+ [KM]?B/s"( eta=\d+s)?$`)
	assert.Regexp(t, sending, string(pipe), "a send of more than a second shows progress")

	quiet := slowSend(t)
	code, _, tty := atPty(t, quiet, "-q")
	require.Equal(t, porter.ExitOK, code, "%q", tty)
	assert.NotContains(t, tty, byte(0x1b), "-q: no escape code at a terminal")
	assert.Regexp(t, sending, strings.ReplaceAll(string(tty), "\r\n", "\n"), "-q: the sending lines at a terminal")

	assert.Equal(t, wantLog, normalLog(t, piped, plainLines(pipe)), "in a pipe")
	assert.Equal(t, wantLog, normalLog(t, quiet, plainLines(tty)), "with -q")
}
