package porter_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter"
	"github.com/porter-deploy/porter/portertest"
)

// loadHealthModule loads module app of a project whose [module] section
// has lines, bound to host.
func loadHealthModule(t *testing.T, host, lines string) (*porter.Module, error) {
	t.Helper()
	dir := portertest.WriteFiles(t, t.TempDir(), map[string]string{
		"project.ini": "[project]\ndepends = app\n[hosts]\nweb1 = u@a\nweb2 = u@b\n",
		"app/app.ini": "[module]\npath = /srv/app\n" + lines,
	})
	p, err := porter.LoadProject(dir)
	require.NoError(t, err)
	return porter.LoadModule(p, "app", porter.OnHost(host))
}

func TestHealthDescribe(t *testing.T) {
	for _, tc := range []struct{ lines, want string }{
		{"health = http://127.0.0.1:8000/healthz\n", "check http://127.0.0.1:8000/healthz for 200, 10 tries 1s apart"},
		{"health = http://127.0.0.1:8000/ok?x=1\nhealth_status = 2XX\nhealth_retries = 3\nhealth_interval = 250ms\n",
			"check http://127.0.0.1:8000/ok?x=1 for 2xx, 3 tries 250ms apart"},
		{"health = http://app:s3cret@127.0.0.1/\nhealth_retries = 1\n", "check http://app:xxxxx@127.0.0.1/ for 200, 1 try"},
		{"health = tcp://127.0.0.1:5432\nhealth_interval = 0\n", "check tcp://127.0.0.1:5432 connects, 10 tries 0s apart"},
		{"health_command = test -f /srv/app/current/ready\nhealth_timeout = 2s\n", `check command "test -f /srv/app/current/ready" exits 0, 10 tries 1s apart`},
		{"", ""},
		{"health =\n", ""},
	} {
		m, err := loadHealthModule(t, "web1", tc.lines)
		require.NoError(t, err, tc.lines)
		assert.Equal(t, tc.want, m.DescribeHealth(), tc.lines)
	}
}

// KEY-<host> overrides the health settings like any other: here web2
// checks another port with fewer tries, and web1 has no check at all.
func TestHealthHostOverrides(t *testing.T) {
	lines := "health = http://127.0.0.1:8000/\nhealth-web1 =\nhealth-web2 = tcp://127.0.0.1:9000\nhealth_retries-web2 = 2\n"
	web1, err := loadHealthModule(t, "web1", lines)
	require.NoError(t, err)
	assert.Equal(t, "", web1.DescribeHealth())
	web2, err := loadHealthModule(t, "web2", lines)
	require.NoError(t, err)
	assert.Equal(t, "check tcp://127.0.0.1:9000 connects, 2 tries 1s apart", web2.DescribeHealth())

	_, err = loadHealthModule(t, "web2", "health = http://127.0.0.1:8000/\nhealth_timeout-web2 = soon\n")
	assert.EqualError(t, err, `app/app.ini [module]: health_timeout = "soon": want a duration of more than 0, such as 5s or 500ms`)
}

func TestHealthSettingErrors(t *testing.T) {
	const where = "app/app.ini [module]: "
	const forms = "want http://HOST[:PORT]/PATH or tcp://HOST:PORT, with HOST as the host itself sees it (e.g. http://127.0.0.1:8000/healthz)"
	for _, tc := range []struct{ lines, want string }{
		{"health = ftp://127.0.0.1/x\n", where + `health = "ftp://127.0.0.1/x": ` + forms},
		{"health = 127.0.0.1:8000\n", where + `health = "127.0.0.1:8000": ` + forms},
		{"health = /healthz\n", where + `health = "/healthz": ` + forms},
		{"health = http:///healthz\n", where + `health = "http:///healthz": ` + forms},
		{"health = http://127.0.0.1:99999/\n", where + `health = "http://127.0.0.1:99999/": want a port from 1 to 65535 (http://HOST[:PORT]/PATH or tcp://HOST:PORT, with HOST as the host itself sees it (e.g. http://127.0.0.1:8000/healthz))`},
		{"health = https://127.0.0.1:8443/\n", where + `health = "https://127.0.0.1:8443/": want http:// or tcp://: the check reaches the port through the SSH connection, encrypted already; check the app's plain HTTP port, or use health_command`},
		{"health = tcp://127.0.0.1\n", where + `health = "tcp://127.0.0.1": want tcp://HOST:PORT, nothing more (e.g. tcp://127.0.0.1:5432)`},
		{"health = tcp://127.0.0.1:5432/db\n", where + `health = "tcp://127.0.0.1:5432/db": want tcp://HOST:PORT, nothing more (e.g. tcp://127.0.0.1:5432)`},
		{"health = tcp://u:pw@127.0.0.1:5432\n", where + `health = "tcp://u:xxxxx@127.0.0.1:5432": want tcp://HOST:PORT, nothing more (e.g. tcp://127.0.0.1:5432)`},
		{"health = http://127.0.0.1/\nhealth_command = true\n", where + "health and health_command are both set: keep one (a module has one health check)"},
		{"health_retries = 3\n", where + "health_retries is set, but there is no health check: set health = http://127.0.0.1:PORT/PATH (or tcp://HOST:PORT) or health_command = CMD, or remove health_retries"},
		{"health = http://127.0.0.1/\nhealth_timeout = 0s\n", where + `health_timeout = "0s": want a duration of more than 0, such as 5s or 500ms`},
		{"health = http://127.0.0.1/\nhealth_timeout = 5\n", where + `health_timeout = "5": want a duration of more than 0, such as 5s or 500ms`},
		{"health = http://127.0.0.1/\nhealth_interval = -1s\n", where + `health_interval = "-1s": want a duration such as 1s or 500ms (0: no wait)`},
		{"health = http://127.0.0.1/\nhealth_retries = 0\n", where + `health_retries = "0": want how many tries in all: 1 or more`},
		{"health = http://127.0.0.1/\nhealth_retries = many\n", where + `health_retries = "many": want a whole number`},
		{"health = http://127.0.0.1/\nhealth_status = ok\n", where + `health_status = "ok": want an HTTP status such as 200 or 204, or a class such as 2xx`},
		{"health = http://127.0.0.1/\nhealth_status = 600\n", where + `health_status = "600": want an HTTP status such as 200 or 204, or a class such as 2xx`},
		{"health = http://127.0.0.1/\nhealth_status = 6xx\n", where + `health_status = "6xx": want an HTTP status such as 200 or 204, or a class such as 2xx`},
		{"health = tcp://127.0.0.1:1\nhealth_status = 200\n", where + `health_status = "200": only an http:// health check has a status: remove it`},
		{"health_command = true\nhealth_status = 200\n", where + `health_status = "200": only an http:// health check has a status: remove it`},
	} {
		_, err := loadHealthModule(t, "web1", tc.lines)
		assert.EqualError(t, err, tc.want, tc.lines)
	}
	_, err := loadHealthModule(t, "web1", "health = http://127.0.0.1/\nhealth_status = ok\n")
	var se *porter.SettingError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "health_status", se.Key)
}
