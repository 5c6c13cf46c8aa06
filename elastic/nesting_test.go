package elastic

import (
	"strings"
	"testing"
)

func TestNesting(t *testing.T) {
	cases := []struct {
		name        string
		text        string
		depth, line int
	}{
		{"tables and arrays", "[rule]\nx = [1, [2, {a = [3]}]]\n[[rule.threat]]\n", 4, 2},
		{"brackets in strings", "[rule]\nquery = \"[[[{{{\"\nq2 = '[[[['\n", 1, 1},
		{"brackets in multi-line strings", "[rule]\nquery = '''\n[[[\n'''\nnote = \"\"\"\n{{{ \\\"\"\"\n]\n\"\"\"\nx = [[1]]\n", 2, 9},
		{"escaped quote", "[rule]\nq = \"a\\\"[[[\"\nx = [1]\n", 1, 1},
		{"comments", "# [[[[\n[rule] # {{{{\n", 1, 2},
		{"deep", "[rule]\nx = " + strings.Repeat("{a=", 500) + "1" + strings.Repeat("}", 500), 500, 2},
	}
	for _, c := range cases {
		if d, l := nesting([]byte(c.text)); d != c.depth || l != c.line {
			t.Errorf("%s: depth %d at line %d, want %d at line %d", c.name, d, l, c.depth, c.line)
		}
	}
}

// A rule file nesting values too deeply is an error naming the file and
// line, not a decoder running out of memory (100,000 nested inline tables,
// 500 KB, took more than 3 GB).
func TestParseTooDeep(t *testing.T) {
	for _, open := range []string{"{a=", "["} {
		closeS := map[string]string{"{a=": "}", "[": "]"}[open]
		text := "[rule]\nrule_id = \"r\"\nx = " + strings.Repeat(open, 100000) + "1" + strings.Repeat(closeS, 100000) + "\n"
		_, err := Parse("deep.toml", []byte(text))
		if err == nil || !strings.Contains(err.Error(), "deep.toml:3") || !strings.Contains(err.Error(), "nest") {
			t.Errorf("%s x 100000: %v", open, err)
		}
	}
}
