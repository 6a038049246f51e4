package porter

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"runtime/debug"
	"sort"

	"github.com/porter-deploy/porter/internal/localfs"
	"github.com/porter-deploy/porter/ledger"
)

// upToDate reports whether rec says the host already runs what would be
// deployed.
func upToDate(rec *ledger.Record, want ledger.Record) bool {
	return rec != nil && rec.Version == want.Version && rec.SettingsHash == want.SettingsHash &&
		rec.Release == want.Release && rec.Config == want.Config
}

// SettingsHash returns a hash of everything of the module that a deploy
// ships besides its source: every section of its ini as seen from its host,
// the values of its plugins' flags, and every file of its config directory
// (path, mode and content), so that changing a setting, a plugin flag or a
// config file makes the module deploy again.
func (m *Module) SettingsHash() (string, error) {
	hash, _, err := m.settingsDigest()
	return hash, err
}

// settingsDigest returns SettingsHash and, per item it covers, a digest of
// the item: the record keeps them so that a plan can name what changed.
func (m *Module) settingsDigest() (string, map[string]string, error) {
	h := sha256.New()
	items := map[string]string{}
	add := func(item string, data []byte) {
		h.Write(data)
		if item != "" {
			sum := sha256.Sum256(data)
			items[item] = hex.EncodeToString(sum[:8])
		}
	}
	secs := m.def.file.SectionStrings()
	sort.Strings(secs)
	for _, name := range secs {
		s := m.Section(name)
		add("", fmt.Appendf(nil, "[%s]\n", name))
		kv := s.Map()
		for _, k := range s.Keys() {
			add(settingItem(name, k), fmt.Appendf(nil, "%s=%s\n", k, kv[k]))
		}
	}
	add("", fmt.Appendf(nil, "config %s\n", m.config))
	// The flags of the module's plugins are part of what is deployed: a
	// deploy with --migrate-database after one without must run.
	for _, f := range m.pluginFlags {
		add("flag --"+f.Name, fmt.Appendf(nil, "flag %s=%s\n", f.Name, m.Flag(f.Name)))
	}
	// The config dir as scp ships it: links followed to what they name.
	err := localfs.Walk(m.ConfigDir(), func(p, rel string, info fs.FileInfo) error {
		data := fmt.Appendf(nil, "%s %v\n", rel, info.Mode())
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			data = append(data, sum[:]...)
		}
		item := "config file " + rel
		if rel == "." {
			item = "config directory"
		}
		add(item, data)
		return nil
	})
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && !exists(m.ConfigDir())) {
		return "", nil, fmt.Errorf("hash config dir: %w", err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), items, nil
}

// settingItem names the setting key of section in a record's Settings.
func settingItem(section, key string) string { return "[" + section + "] " + key }

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
