package porter_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/porter-deploy/porter"
)

func TestMaskCommand(t *testing.T) {
	for in, want := range map[string]string{
		"make -C build assets":                                 "make -C build assets",
		"DB_PASSWORD=hunter2 ./manage.py check":                "DB_PASSWORD=******** ./manage.py check",
		"export API_TOKEN='abc def'; run":                      "export API_TOKEN='********'; run",
		`mysql --password="a b" -e 'select 1'`:                 `mysql --password="********" -e 'select 1'`,
		"deploy --token abc123 --verbose":                      "deploy --token ******** --verbose",
		"app --api-key=k1&&app --secret-key k2":                "app --api-key=********&&app --secret-key ********",
		`curl -H "Authorization: Bearer xyz" https://x/`:       `curl -H "Authorization: ********" https://x/`,
		"curl -u bob:s3cret https://example.com/":              "curl -u bob:******** https://example.com/",
		"pip install git+https://bob:s3cret@example.com/r.git": "pip install git+https://********@example.com/r.git",
		"git clone https://ghp_token@github.com/o/r":           "git clone https://********@github.com/o/r",
		"SECRET_KEY=x AWS_SECRET_ACCESS_KEY=y env":             "SECRET_KEY=******** AWS_SECRET_ACCESS_KEY=******** env",
		`PASS\ WORD=x echo PASSWORD\=y`:                        `PASS\ WORD=x echo PASSWORD\=********`,
		"echo password; grep token file; sort -u names":        "echo password; grep token file; sort -u names",
		"monkey=1 hotkey=2 --keyboard=3":                       "monkey=1 hotkey=2 --keyboard=3",
		"--password":                                           "--password",
		"TOKEN=":                                               "TOKEN=",
	} {
		assert.Equal(t, want, porter.MaskCommand(in), in)
	}
}

func TestDescribeRun(t *testing.T) {
	assert.Equal(t, "run: cd /srv/app && TOKEN=******** make", porter.DescribeRun("cd /srv/app && TOKEN=t0k make"))
}
