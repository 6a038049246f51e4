package porter_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/rsync"
)

// schemaFiles are the JSON Schemas of docs/schema/, by the value of the
// "schema" field of the documents they describe. A new document (a
// plan's) adds its line here, its file there and its section to
// docs/json.md; TestJSONSchemasCompileAndAreDocumented checks all three.
var schemaFiles = map[string]string{
	porter.EventSchema:    "events.v1.json",
	porter.StatusSchema:   "status.v1.json",
	porter.ReleasesSchema: "releases.v1.json",
	porter.PlanSchema:     "plan.v1.json",
}

// compileSchema compiles docs/schema/<file>, asserting formats (date-time).
func compileSchema(t *testing.T, file string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile(filepath.Join("docs", "schema", file))
	require.NoError(t, err, file)
	return sch
}

// validate checks that doc, one JSON document, is valid against sch.
func validate(sch *jsonschema.Schema, doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

func TestJSONSchemasCompileAndAreDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("docs", "json.md"))
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join("docs", "schema", "*.json"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var want []string
	for id, file := range schemaFiles {
		want = append(want, file)
		sch := compileSchema(t, file)
		raw, err := os.ReadFile(filepath.Join("docs", "schema", file))
		require.NoError(t, err)
		var s struct {
			ID         string `json:"$id"`
			Properties struct {
				Schema struct {
					Const string `json:"const"`
				} `json:"schema"`
			} `json:"properties"`
		}
		require.NoError(t, json.Unmarshal(raw, &s))
		assert.Equal(t, id, s.Properties.Schema.Const, "%s pins the schema field", file)
		assert.Equal(t, "https://github.com/porter-deploy/porter/docs/schema/"+file, s.ID)
		assert.Equal(t, 2020, sch.DraftVersion, "%s is draft 2020-12", file)
		assert.Contains(t, string(doc), "(schema/"+file+")", "docs/json.md links %s", file)
		assert.Contains(t, string(doc), "`"+id+"`", "docs/json.md names %s", id)
	}
	assert.ElementsMatch(t, want, names, "every file of docs/schema is one of schemaFiles")
}

// A hand-made event, byte for byte: snake_case keys, UTC microseconds,
// milliseconds, and nothing that does not apply to a step-end.
func TestEventMarshalJSON(t *testing.T) {
	e := porter.Event{
		Type: porter.EventStepEnd, Time: time.Date(2025, 1, 2, 3, 4, 5, 6_000, time.FixedZone("CET", 3600)),
		Host: "web1", Module: "app", Step: porter.SigSourceSend, Duration: 1500*time.Microsecond + 400,
		Err:  errors.New("send <app.py>: \x1b[31mred\u009b\u202e"),
		Sync: &rsync.Stats{Files: 3, Dirs: 1, BytesTotal: 12, Sent: 2, BytesSent: 8, Unchanged: 1},
	}
	b, err := e.MarshalJSON()
	require.NoError(t, err)
	want := `{"schema":"porter.event/v1","type":"step-end","time":"2025-01-02T02:04:05.000006Z","host":"web1","module":"app",` +
		`"step":"source-send","error":"send <app.py>: \u001b[31mred\u009b\u202e","duration_ms":1.5,` +
		`"sync":{"files":3,"dirs":1,"symlinks":0,"bytes_total":12,"sent":2,"bytes_sent":8,"copied":0,"unchanged":1,"attrs_set":0,"dirs_created":0,"deleted":0}}`
	assert.Equal(t, want, string(b))
	var back struct{ Error string }
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, e.Err.Error(), back.Error, "the escapes decode to the error's text")
	viaMarshal, err := json.Marshal(e)
	require.NoError(t, err)
	assert.JSONEq(t, want, string(viaMarshal), "json.Marshal gives the same (with HTML escapes)")
	require.NoError(t, validate(compileSchema(t, "events.v1.json"), b))

	b, err = json.Marshal(porter.Event{Type: porter.EventDeployEnd, Time: e.Time, Totals: map[porter.Outcome]int{porter.Deployed: 2}})
	require.NoError(t, err)
	assert.Equal(t, `{"schema":"porter.event/v1","type":"deploy-end","time":"2025-01-02T02:04:05.000006Z","duration_ms":0,`+
		`"totals":{"deployed":2,"unchanged":0,"failed":0,"not_started":0}}`, string(b))
}

