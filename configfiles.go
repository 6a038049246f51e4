package porter

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/porter-deploy/porter/internal/sftpx"
	"github.com/porter-deploy/porter/ledger"
)

// The [module] config key names files of the module's config/<--config>/
// directory that a deploy copies to the module's path on the host, under
// the same relative names, once the source is sent: its default handler of
// SigSourcePostSend, registered only for a module that has the key, runs
// before the post-send handlers of the module's hook and plugins, so those
// find the files in place. Each file lands atomically (a temporary name,
// then a rename) with the local file's mode and modification time, so a
// 0600 secret stays 0600. The source sync neither sends a file of the
// source under one of these names nor deletes one (delete = true).

// configNames returns the [module] config names of the module, as seen
// from its host, after checking that each is a plain relative path.
func (m *Module) configNames() ([]string, error) {
	s := m.Settings()
	names := s.List("config")
	for _, name := range names {
		if err := checkConfigName(name); err != nil {
			return nil, fmt.Errorf("module %s: %s: config = %s: %w: name a file under config/<NAME>/ of the module, as a/b.ini",
				m.Name(), s.Where(), s.String("config", ""), err)
		}
	}
	return names, nil
}

// checkConfigName says why name cannot be a [module] config name, if it
// cannot: it is a slash path relative to the config directory, without
// "." or ".." elements, that stays out of porter's own names on the host.
func checkConfigName(name string) error {
	switch {
	case strings.ContainsAny(name, "\\\x00\n\r"):
		return fmt.Errorf("%q holds a backslash, a NUL or a line break", name)
	case path.IsAbs(name):
		return fmt.Errorf("%q is an absolute path", name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("%q is not a plain relative path (no \"..\", \".\" or empty elements)", name)
		}
	}
	first, _, _ := strings.Cut(name, "/")
	if first == ledger.Dir || strings.HasPrefix(first, ledger.Dir+"-tmp-") {
		return fmt.Errorf("%q is under %s, where porter keeps its state on the host", name, ledger.Dir)
	}
	return nil
}

// configFile is one file named by [module] config, found locally.
type configFile struct {
	name  string // as in the ini: relative to the config dir and to the path
	local string
	info  fs.FileInfo // of what local names, links followed
}

// configFiles finds every file the module's [module] config names in its
// config directory, and says which is missing, with the fix.
func (m *Module) configFiles() ([]configFile, error) {
	names, err := m.configNames()
	if err != nil || len(names) == 0 {
		return nil, err
	}
	s := m.Settings()
	rel := func(p string) string { return m.project.rel(p) }
	if m.config == "" {
		return nil, fmt.Errorf("module %s: %s: config = %s: no config named (Options.Config): name the config/NAME/ directory to copy them from: %w", m.Name(), s.Where(), s.String("config", ""), ErrNoConfig)
	}
	var files []configFile
	for _, name := range names {
		local := filepath.Join(m.ConfigDir(), filepath.FromSlash(name))
		info, err := os.Stat(local)
		switch {
		case err != nil && os.IsNotExist(err):
			return nil, fmt.Errorf("module %s: config %s: %s: %w: create it, or take %s out of config = in %s",
				m.Name(), m.config, rel(local), fs.ErrNotExist, name, s.Where())
		case err != nil:
			return nil, fmt.Errorf("module %s: config %s: %w", m.Name(), m.config, err)
		case !info.Mode().IsRegular():
			return nil, fmt.Errorf("module %s: config %s: %s is not a regular file: config = names files (list the files of a directory one by one) in %s",
				m.Name(), m.config, rel(local), s.Where())
		}
		files = append(files, configFile{name: name, local: local, info: info})
	}
	return files, nil
}

// copyConfigFiles is the default handler of SigSourcePostSend of a module
// with a [module] config key: every file is found before any is written.
func copyConfigFiles(ctx context.Context, m *Module, _ any) error {
	files, err := m.configFiles()
	if err != nil {
		return err
	}
	if m.host == nil {
		return fmt.Errorf("module %s is not connected to a host", m.Name())
	}
	c, err := m.host.SFTP(ctx)
	if err != nil {
		return err
	}
	for _, f := range files {
		dst := path.Join(m.Path(), f.name)
		if err := c.MkdirAll(path.Dir(dst)); err != nil {
			return fmt.Errorf("config %s: mkdir %s: %w", f.name, path.Dir(dst), err)
		}
		in, err := os.Open(f.local)
		if err != nil {
			return fmt.Errorf("config %s: %w", f.name, err)
		}
		err = sftpx.WriteAtomic(ctx, c, dst, in, f.info.Mode(), f.info.ModTime())
		in.Close()
		if err != nil {
			return fmt.Errorf("config %s: copy %s to %s:%s: %w", f.name, m.project.rel(f.local), m.host.Name(), dst, err)
		}
		m.log.Info("config copied", "file", f.name, "to", dst)
	}
	return nil
}

// configExcludes returns the exclude patterns of the source sync that keep
// it off the files [module] config names: the config's, not the source's.
func (m *Module) configExcludes() ([]string, error) {
	names, err := m.configNames()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names {
		out = append(out, "/"+globQuote.Replace(name))
	}
	return out, nil
}

// globQuote quotes the characters of an rsync exclude pattern.
var globQuote = strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)

// checkConfigParents refuses a source tree (the checkout's directory dir)
// that holds a symlink where a [module] config file's directories go: the
// sync would ship the link, and the file would then be copied through it,
// wherever it points on the host.
func (m *Module) checkConfigParents(dir string) error {
	if dir == "" {
		return nil
	}
	names, err := m.configNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		els := strings.Split(name, "/")
		for i := 1; i < len(els); i++ {
			rel := strings.Join(els[:i], "/")
			fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				continue
			}
			target, _ := os.Readlink(filepath.Join(dir, filepath.FromSlash(rel)))
			return fmt.Errorf("module %s: %s: config = %s: %s is a symlink in the source (to %s), and %s would be copied through it on the host: make %s a directory of the source, or take it out",
				m.Name(), m.Settings().Where(), m.Settings().String("config", ""), rel, target, name, rel)
		}
	}
	return nil
}
