package porter

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/porter-deploy/porter/rsync"
)

// progressEvery is how often a source send that takes longer says how far
// it is.
const progressEvery = time.Second

// progressEventEvery is how often a source send sends a Progress event to
// Options.Events: often enough for a live view to move smoothly.
const progressEventEvery = 200 * time.Millisecond

// progressLog returns an rsync.Options.Progress that logs, at most every
// progressEvery and only once the send has taken that long, a "sending"
// line with the files and bytes done of the totals, the rate and the time
// left: a large first deploy is never silent. now is the clock.
func progressLog(log *slog.Logger, now func() time.Time) func(rsync.Progress) {
	start := now()
	last := start
	return func(p rsync.Progress) {
		t := now()
		if t.Sub(last) < progressEvery || p.BytesTotal == 0 && p.FilesTotal == 0 {
			return
		}
		if p.Files >= p.FilesTotal && p.Bytes >= p.BytesTotal {
			return // the end: "source sent" says it
		}
		last = t
		elapsed := t.Sub(start)
		attrs := []any{"files", p.Files, "files_total", p.FilesTotal, "bytes", p.Bytes, "bytes_total", p.BytesTotal}
		if p.Bytes > 0 && elapsed > 0 {
			rate := float64(p.Bytes) / elapsed.Seconds()
			attrs = append(attrs, "rate", formatRate(rate))
			if left := p.BytesTotal - p.Bytes; left > 0 {
				attrs = append(attrs, "eta", time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second).String())
			}
		}
		log.Info("sending", attrs...)
	}
}

// formatRate writes bytes per second in MB/s, KB/s or B/s.
func formatRate(bps float64) string {
	switch {
	case bps >= 1e6:
		return strconv.FormatFloat(bps/1e6, 'f', 1, 64) + " MB/s"
	case bps >= 1e3:
		return strconv.FormatFloat(bps/1e3, 'f', 1, 64) + " KB/s"
	}
	return strconv.FormatFloat(bps, 'f', 0, 64) + " B/s"
}
