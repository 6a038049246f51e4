package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/remote"
)

// Record is what a host runs for one module, kept on the host in
// state.json so that it is right whoever deploys.
type Record struct {
	Module       string `json:"module"`
	Version      string `json:"version"`       // commit id, content hash or release version
	Release      string `json:"release"`       // --release
	Config       string `json:"config"`        // --config
	SettingsHash string `json:"settings_hash"` // the module's settings and config files
	// Settings holds a digest of each item that SettingsHash covers ("[module]
	// path", "flag --migrate", "config file app.conf"), so that a plan can
	// say which one changed; only digests, never the values.
	Settings      map[string]string `json:"settings,omitempty"`
	StartedAt     time.Time         `json:"started_at"`           // UTC; before the source was read
	DeployedAt    time.Time         `json:"deployed_at"`          // UTC
	DeployedBy    string            `json:"deployed_by"`          // user@hostname that deployed
	PorterVersion string            `json:"porter_version"`       // the porter library that deployed
	Host          string            `json:"host"`                 // the [hosts] name
	ReleaseID     string            `json:"release_id,omitempty"` // with strategy = releases: the release directory
	Event         string            `json:"event,omitempty"`      // in the history: "deploy" (or empty) or "rollback"
}

// CorruptRecordError reports a state.json that is not a porter record of
// the module: the module is then treated as never deployed.
type CorruptRecordError struct {
	Path string
	Host string // the address of the host, as dialed ("" if unknown)
	Err  error
}

// Error names the file and why it is not a record. What comes from the
// host is shown with its control characters escaped.
func (e *CorruptRecordError) Error() string {
	where := e.Path
	if e.Host != "" {
		where += " on " + e.Host
	}
	return fmt.Sprintf("%s is not a porter record (%s): treating the module as never deployed; the next deploy replaces it",
		where, remote.Printable(fmt.Sprint(e.Err)))
}

// Unwrap returns why the record could not be read.
func (e *CorruptRecordError) Unwrap() error { return e.Err }

// Record reads the module's record. It returns nil and no error when there
// is none, and a *CorruptRecordError when state.json is not a record of
// the module.
func (p Place) Record(ctx context.Context) (*Record, error) {
	c, err := p.sftp(ctx)
	if err != nil {
		return nil, err
	}
	f := p.File("state.json")
	b, err := readFile(c, f)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, ErrTooLarge) {
		return nil, &CorruptRecordError{Path: f, Host: p.hostName(), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", f, p.hostName(), err)
	}
	var rec Record
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&rec); err != nil {
		return nil, &CorruptRecordError{Path: f, Host: p.hostName(), Err: err}
	}
	if rec.Module != p.Module {
		return nil, &CorruptRecordError{Path: f, Host: p.hostName(), Err: fmt.Errorf("it records module %q, not %q", rec.Module, p.Module)}
	}
	return &rec, nil
}

// WriteRecord writes rec as state.json and appends it to history.jsonl
// (keeping the last HistoryLimit lines), each atomically: state.json
// first, so that a history line never names a deploy without a record.
func (p Place) WriteRecord(ctx context.Context, rec Record) error {
	if err := p.writeState(ctx, rec); err != nil {
		return err
	}
	return p.appendHistory(ctx, rec)
}

func (p Place) writeState(ctx context.Context, rec Record) error {
	c, err := p.mkdir(ctx)
	if err != nil {
		return err
	}
	pretty, _ := json.MarshalIndent(rec, "", "  ")
	return sftpx.WriteAtomic(ctx, c, p.File("state.json"), bytes.NewReader(append(pretty, '\n')), 0o644, time.Time{})
}

// appendHistory appends rec to history.jsonl, keeping HistoryLimit lines.
func (p Place) appendHistory(ctx context.Context, rec Record) error {
	c, err := p.mkdir(ctx)
	if err != nil {
		return err
	}
	rec.Settings = nil // the record's; the history keeps what ran, not why
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	hist := p.File("history.jsonl")
	old, err := readTail(c, hist)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s on %s: %w", hist, p.hostName(), err)
	}
	var lines [][]byte
	for _, l := range bytes.Split(old, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	lines = append(lines, line)
	if len(lines) > HistoryLimit {
		lines = lines[len(lines)-HistoryLimit:]
	}
	body := append(bytes.Join(lines, []byte("\n")), '\n')
	return sftpx.WriteAtomic(ctx, c, hist, bytes.NewReader(body), 0o644, time.Time{})
}

// mkdir makes the bookkeeping directory and returns the SFTP client.
func (p Place) mkdir(ctx context.Context) (*sftp.Client, error) {
	c, err := p.sftp(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.MkdirAll(p.Dir()); err != nil {
		return nil, fmt.Errorf("mkdir %s on %s: %w", p.Dir(), p.hostName(), err)
	}
	return c, nil
}

// History reads the module's deploy history, oldest first; lines that are
// not records are skipped. Only the last MaxFileSize bytes of
// history.jsonl are read (far more than HistoryLimit records of porter's
// take).
func (p Place) History(ctx context.Context) ([]Record, error) {
	c, err := p.sftp(ctx)
	if err != nil {
		return nil, err
	}
	f := p.File("history.jsonl")
	b, err := readTail(c, f)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", f, p.hostName(), err)
	}
	var out []Record
	for _, l := range bytes.Split(b, []byte("\n")) {
		var r Record
		if json.Unmarshal(l, &r) == nil && r.Module != "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// readFile reads the file name from the host, at most MaxFileSize bytes
// of it: a larger file is an error that wraps ErrTooLarge.
func readFile(c *sftp.Client, name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: more than %d bytes, more than porter ever writes there", ErrTooLarge, MaxFileSize)
	}
	return b, nil
}

// readTail reads the end of the file name from the host: its last
// MaxFileSize bytes at most, starting at a line.
func readTail(c *sftp.Client, name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	cut := st.Size() > MaxFileSize
	if cut {
		// One byte more, to see whether the tail starts at a line.
		if _, err := f.Seek(st.Size()-MaxFileSize-1, io.SeekStart); err != nil {
			return nil, err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if cut {
		// Drop the line the cut went through.
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil, nil
		}
		b = b[i+1:]
	}
	return b, nil
}
