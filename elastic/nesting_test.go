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

// nestingBytewise is nesting as a loop over each byte, as it was: the
// reference FuzzNesting holds nesting to.
func nestingBytewise(data []byte) (depth, line int) {
	d, ln := 0, 1
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			ln++
		case '#':
			for i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		case '"', '\'':
			i = skipStringBytewise(data, i, &ln)
		case '[', '{':
			if d++; d > depth {
				depth, line = d, ln
			}
		case ']', '}':
			d--
		}
	}
	return depth, line
}

func skipStringBytewise(data []byte, i int, ln *int) int {
	q := data[i]
	multi := i+2 < len(data) && data[i+1] == q && data[i+2] == q
	if multi {
		i += 2
	}
	for i++; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			if !multi {
				return i - 1 // a single-line string left open: the decoder reports it
			}
			*ln++
		case data[i] == '\\' && q == '"':
			i++
			if i < len(data) && data[i] == '\n' {
				*ln++
			}
		case data[i] == q && !multi:
			return i
		case data[i] == q && i+2 < len(data) && data[i+1] == q && data[i+2] == q:
			return i + 2
		}
	}
	return i
}

// FuzzNesting: nesting finds the depth and line the byte loop finds,
// whatever the text.
func FuzzNesting(f *testing.F) {
	for _, s := range []string{
		"[rule]\nx = [1, [2, {a = [3]}]]\n[[rule.threat]]\n",
		"[rule]\nquery = '''\n[[[\n'''\nnote = \"\"\"\n{{{ \\\"\"\"\n]\n\"\"\"\nx = [[1]]\n",
		"q = \"a\\\"[[[\"\nx = [1]\n",
		"q = \"open\n[[x]]\n",
		"q = \"\"\"\\\n[\\",
		"# [[[[\n[rule] # {{{{",
		"q = '''a''''[\n",
		"x = \"\\",
		"x = '''\n[\n''",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, l := nesting([]byte(s))
		wd, wl := nestingBytewise([]byte(s))
		if d != wd || l != wl {
			t.Errorf("%q: depth %d at line %d, the byte loop %d at line %d", s, d, l, wd, wl)
		}
	})
}
