package liveview

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/internal/termtest"
	"github.com/porter-deploy/porter/rsync"
)

// play is what out left on a terminal.
func play(t *testing.T, out []byte) *termtest.Screen {
	t.Helper()
	s, err := termtest.Play(out)
	require.NoError(t, err, "%q", out)
	return s
}

// The view draws one line per host, redraws it as the events come, prints
// the log lines above it, and ends with its last state and the cursor on
// the line below: frames made by Redraw, no clock.
func TestViewDrawsAndRedrawsALinePerHost(t *testing.T) {
	var out bytes.Buffer
	v := New(&out, Options{Width: 100, ManualRedraw: true})
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	v.Host("web1")
	v.Host("web2")
	v.Module("web1", "app")
	v.Step("web1", "source-send")
	v.Progress("web1", t0, rsync.Progress{FilesTotal: 40, BytesTotal: 4e6})
	fmt.Fprintln(v.Log(), "[web1] app: checked out")
	v.Redraw()
	v.Progress("web1", t0.Add(time.Second), rsync.Progress{Files: 10, FilesTotal: 40, Bytes: 1e6, BytesTotal: 4e6})
	v.Module("web2", "api")
	v.Step("web2", "deploy-start")
	v.Redraw()
	v.Progress("web1", t0.Add(2*time.Second), rsync.Progress{Files: 30, FilesTotal: 40, Bytes: 3e6, BytesTotal: 4e6})
	v.Progress("web2", t0, rsync.Progress{FilesTotal: 2, BytesTotal: 1000})
	v.Progress("web2", t0.Add(time.Second), rsync.Progress{Files: 1, FilesTotal: 2, Bytes: 900, BytesTotal: 1000})
	v.ModuleEnd("web2", "unchanged")
	fmt.Fprintln(v.Log(), "[web2] api: unchanged")
	v.Redraw()
	v.Step("web1", "deploy-finish")
	v.HostEnd("web1", "deployed", 2530*time.Millisecond)
	v.HostEnd("web2", "unchanged", 300*time.Millisecond)
	v.Step("web1", "too late") // after its end: no change
	v.Close()
	v.Step("web1", "after close") // no change, no panic
	fmt.Fprintln(v.Log(), "porter: after the view")

	s := play(t, out.Bytes())
	require.GreaterOrEqual(t, len(s.Frames), 3)
	assert.Equal(t, [][]string{
		{"web1 app source-send  [--------------------] 0/40 files  0 B/4.0 MB", "web2 connected"},
		{"web1 app source-send   [====>---------------] 10/40 files  1.0 MB/4.0 MB  1.0 MB/s  eta 3s", "web2 api deploy-start"},
		{"web1 app source-send  [==============>-----] 30/40 files  3.0 MB/4.0 MB  1.5 MB/s  eta 1s", "web2 api unchanged    [=================>--] 1/2 files  900 B/1.0 KB  900 B/s  eta <1s"},
	}, s.Frames[:3])
	final := []string{"web1 deployed    in 2.5s", "web2 unchanged   in 300ms"}
	for _, f := range s.Frames[3:] {
		assert.Equal(t, final, f, "Close may draw the end twice, never anything else")
	}
	assert.Equal(t, append(append([]string{"[web1] app: checked out", "[web2] api: unchanged"}, final...),
		"porter: after the view"), s.Lines)
	assert.Equal(t, [2]int{len(s.Lines), 0}, [2]int{s.Row, s.Col}, "the cursor is on the line below")
	assert.NotContains(t, out.String(), "\x1b[?25", "the cursor is never hidden, so never left hidden")
}

// A send of files without bytes (empty files, links) fills its bar by files.
func TestViewBarOfFilesWhenNoBytes(t *testing.T) {
	var out bytes.Buffer
	v := New(&out, Options{Width: 100, ManualRedraw: true})
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	v.Module("web1", "links")
	v.Step("web1", "source-send")
	v.Progress("web1", t0, rsync.Progress{Files: 2, FilesTotal: 4})
	v.Redraw()
	v.Close()
	assert.Equal(t, []string{"web1 links source-send  [=========>----------] 2/4 files  0 B/0 B"}, play(t, out.Bytes()).Frames[0])
}

// Log lines written while no host has a line yet are printed all the
// same, at Close at the latest.
func TestViewWithoutHostsPrintsTheLogLines(t *testing.T) {
	var out bytes.Buffer
	v := New(&out, Options{ManualRedraw: true})
	fmt.Fprintln(v.Log(), "WARN something")
	v.Close()
	v.Close()
	assert.Equal(t, "WARN something\n", out.String())
}

// Host text is drawn printable: a host name cannot move the cursor.
func TestViewHostTextIsEscaped(t *testing.T) {
	var out bytes.Buffer
	v := New(&out, Options{Width: 100, ManualRedraw: true})
	v.Module("web\x1b[2J", "app\r")
	v.HostEnd("web\x1b[2J", "failed\x1b[31m", time.Second)
	v.Close()
	assert.Equal(t, []string{`web\x1b[2J failed\x1b[31m   in 1s`}, play(t, out.Bytes()).Lines)
}

// At its own pace the view redraws by itself; Close ends it clean.
func TestViewRedrawsByItself(t *testing.T) {
	pr, pw := io.Pipe()
	v := New(pw, Options{Width: 100})
	v.Module("web1", "app")
	var got bytes.Buffer
	buf := make([]byte, 4096)
	for strings.Count(got.String(), "\x1b[1A") < 2 { // two redraws
		n, err := pr.Read(buf)
		require.NoError(t, err)
		got.Write(buf[:n])
	}
	done := make(chan struct{})
	go func() { // Close's last drawing goes to the pipe too
		defer close(done)
		v.Close()
		pw.Close()
	}()
	rest, err := io.ReadAll(pr)
	require.NoError(t, err)
	<-done
	got.Write(rest)
	s := play(t, got.Bytes())
	assert.Equal(t, []string{"web1 app"}, s.Lines)
	assert.Equal(t, []string{"web1 app"}, s.Frames[0])
}

type shutView struct{}

func (shutView) Write([]byte) (int, error) {
	return 0, errors.New("mpb.Progress instance can't be reused")
}

// A log line is never lost: when mpb has shut down (it could not draw),
// the lines go straight to the output.
func TestLogLinesGetPastAViewThatShutDown(t *testing.T) {
	var out bytes.Buffer
	w := &logWriter{view: shutView{}, out: &out}
	_, err := io.WriteString(w, "one\n")
	require.NoError(t, err)
	_, err = io.WriteString(w, "two\n")
	require.NoError(t, err)
	assert.Equal(t, "one\ntwo\n", out.String())
}
