package rsync

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExcludePatterns(t *testing.T) {
	m, err := newMatcher([]string{".git*", "*.pyc", "cache/", "/build", "docs/*.md", "a/**/tmp", "**/gen", "x?z", "[ab]c", "# comment", "  "})
	require.NoError(t, err)
	for _, tc := range []struct {
		path string
		dir  bool
		want bool
	}{
		{".git", true, true},
		{".gitignore", false, true},
		{"sub/.gitmodules", false, true},
		{"git", false, false},
		{"x.pyc", false, true},
		{"deep/er/x.pyc", false, true},
		{"x.pyc.txt", false, false},
		{"cache", true, true},
		{"cache", false, false}, // dirs only
		{"sub/cache", true, true},
		{"build", true, true},
		{"build", false, true},
		{"sub/build", true, false}, // anchored
		{"docs/a.md", false, true},
		{"docs/sub/a.md", false, false}, // * does not cross /
		{"sub/docs/a.md", false, false},
		{"a/tmp", true, true},
		{"a/b/c/tmp", true, true},
		{"b/a/tmp", true, false},
		{"gen", true, true},
		{"p/q/gen", false, true},
		{"xyz", false, true},
		{"x/z", false, false},
		{"ac", false, true},
		{"cc", false, false},
		{"# comment", false, false},
		{".porter", true, true}, // always
		{".porter-tmp-abc", true, true},
		{"sub/.porter", true, false}, // only at the top
		{"sub/.porter-tmp-abc", false, false},
	} {
		assert.Equal(t, tc.want, m.excluded(tc.path, tc.dir), "%q dir=%v", tc.path, tc.dir)
	}
}

func TestExcludePatternErrors(t *testing.T) {
	_, err := newMatcher([]string{"!keep"})
	assert.ErrorContains(t, err, "negation")
	_, err = newMatcher([]string{"a[b"})
	assert.ErrorContains(t, err, "unterminated")
	_, err = newMatcher([]string{"/"})
	assert.ErrorContains(t, err, "matches nothing")
	m, err := newMatcher([]string{`\*literal`, "[!a]b"})
	require.NoError(t, err)
	assert.True(t, m.excluded("*literal", false))
	assert.False(t, m.excluded("xliteral", false))
	assert.True(t, m.excluded("cb", false))
	assert.False(t, m.excluded("ab", false))
}
