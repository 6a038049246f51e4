package porter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/porter-deploy/porter/rsync"
)

// The schemas of porter's JSON documents, the value of their "schema"
// field: the kind of document and its major version. A v1 document may
// gain fields (a reader ignores those it does not know); a field that
// changes meaning or goes away makes v2. docs/json.md describes them, and
// docs/schema/ holds each as a JSON Schema (draft 2020-12).
const (
	EventSchema    = "porter.event/v1"    // each line of deploy --json: Event.MarshalJSON
	StatusSchema   = "porter.status/v1"   // status --json: StatusReport.MarshalJSON
	ReleasesSchema = "porter.releases/v1" // releases --json: ReleasesReport.MarshalJSON
)

// jsonEvent is the JSON form of an Event: fields that do not apply are
// left out.
type jsonEvent struct {
	Schema     string        `json:"schema"`
	Type       EventType     `json:"type"`
	Time       string        `json:"time"`
	Host       string        `json:"host,omitempty"`
	Address    string        `json:"address,omitempty"`
	Module     string        `json:"module,omitempty"`
	Step       Signal        `json:"step,omitempty"`
	Version    string        `json:"version,omitempty"`
	Outcome    Outcome       `json:"outcome,omitempty"`
	Error      string        `json:"error,omitempty"`
	DurationMS *float64      `json:"duration_ms,omitempty"`
	Hosts      *int          `json:"hosts,omitempty"`
	Totals     *jsonTotals   `json:"totals,omitempty"`
	Progress   *jsonProgress `json:"progress,omitempty"`
	Sync       *jsonSync     `json:"sync,omitempty"`
	Skipped    []jsonSkip    `json:"skipped,omitempty"`
}

type jsonTotals struct {
	Deployed   int `json:"deployed"`
	Unchanged  int `json:"unchanged"`
	Failed     int `json:"failed"`
	NotStarted int `json:"not_started"`
}

type jsonProgress struct {
	Files      int   `json:"files"`
	FilesTotal int   `json:"files_total"`
	Bytes      int64 `json:"bytes"`
	BytesTotal int64 `json:"bytes_total"`
}

type jsonSync struct {
	Files       int   `json:"files"`
	Dirs        int   `json:"dirs"`
	Symlinks    int   `json:"symlinks"`
	BytesTotal  int64 `json:"bytes_total"`
	Sent        int   `json:"sent"`
	BytesSent   int64 `json:"bytes_sent"`
	Copied      int   `json:"copied"`
	Unchanged   int   `json:"unchanged"`
	AttrsSet    int   `json:"attrs_set"`
	DirsCreated int   `json:"dirs_created"`
	Deleted     int   `json:"deleted"`
}

type jsonSkip struct {
	Owner string `json:"owner"`
	Step  string `json:"step"`
	Why   string `json:"why"`
}

// MarshalJSON returns the event as one JSON object of schema EventSchema
// (docs/json.md): snake_case keys, the time in UTC (RFC 3339, in
// microseconds), the error as its text, the duration in milliseconds,
// and only the fields that apply to the event's type. It holds what the
// report shows, nothing more: no flag values, no secrets.
func (e Event) MarshalJSON() ([]byte, error) {
	j := jsonEvent{
		Schema: EventSchema, Type: e.Type, Time: jsonTime(e.Time),
		Host: e.Host, Address: e.Address, Module: e.Module, Step: e.Step,
		Version: e.Version, Outcome: e.Outcome, Error: errorText(e.Err),
	}
	switch e.Type {
	case EventStepEnd, EventModuleEnd, EventHostEnd, EventDeployEnd:
		ms := jsonMillis(e.Duration)
		j.DurationMS = &ms
	}
	switch e.Type {
	case EventDeployStart:
		j.Hosts = &e.Hosts
	case EventDeployEnd:
		j.Totals = &jsonTotals{Deployed: e.Totals[Deployed], Unchanged: e.Totals[Unchanged],
			Failed: e.Totals[Failed], NotStarted: e.Totals[NotStarted]}
	}
	if p := e.Progress; p != nil {
		j.Progress = &jsonProgress{Files: p.Files, FilesTotal: p.FilesTotal, Bytes: p.Bytes, BytesTotal: p.BytesTotal}
	}
	if s := e.Sync; s != nil {
		j.Sync = syncJSON(*s)
	}
	for _, sk := range e.Skipped {
		j.Skipped = append(j.Skipped, jsonSkip(sk))
	}
	return marshalJSON(j)
}

func syncJSON(s rsync.Stats) *jsonSync {
	return &jsonSync{Files: s.Files, Dirs: s.Dirs, Symlinks: s.Symlinks, BytesTotal: s.BytesTotal,
		Sent: s.Sent, BytesSent: s.BytesSent, Copied: s.Copied, Unchanged: s.Unchanged,
		AttrsSet: s.AttrsSet, DirsCreated: s.DirsCreated, Deleted: s.Deleted}
}

// EventWriter writes a deploy's events as JSON lines (one Event.MarshalJSON
// object per line), as deploy --json does:
//
//	w := porter.NewEventWriter(os.Stdout)
//	rep, err := porter.Deploy(ctx, p, porter.Options{..., Events: w.Emit})
//	if werr := w.Err(); werr != nil { ... } // some events were not written
type EventWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// NewEventWriter returns an EventWriter that writes to w.
func NewEventWriter(w io.Writer) *EventWriter { return &EventWriter{w: w} }

// Emit writes e as one line. After a failed write it writes nothing more
// (Err says why); it is safe to call from several goroutines.
func (ew *EventWriter) Emit(e Event) {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.err != nil {
		return
	}
	b, err := e.MarshalJSON()
	if err == nil {
		_, err = ew.w.Write(append(b, '\n'))
	}
	if err != nil {
		ew.err = fmt.Errorf("write the %s event: %w", e.Type, err)
	}
}

// Err returns the first error of a write, nil when every event was
// written.
func (ew *EventWriter) Err() error {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	return ew.err
}

// jsonTimeLayout is RFC 3339 in UTC with microseconds, always six digits
// so that the lines of a log sort as text and line up.
const jsonTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// jsonTime returns t in jsonTimeLayout, "" for the zero time (a field left
// out).
func jsonTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(jsonTimeLayout)
}

// jsonMillis returns d in milliseconds, to the microsecond.
func jsonMillis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// marshalJSON encodes v without HTML escapes (an error's "<" stays "<"),
// then escapes what a terminal would act on (see escapeJSON).
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return escapeJSON(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

// escapeJSON writes as \u escapes the characters of JSON text b that
// encoding/json leaves as they are but a terminal would act on: DEL, the
// C1 controls and the bidirectional overrides (as remote.Printable
// escapes them). A host's text (a record's field, stderr in an error)
// thus cannot rewrite what a person reads who looks at the JSON; the
// decoded values are unchanged. Such characters only occur inside JSON
// strings, where an escape means the same character.
func escapeJSON(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			if out == nil {
				out = append(make([]byte, 0, len(b)+16), b[:i]...)
			}
			out = fmt.Appendf(out, `\u%04x`, r)
		} else if out != nil {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	if out == nil {
		return b
	}
	return out
}
