package porter

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/remote"
)

// The fuzz targets of the package: `go test` runs their seeds and the
// corpus in testdata/fuzz; docs/fuzzing.md says how to fuzz them.

// maxFuzzINI bounds a fuzzed ini: go-ini's parse time grows with the
// square of the key count, so a large input measures go-ini, not porter.
const maxFuzzINI = 4 << 10

// fuzzProject writes a project of the given inis: project.ini and the
// module root (root/root.ini), plus a module web that root may name.
func fuzzProject(t *testing.T, project, root string) string {
	dir := t.TempDir()
	for name, content := range map[string]string{
		ProjectFile:     project,
		"root/root.ini": root,
		"web/web.ini":   "[module]\npath = /srv/web\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// FuzzLoadProject: whatever project.ini and a module's ini hold,
// LoadProject and LoadModule never panic: they return an error, or a
// project whose every host resolves to addresses CheckAddress accepts,
// whose order for every host holds each module once, after what it
// depends on, and whose every module loads for every host or says why.
func FuzzLoadProject(f *testing.F) {
	for _, s := range [][2]string{
		{"[project]\nname = shop\ndepends = root\n[hosts]\ntesting = deploy@t\nvbox = u@v:2222\nall = testing, vbox\n",
			"[module]\npath = /srv/root\npath-vbox = /vagrant\ndepends = web\nconfig = settings.ini\n[scm]\nurl = none://\n[release:stable]\nversion = 1\n"},
		{"[project]\ndepends = root\n", "[module]\npath = /srv/x\ndepends = root\n"},
		{"[project]\ndepends = root, web\n[modules]\nroot = web\n", "[module]\npath =\n"},
		{"[project]\ndepends = root\n[hosts]\nbad = -oProxyCommand=x\n", "[module]\npath = /srv\n"},
		{"[project]\ndepends = root\n[hosts]\ng = a, b\na = g\nb = u@b\n", "[module]\npath = /srv\n"},
		{"[project]\ndepends = root\n", "[module]\npath = /srv\nstrategy = releases\nkeep = 0\n[plugin:nope]\n"},
		{"[project]\ndepends = root\n", "[module]\npath = /srv\ndepends-x = web\n  root\nconfig = ../x\n"},
		{"[project]\ndepends = ..\n", ""},
		{"", "[module]\n"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, project, root string) {
		if len(project) > maxFuzzINI || len(root) > maxFuzzINI {
			return
		}
		p, err := LoadProject(fuzzProject(t, project, root))
		if err != nil {
			return
		}
		hosts := []string{""}
		for _, e := range p.Hosts {
			ths, err := p.Resolve(e.Name)
			require.NoError(t, err, "[hosts] %s", e.Name)
			for _, th := range ths {
				checkHostAddress(t, th.Address)
				hosts = append(hosts, th.Name)
			}
		}
		for _, h := range hosts {
			checkOrder(t, p, h)
			for _, name := range p.ModuleNames() {
				m, err := LoadModule(p, name, OnHost(h), WithConfig("testing"))
				if err != nil {
					continue
				}
				assert.False(t, strings.ContainsAny(m.Path(), "\x00\n\r"), "path %q", m.Path())
				m.Settings().Map()
			}
		}
	})
}

// checkOrder checks p's deploy order for host: each module once, after
// the modules it depends on.
func checkOrder(t *testing.T, p *Project, host string) {
	t.Helper()
	order, err := p.Order(host)
	require.NoError(t, err, "LoadProject checked the order of every host")
	seen := map[string]bool{}
	override := ""
	if host != "" {
		th, err := p.resolveOne(host)
		require.NoError(t, err)
		override = th.Override
	}
	for _, name := range order {
		require.False(t, seen[name], "%s twice in %v", name, order)
		for _, d := range p.settings(p.modules[name], "module", override).List("depends") {
			require.True(t, seen[d], "%s before its dependency %s in %v", name, d, order)
		}
		seen[name] = true
	}
}

// checkHostAddress is the property of every address a project resolves
// to: one CheckAddress accepts, no leading "-", no space or control
// character.
func checkHostAddress(t *testing.T, addr string) {
	t.Helper()
	require.NoError(t, remote.CheckAddress(addr))
	require.False(t, strings.HasPrefix(addr, "-"), "address %q", addr)
	require.Equal(t, -1, strings.IndexFunc(addr, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), "address %q", addr)
}

// FuzzHosts: a [hosts] line that loads resolves to addresses CheckAddress
// accepts (no leading "-", no space or control character), and the
// [hosts] section written back (a group's items joined by commas) loads
// to the same hosts, groups and resolutions.
func FuzzHosts(f *testing.F) {
	for _, s := range []string{
		"deploy@web1", "web1", "deploy@web3:2222", "[::1]:2222", "u@[fe80::1]", "db, deploy@web2", "db\n  u@x",
		"other", "g", "-oProxyCommand=x", "u@-h", "a b", "u@h:0", "u@h:65536", "u@h, u@h", "web, web", `"u@h"`,
		"u@h ; comment", "u@h;x", "\x1b[2J", "deploy@web1,,", "db,\n", "`u@h`",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if len(value) > maxFuzzINI {
			return
		}
		hosts := "[hosts]\nweb = " + value + "\ndb = u@db\ng = web, db\n"
		p, err := LoadProject(fuzzProject(t, "[project]\ndepends = web\n"+hosts, ""))
		if err != nil {
			return
		}
		var back strings.Builder
		back.WriteString("[project]\ndepends = web\n[hosts]\n")
		for _, e := range p.Hosts {
			line := e.Address
			if e.IsGroup() {
				line = strings.Join(e.Members, ", ")
			}
			back.WriteString(e.Name + " = " + line + "\n")
		}
		again, err := LoadProject(fuzzProject(t, back.String(), ""))
		require.NoError(t, err, "written back:\n%s", back.String())
		require.Equal(t, len(p.Hosts), len(again.Hosts))
		for i, e := range p.Hosts {
			a := again.Hosts[i]
			require.Equal(t, e.Name, a.Name)
			require.True(t, slices.Equal(e.Members, a.Members), "%v, written back %v", e.Members, a.Members)
			ths, err := p.Resolve(e.Name)
			require.NoError(t, err)
			for _, th := range ths {
				checkHostAddress(t, th.Address)
			}
			ths2, err := again.Resolve(e.Name)
			require.NoError(t, err)
			require.Equal(t, ths, ths2, "%s written back", e.Name)
		}
	})
}
