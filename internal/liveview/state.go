package liveview

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/porter-deploy/porter/internal/units"
	"github.com/porter-deploy/porter/remote"
	"github.com/porter-deploy/porter/rsync"
)

// barWidth is the width of the bar of a source send, brackets included.
const barWidth = 22

// state is what a host's line shows.
type state struct {
	host   string // printable
	module string
	step   string // or the module's outcome, once it ended

	sending   bool // a Progress came since the module started
	sendStart time.Time
	at        time.Time // of the last Progress
	progress  rsync.Progress

	outcome string // the host's, once it ended
	took    time.Duration
}

// doing is the middle of the line: the module and its step, or the
// host's outcome.
func (s state) doing() string {
	if s.outcome != "" {
		return remote.Printable(s.outcome)
	}
	return remote.Printable(strings.TrimSpace(s.module + " " + s.step))
}

// figures is the end of the line: how far the send is, or how long the
// host took.
func (s state) figures() string {
	if s.outcome != "" {
		if s.took < time.Second {
			return "in " + s.took.Round(time.Millisecond).String()
		}
		return "in " + s.took.Round(100*time.Millisecond).String()
	}
	if !s.sending {
		return ""
	}
	p := s.progress
	out := fmt.Sprintf("%d/%d files  %s/%s", p.Files, p.FilesTotal, units.Bytes(p.Bytes), units.Bytes(p.BytesTotal))
	if bps, left, ok := units.Speed(p.Bytes, p.BytesTotal, s.at.Sub(s.sendStart)); ok {
		out += "  " + units.Rate(bps)
		if r := left.Round(time.Second); r > 0 {
			out += "  eta " + r.String()
		} else if left > 0 {
			out += "  eta <1s"
		}
	}
	return out
}

// filler draws the bar of the host's source send, of the bytes (or of the
// files, when the send has no bytes), and nothing when there is none or
// the host ended.
type filler struct {
	l   *line
	bar mpb.BarFiller
}

func (f filler) Fill(w io.Writer, stat decor.Statistics) error {
	s := f.l.get()
	if !s.sending || s.outcome != "" {
		return nil
	}
	stat.Total, stat.Current = s.progress.BytesTotal, s.progress.Bytes
	if stat.Total == 0 {
		stat.Total, stat.Current = int64(s.progress.FilesTotal), int64(s.progress.Files)
	}
	stat.Completed = stat.Total > 0 && stat.Current >= stat.Total
	return f.bar.Fill(w, stat)
}
