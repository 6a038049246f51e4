package porter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CreateProject makes a new project directory dir holding a working project
// named after it: project.ini with two hosts, and one module "app" whose
// source is its src/ directory, with testing and production configs. It
// refuses a dir that already exists.
func CreateProject(dir string) error {
	name := filepath.Base(filepath.Clean(dir))
	if name == "." || name == string(filepath.Separator) || strings.ContainsAny(name, " \t\n") {
		return fmt.Errorf("create-project %q: want a plain directory name, e.g. myproject", dir)
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("create-project %s: %w: choose another name or remove it", dir, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create-project %s: %w", dir, err)
	}
	files := map[string]string{
		ProjectFile: fmt.Sprintf(`[project]
name = %s
; the root modules, deployed with their depends, dependencies first
depends = app

[hosts]
; NAME = user@host[:port]  (or an alias of ~/.ssh/config)
testing = deploy@testing.example.com
production = deploy@production.example.com

[modules]
; NAME = directory, when a module does not live in ./NAME
`, name),
		"app/app.ini": fmt.Sprintf(`[module]
; where the source goes on the host; KEY-<host> overrides KEY on that host
path = /srv/%s/app
path-testing = /srv/%s-testing/app
; depends = other,modules
; exclude = *.log, tmp/
; delete = false
; files of config/<--config>/ copied into path once the source is sent
config = settings.ini

[scm]
; git://<repository url>, dir://<local directory>, or none://
url = dir://src

[release:stable]
; git: branch = NAME, tag = NAME or commit = ID; none: version = x.y.z
`, name, name),
		"app/src/index.html":                 "<h1>" + name + "</h1>\n",
		"app/config/testing/settings.ini":    "[app]\ndebug = true\n",
		"app/config/production/settings.ini": "[app]\ndebug = false\n",
	}
	for rel, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create-project: %w", err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("create-project: %w", err)
		}
	}
	return nil
}
