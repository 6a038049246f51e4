package clilog

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLinesNameHostAndModuleFirst(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(New(&b, false)).With("host", "demo", "module", "api")
	log.Info("source sent", "path", "basic/api", "files", 2)
	log.Debug("hidden")
	log.Warn("careful", "host", "root@127.0.0.1:22", "note", "two words")
	assert.Equal(t, "[demo] api: source sent path=basic/api files=2\n"+
		"WARN [demo] api: careful address=root@127.0.0.1:22 note=\"two words\"\n", b.String())
}

func TestVerboseShowsDebugWithTimes(t *testing.T) {
	var b bytes.Buffer
	slog.New(New(&b, true)).Debug("dialing")
	assert.Regexp(t, `^\d\d:\d\d:\d\d DEBUG dialing\n$`, b.String())
}

func TestHostTextIsEscapedAndCannotStartALine(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(New(&b, false)).With("host", "demo\x1b[31m", "module", "api")
	log.Info("unchanged\x1b[2J\r", "by", "eve\x1b[2J\x1b[31m\rbob", "note", "one\nforged", "bidi", "a\u202eb", "ok", "plain")
	assert.Equal(t, `[demo\x1b[31m] api: unchanged\x1b[2J\x0d by="eve\x1b[2J\x1b[31m\rbob" note="one\nforged" bidi="a\u202eb" ok=plain`+"\n", b.String())
}
