package porter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff"
	"github.com/pkg/sftp"

	"github.com/porter-deploy/porter/internal/mask"
)

// maxDiffSize is the largest config file, here or on the host, that a plan
// diffs: a host's file is read no further.
const maxDiffSize = 1 << 20

// planConfigs compares each config file the deploy would copy with the
// host's copy under live.
func (m *Module) planConfigs(ctx context.Context, live string, opts PlanOptions) ([]ConfigPlan, error) {
	files, err := m.configFiles()
	if err != nil || len(files) == 0 {
		return nil, err
	}
	c, err := m.host.SFTP(ctx)
	if err != nil {
		return nil, err
	}
	var out []ConfigPlan
	for _, f := range files {
		remote := path.Join(live, f.name)
		cp := ConfigPlan{Name: f.name, Local: m.project.rel(f.local), Remote: path.Join(m.Path(), f.name),
			Mode: fmt.Sprintf("%04o", f.info.Mode().Perm())}
		local, err := readLocalBounded(f.local)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", f.name, err)
		}
		var had []byte
		st, err := c.Lstat(remote)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			cp.Change = "new"
		case err != nil:
			return nil, fmt.Errorf("config %s: lstat %s: %w", f.name, remote, err)
		case !st.Mode().IsRegular():
			cp.Change = "changed" // a link or directory there is replaced
			cp.NoDiff = "the host has a " + fileKind(st.Mode()) + " there"
		case st.Size() > maxDiffSize || local == nil:
			cp.Change, cp.NoDiff = "changed", fmt.Sprintf("larger than %d bytes", maxDiffSize)
			if local != nil && st.Size() == int64(len(local)) {
				cp.Change = "unknown"
			}
		default:
			if had, err = readRemoteBounded(ctx, c, remote); err != nil {
				return nil, fmt.Errorf("config %s: read %s: %w", f.name, remote, err)
			}
			switch {
			case !bytes.Equal(had, local):
				cp.Change = "changed"
			case st.Mode().Perm() != f.info.Mode().Perm():
				cp.Change = "mode"
			default:
				cp.Change = "unchanged"
			}
		}
		if opts.Diff && cp.NoDiff == "" && (cp.Change == "new" || cp.Change == "changed") {
			cp.Diff, cp.NoDiff = configDiff(cp, remote, had, local, opts.ShowSecrets)
		}
		out = append(out, cp)
	}
	return out, nil
}

// configDiff is the unified diff of a config file from the host's copy
// (hostCopy, had) to the local one, masked unless showSecrets, or why
// there is none.
func configDiff(cp ConfigPlan, hostCopy string, had, local []byte, showSecrets bool) (diff, why string) {
	if !isText(had) || !isText(local) {
		return "", "binary"
	}
	from := "host:" + hostCopy
	if cp.Change == "new" {
		from = "/dev/null"
	}
	d := udiff.Unified(from, cp.Local, string(had), string(local))
	if showSecrets {
		return d, ""
	}
	lines := strings.SplitAfter(d, "\n")
	for i, l := range lines {
		if len(l) > 0 && (l[0] == '+' || l[0] == '-' || l[0] == ' ') && !strings.HasPrefix(l, "+++ ") && !strings.HasPrefix(l, "--- ") {
			lines[i] = l[:1] + MaskSecrets(l[1:])
		}
	}
	return strings.Join(lines, ""), ""
}

// isText reports whether b looks like text: UTF-8 without NUL bytes.
func isText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

// readLocalBounded reads a local file of at most maxDiffSize bytes; nil,
// nil when it is larger.
func readLocalBounded(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxDiffSize+1))
	if err != nil || len(b) > maxDiffSize {
		return nil, err
	}
	return b, nil
}

// readRemoteBounded reads at most maxDiffSize bytes of a host's file.
func readRemoteBounded(ctx context.Context, c *sftp.Client, name string) ([]byte, error) {
	f, err := c.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	b, err := io.ReadAll(io.LimitReader(f, maxDiffSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDiffSize {
		return nil, fmt.Errorf("more than %d bytes", maxDiffSize)
	}
	return b, nil
}

// secretAssign matches "key = value", "key: value" and "KEY=value" lines
// whose key is named like a credential; secretURL a URL's password.
var (
	secretAssign = regexp.MustCompile(`(?i)^(\s*(?:export\s+)?["']?` + mask.NamePattern + `["']?\s*[:=]\s*)(\S.*?)(\s*)$`)
	secretURL    = regexp.MustCompile(`(://[^/\s:@]*:)[^/\s@]+@`)
)

// SecretMask is what MaskSecrets puts in place of a secret.
const SecretMask = mask.Mask

// MaskSecrets returns line with the value of a key named like a secret
// (password, secret, token, api_key, private_key, credentials, a word
// key as in SECRET_KEY: see MaskCommand for commands) and the
// password of a URL replaced by SecretMask, for logs, errors and plans.
func MaskSecrets(line string) string {
	line = secretURL.ReplaceAllString(line, "${1}"+SecretMask+"@")
	if m := secretAssign.FindStringSubmatchIndex(line); m != nil {
		line = line[:m[3]] + SecretMask + line[m[6]:]
	}
	return line
}
