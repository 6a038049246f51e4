package porter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path"
	"runtime/debug"
	"sort"
	"time"

	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/internal/localfs"
	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/remote"
)

// StateDir is the directory under a module's path where porter keeps, in a
// directory per module, what the host runs (state.json, history.jsonl) and
// the deploy lock (lock.json): <path>/.porter/<module>/. Two modules
// deployed to one path keep their own. The source sync never sends into it,
// deletes it or reports it.
const StateDir = ".porter"

// HistoryLimit is how many deploys history.jsonl keeps.
const HistoryLimit = 100

// Record is what a host runs for one module, kept on the host in
// <path>/.porter/state.json so that it is right whoever deploys.
type Record struct {
	Module        string    `json:"module"`
	Version       string    `json:"version"`        // commit id, content hash or release version
	Release       string    `json:"release"`        // --release
	Config        string    `json:"config"`         // --config
	SettingsHash  string    `json:"settings_hash"`  // the module's settings and config files
	StartedAt     time.Time `json:"started_at"`     // UTC; before the source was read
	DeployedAt    time.Time `json:"deployed_at"`    // UTC
	DeployedBy    string    `json:"deployed_by"`    // user@hostname that deployed
	PorterVersion string    `json:"porter_version"` // the porter library that deployed
	Host          string    `json:"host"`           // the [hosts] name
}

// MaxStateFileSize is the most porter reads from a host of a state.json or
// a lock.json, and of the end of a history.jsonl: porter never writes more,
// so a larger file is not porter's, and reading it whole could exhaust the
// deploy program's memory.
const MaxStateFileSize = 1 << 20

// ErrTooLarge is wrapped by the error for a state.json or lock.json on a
// host that is larger than MaxStateFileSize.
var ErrTooLarge = errors.New("too large")

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

func statePath(module, modulePath, name string) string {
	return path.Join(modulePath, StateDir, module, name)
}

// ReadRecord reads the record of the module deployed at modulePath on h.
// It returns nil and no error when there is none, and a
// *CorruptRecordError when state.json is not a record of module.
func ReadRecord(ctx context.Context, h *remote.Host, module, modulePath string) (*Record, error) {
	c, err := h.SFTP(ctx)
	if err != nil {
		return nil, err
	}
	p := statePath(module, modulePath, "state.json")
	b, err := readStateFile(c, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, ErrTooLarge) {
		return nil, &CorruptRecordError{Path: p, Host: h.Name(), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", p, h.Name(), err)
	}
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&rec); err != nil {
		return nil, &CorruptRecordError{Path: p, Host: h.Name(), Err: err}
	}
	if rec.Module != module {
		return nil, &CorruptRecordError{Path: p, Host: h.Name(), Err: fmt.Errorf("it records module %q, not %q", rec.Module, module)}
	}
	return &rec, nil
}

// upToDate reports whether rec says the host already runs what would be
// deployed.
func (rec *Record) upToDate(want Record) bool {
	return rec != nil && rec.Version == want.Version && rec.SettingsHash == want.SettingsHash &&
		rec.Release == want.Release && rec.Config == want.Config
}

// writeRecord writes rec as state.json and appends it to history.jsonl
// (keeping the last HistoryLimit lines), each atomically.
func writeRecord(ctx context.Context, h *remote.Host, modulePath string, rec Record) error {
	c, err := h.SFTP(ctx)
	if err != nil {
		return err
	}
	dir := path.Dir(statePath(rec.Module, modulePath, "state.json"))
	if err := c.MkdirAll(dir); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	hist := statePath(rec.Module, modulePath, "history.jsonl")
	old, err := readStateTail(c, hist)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s on %s: %w", hist, h.Name(), err)
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
	// state.json first: a history line never names a deploy without a record.
	pretty, _ := json.MarshalIndent(rec, "", "  ")
	if err := sftpx.WriteAtomic(ctx, c, statePath(rec.Module, modulePath, "state.json"), bytes.NewReader(append(pretty, '\n')), 0o644, time.Time{}); err != nil {
		return err
	}
	body := append(bytes.Join(lines, []byte("\n")), '\n')
	return sftpx.WriteAtomic(ctx, c, hist, bytes.NewReader(body), 0o644, time.Time{})
}

// History reads the deploy history of the module deployed at modulePath,
// oldest first; lines that are not records are skipped. Only the last
// MaxStateFileSize bytes of history.jsonl are read (far more than
// HistoryLimit records of porter's take).
func History(ctx context.Context, h *remote.Host, module, modulePath string) ([]Record, error) {
	c, err := h.SFTP(ctx)
	if err != nil {
		return nil, err
	}
	p := statePath(module, modulePath, "history.jsonl")
	b, err := readStateTail(c, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", p, h.Name(), err)
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

// readStateFile reads the file name from the host, at most
// MaxStateFileSize bytes of it: a larger file is an error that wraps
// ErrTooLarge.
func readStateFile(c *sftp.Client, name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxStateFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxStateFileSize {
		return nil, fmt.Errorf("%w: more than %d bytes, more than porter ever writes there", ErrTooLarge, MaxStateFileSize)
	}
	return b, nil
}

// readStateTail reads the end of the file name from the host: its last
// MaxStateFileSize bytes at most, starting at a line.
func readStateTail(c *sftp.Client, name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	cut := st.Size() > MaxStateFileSize
	if cut {
		// One byte more, to see whether the tail starts at a line.
		if _, err := f.Seek(st.Size()-MaxStateFileSize-1, io.SeekStart); err != nil {
			return nil, err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxStateFileSize+1))
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

// SettingsHash returns a hash of everything of the module that a deploy
// ships besides its source: every section of its ini as seen from its host,
// the values of its plugins' flags, and every file of its config directory
// (path, mode and content), so that changing a setting, a plugin flag or a
// config file makes the module deploy again.
func (m *Module) SettingsHash() (string, error) {
	h := sha256.New()
	secs := m.def.file.SectionStrings()
	sort.Strings(secs)
	for _, name := range secs {
		s := m.Section(name)
		fmt.Fprintf(h, "[%s]\n", name)
		kv := s.Map()
		for _, k := range s.Keys() {
			fmt.Fprintf(h, "%s=%s\n", k, kv[k])
		}
	}
	fmt.Fprintf(h, "config %s\n", m.config)
	// The flags of the module's plugins are part of what is deployed: a
	// deploy with --migrate-database after one without must run.
	for _, f := range m.pluginFlags {
		fmt.Fprintf(h, "flag %s=%s\n", f.Name, m.Flag(f.Name))
	}
	// The config dir as scp ships it: links followed to what they name.
	err := localfs.Walk(m.ConfigDir(), func(p, rel string, info fs.FileInfo) error {
		fmt.Fprintf(h, "%s %v\n", rel, info.Mode())
		if !info.Mode().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		h.Write(sum[:])
		return nil
	})
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && !exists(m.ConfigDir())) {
		return "", fmt.Errorf("hash config dir: %w", err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Who returns user@hostname of this process, for records and locks.
func Who() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return name + "@" + host
}

// Version returns the version of the porter library in this program
// ("(devel)" when built from a checkout).
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Path == "github.com/porter-deploy/porter" {
			return bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/porter-deploy/porter" {
				return d.Version
			}
		}
	}
	return "(devel)"
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
