package porter

import (
	"path/filepath"
	"testing"

	"github.com/porter-deploy/porter/portertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fleetHosts = "[hosts]\n" +
	"web1 = deploy@web1\n" +
	"production = web1, deploy@web2,\n  deploy@web3:2222\n" +
	"db = deploy@db1\n" +
	"all = production, db\n" +
	"stage = stage\n"

func TestHostGroupsResolve(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n" + fleetHosts,
		"a/a.ini":     "[module]\npath = /srv/a\npath-production = /srv/prod\npath-web1 = /srv/web1\n",
	})
	names := func(sel string) []string {
		hs, err := p.Resolve(sel)
		require.NoError(t, err, sel)
		var out []string
		for _, h := range hs {
			out = append(out, h.Name+"="+h.Address+"/"+h.Override)
		}
		return out
	}
	prod := []string{"web1=deploy@web1/web1", "deploy@web2=deploy@web2/production", "deploy@web3:2222=deploy@web3:2222/production"}
	assert.Equal(t, prod, names("production"))
	assert.Equal(t, append(prod, "db=deploy@db1/db"), names("all"))
	assert.Equal(t, append(prod, "db=deploy@db1/db"), names("all,production , db"), "each host once, in the order named")
	assert.Equal(t, []string{"db=deploy@db1/db", "deploy@web2=deploy@web2/production"}, names("db,deploy@web2"))
	assert.Equal(t, []string{"stage=stage/stage"}, names("stage"), "a line whose item is its own name is an ssh_config alias")

	e, _ := p.hostEntry("production")
	assert.True(t, e.IsGroup())
	assert.Equal(t, []string{"web1", "deploy@web2", "deploy@web3:2222"}, e.Members)

	// Overrides: a listed address takes the group's, a named host its own.
	for host, want := range map[string]string{"deploy@web2": "/srv/prod", "web1": "/srv/web1", "db": "/srv/a"} {
		m, err := LoadModule(p, "a", OnHost(host))
		require.NoError(t, err)
		assert.Equal(t, want, m.Path(), host)
		assert.Equal(t, host, m.HostName())
	}

	_, err := p.Resolve("web9")
	assert.ErrorIs(t, err, ErrUnknownHost)
	assert.EqualError(t, err, `unknown host "web9": valid hosts: web1, production, db, all, stage`)
	_, err = p.Resolve(" , ")
	assert.ErrorIs(t, err, ErrUnknownHost)
	_, err = p.HostAddress("production")
	assert.EqualError(t, err, "production names 3 hosts: name one of them")
	_, err = LoadModule(p, "a", OnHost("all"))
	assert.EqualError(t, err, "all names 4 hosts: name one of them")
}

func TestHostGroupErrorsNameTheLine(t *testing.T) {
	for name, tc := range map[string]struct{ hosts, want string }{
		"space instead of comma": {"fleet = root@a root@b\n", `[hosts] fleet: address "root@a root@b": " " at byte 6`},
		"bad port":               {"fleet = root@a, root@b:99999\n", `[hosts] fleet: address "root@b:99999": bad port "99999": want a number from 1 to 65535: write user@host[:port]`},
		"leading dash":           {"fleet = -oProxyCommand=sh\n", `[hosts] fleet: address "-oProxyCommand=sh": starts with "-"`},
		"empty user":             {"fleet = @a\n", `[hosts] fleet: address "@a": empty user before @`},
		"listed twice":           {"a = u@x, u@y\nb = u@y, u@z\n", `[hosts] b: u@y is listed by a too: give it a line of its own (web1 = u@y) and list that name`},
		"cycle":                  {"a = u@x, b\nb = u@y, a\n", `[hosts]: groups list each other: a -> b -> a`},
		"lists itself":           {"a = u@x, a\n", `[hosts] a: lists itself`},
		"bad name":               {"a,b = u@x\n", `holds a comma, @ or a space`},
		"only commas":            {"a = , ,\n", `[hosts] a has no address`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadProject(portertest.WriteFiles(t, t.TempDir(), map[string]string{
				"project.ini": "[project]\ndepends = a\n[hosts]\n" + tc.hosts,
				"a/a.ini":     moduleINI(""),
			}))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "project.ini")
		})
	}
}

func TestTargetRefusesOneMachineUnderTwoNames(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n" + fleetHosts,
		"a/a.ini":     moduleINI(""),
	})
	_, err := Target{Host: "production", Addresses: map[string]string{"deploy@web2": "deploy@web1"}}.hosts(p)
	assert.EqualError(t, err, "production: web1 and deploy@web2 are both deploy@web1: name the host once")
	hs, err := Target{Host: "production", Addresses: map[string]string{"deploy@web2": "deploy@web9"}}.hosts(p)
	require.NoError(t, err)
	assert.Equal(t, "deploy@web9", hs[1].Address)
}

// TestHostLineWithTrailingComma is what FuzzHosts found: a host's line
// with a stray comma ("web = deploy@web1,") is that one host, and its
// address is the item, not the line as written (which no ssh can take).
func TestHostLineWithTrailingComma(t *testing.T) {
	p := newProject(t, map[string]string{
		"project.ini": "[project]\ndepends = a\n[hosts]\nweb = deploy@web1,,\ndb = ,deploy@db1\n",
		"a/a.ini":     "[module]\npath = /srv/a\n",
	})
	for name, want := range map[string]string{"web": "deploy@web1", "db": "deploy@db1"} {
		addr, err := p.HostAddress(name)
		require.NoError(t, err)
		assert.Equal(t, want, addr)
		e, _ := p.hostEntry(name)
		assert.False(t, e.IsGroup(), name)
	}
}

// TestHostItemWithINICharacter is what FuzzHosts found: "0,#" was a
// group of hosts "0" and "#", while "0, #" is the host "0" and a comment;
// " ,`" was the host "`", which written back no longer loads. An item
// holding a character the ini reads specially (someone commenting a host
// out without a space) is refused.
func TestHostItemWithINICharacter(t *testing.T) {
	for line, want := range map[string]string{
		"u@a,#u@b": `"#u@b" holds "#"`, "u@a,;u@b": `";u@b" holds ";"`, "u@a#x": `"u@a#x" holds "#"`,
		" ,`": "\"`\" holds \"`\"", `u@a, u"b`: `"u\"b" holds "\""`, `u@a\b, c`: `"u@a\\b" holds "\\"`,
	} {
		dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
			"project.ini": "[project]\ndepends = a\n[hosts]\nweb = " + line + "\n",
			"a/a.ini":     "[module]\npath = /srv/a\n",
		})
		_, err := LoadProject(dir)
		assert.EqualError(t, err, filepath.Join(dir, "project.ini")+" [hosts] web: "+want+", which no address holds (a comment goes after a space: web = user@a ; a note)", line)
	}
}
