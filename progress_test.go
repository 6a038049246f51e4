package porter

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/porter-deploy/porter/rsync"
)

// A send that takes more than a second says how far it is, once a second,
// and says nothing when it is quick or done (a fake clock, no waiting).
func TestSourceSendLogsProgressOnceASecond(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	now := t0
	fn := progressLog(log, func() time.Time { return now })
	at := func(d time.Duration, p rsync.Progress) { now = t0.Add(d); fn(p) }

	at(0, rsync.Progress{FilesTotal: 100, BytesTotal: 40e6})
	at(500*time.Millisecond, rsync.Progress{Files: 10, FilesTotal: 100, Bytes: 4e6, BytesTotal: 40e6})
	at(1000*time.Millisecond, rsync.Progress{Files: 20, FilesTotal: 100, Bytes: 10e6, BytesTotal: 40e6})
	at(1500*time.Millisecond, rsync.Progress{Files: 30, FilesTotal: 100, Bytes: 15e6, BytesTotal: 40e6})
	at(2500*time.Millisecond, rsync.Progress{Files: 50, FilesTotal: 100, Bytes: 25e6, BytesTotal: 40e6})
	at(4000*time.Millisecond, rsync.Progress{Files: 100, FilesTotal: 100, Bytes: 40e6, BytesTotal: 40e6})

	assert.Equal(t, []string{
		`level=INFO msg=sending files=20 files_total=100 bytes=10000000 bytes_total=40000000 rate="10.0 MB/s" eta=3s`,
		`level=INFO msg=sending files=50 files_total=100 bytes=25000000 bytes_total=40000000 rate="10.0 MB/s" eta=2s`,
	}, strings.Split(strings.TrimSpace(buf.String()), "\n"))
}
