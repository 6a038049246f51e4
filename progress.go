package porter

import (
	"log/slog"
	"time"

	"github.com/porter-deploy/porter/internal/units"
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
		attrs := []any{"files", p.Files, "files_total", p.FilesTotal, "bytes", p.Bytes, "bytes_total", p.BytesTotal}
		if bps, left, ok := units.Speed(p.Bytes, p.BytesTotal, t.Sub(start)); ok {
			attrs = append(attrs, "rate", units.Rate(bps))
			if left > 0 {
				attrs = append(attrs, "eta", left.Round(time.Second).String())
			}
		}
		log.Info("sending", attrs...)
	}
}
