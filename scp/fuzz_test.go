package scp

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz target of the package: `go test` runs its seeds and the corpus
// in testdata/fuzz; docs/fuzzing.md says how to fuzz it.

// fillByHand is what ReplacePlaceholders promises, written the plain way:
// left to right, at each place the longest __KEY__ that starts there
// (then the first by name) is replaced by its value, and the scan goes on
// after it, never into the value.
func fillByHand(content string, values map[string]string) string {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return len(keys[i]) > len(keys[j]) || len(keys[i]) == len(keys[j]) && keys[i] < keys[j]
	})
	var b strings.Builder
	for i := 0; i < len(content); {
		matched := false
		for _, k := range keys {
			if p := "__" + k + "__"; strings.HasPrefix(content[i:], p) {
				b.WriteString(values[k])
				i += len(p)
				matched = true
				break
			}
		}
		if !matched {
			b.WriteByte(content[i])
			i++
		}
	}
	return b.String()
}

// FuzzPlaceholders: the filler replaces exactly what fillByHand does (a
// value is written as is, never scanned again), leaves a file without a
// placeholder as it is, and refuses an empty key or one holding "__".
func FuzzPlaceholders(f *testing.F) {
	f.Add("command=__env__/bin/gunicorn\n", "env", "/venv", "project", "/srv/$(x)")
	f.Add("__a__b__ __a__", "a", "1", "a__b", "2")
	f.Add("__a_b__ __a__ __b__", "a_b", "__a__", "a", "__b__")
	f.Add("____x____", "x", "y", "_x_", "z")
	f.Add("no placeholder", "k", "v", "k2", "v2")
	f.Add("__k__", "", "v", "k", "v")
	f.Add("__k__", "a__b", "v", "k", "v")
	f.Add("\x00__é__\xff", "é", "\n", "k", "")
	f.Fuzz(func(t *testing.T, content, k1, v1, k2, v2 string) {
		values := map[string]string{k1: v1, k2: v2}
		rep, err := placeholderReplacer(values)
		for _, k := range []string{k1, k2} {
			if k == "" || strings.Contains(k, "__") {
				require.ErrorContains(t, err, `a key is a non-empty name without "__" (it is written __KEY__ in the file)`)
				return
			}
		}
		require.NoError(t, err)
		got := rep.Replace(content)
		assert.Equal(t, fillByHand(content, values), got)
		if !strings.Contains(content, "__"+k1+"__") && !strings.Contains(content, "__"+k2+"__") {
			assert.Equal(t, content, got, "no placeholder: untouched")
		}
	})
}