// The schema is no rubber stamp: each of these events, one change away
// from a valid one, fails it.
func TestEventSchemaRejectsWrongEvents(t *testing.T) {
	sch := compileSchema(t, "events.v1.json")
	valid := `{"schema":"porter.event/v1","type":"module-end","time":"2025-01-02T03:04:05.123456Z","host":"web1","module":"app",` +
		`"version":"sha256:ab","outcome":"deployed","duration_ms":12.5,` +
		`"sync":{"files":1,"dirs":0,"symlinks":0,"bytes_total":3,"sent":1,"bytes_sent":3,"copied":0,"unchanged":0,"attrs_set":0,"dirs_created":0,"deleted":0}}`
	require.NoError(t, validate(sch, []byte(valid)))
	for name, wrong := range map[string]string{
		"another schema":        strings.Replace(valid, `porter.event/v1`, `porter.event/v2`, 1),
		"an unknown type":       strings.Replace(valid, `"module-end"`, `"module-done"`, 1),
		"an unknown field":      strings.Replace(valid, `"host":`, `"hostname":"web1","host":`, 1),
		"a camelCase key":       strings.Replace(valid, `"duration_ms"`, `"durationMs"`, 1),
		"a duration as text":    strings.Replace(valid, `12.5`, `"12.5ms"`, 1),
		"a count as text":       strings.Replace(valid, `"sent":1`, `"sent":"1"`, 1),
		"a time in seconds":     strings.Replace(valid, `05.123456Z`, `05Z`, 1),
		"a time not RFC 3339":   strings.Replace(valid, `2025-01-02T`, `2025-01-02 `, 1),
		"an unknown outcome":    strings.Replace(valid, `"deployed"`, `"done"`, 1),
		"a failure, no error":   strings.Replace(valid, `"deployed"`, `"failed"`, 1),
		"no outcome":            strings.Replace(valid, `"outcome":"deployed",`, ``, 1),
		"no module":             strings.Replace(valid, `"module":"app",`, ``, 1),
		"no time":               strings.Replace(valid, `"time":"2025-01-02T03:04:05.123456Z",`, ``, 1),
		"a step of module-end":  strings.Replace(valid, `"module":"app",`, `"module":"app","step":"deploy",`, 1),
		"a negative count":      strings.Replace(valid, `"sent":1`, `"sent":-1`, 1),
		"a sync without a sent": strings.Replace(valid, `"sent":1,`, ``, 1),
	} {
		assert.Error(t, validate(sch, []byte(wrong)), name)
	}
}

// EventWriter writes one line per event and stops at the first failed
// write, which Err returns.
func TestEventWriterStopsAtAFailedWrite(t *testing.T) {
	var out bytes.Buffer
	ew := porter.NewEventWriter(&out)
	ew.Emit(porter.Event{Type: porter.EventDeployStart, Time: time.Unix(0, 0), Hosts: 1})
	ew.Emit(porter.Event{Type: porter.EventHostConnected, Time: time.Unix(1, 0), Host: "web1", Address: "deploy@web1"})
	require.NoError(t, ew.Err())
	assert.Equal(t, `{"schema":"porter.event/v1","type":"deploy-start","time":"1970-01-01T00:00:00.000000Z","hosts":1}`+"\n"+
		`{"schema":"porter.event/v1","type":"host-connected","time":"1970-01-01T00:00:01.000000Z","host":"web1","address":"deploy@web1"}`+"\n", out.String())

	fw := &failingWriter{}
	ew = porter.NewEventWriter(fw)
	ew.Emit(porter.Event{Type: porter.EventDeployStart, Time: time.Unix(0, 0)})
	ew.Emit(porter.Event{Type: porter.EventDeployEnd, Time: time.Unix(0, 0)})
	assert.Equal(t, 1, fw.calls, "nothing written after the failure")
	assert.EqualError(t, ew.Err(), "write the deploy-start event: broken pipe")
	assert.ErrorIs(t, ew.Err(), errBrokenPipe)
}

var errBrokenPipe = errors.New("broken pipe")

type failingWriter struct{ calls int }

func (w *failingWriter) Write([]byte) (int, error) { w.calls++; return 0, errBrokenPipe }
