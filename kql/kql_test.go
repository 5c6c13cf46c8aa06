package kql

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
)

func TestParse(t *testing.T) {
	tests := []struct{ in, want string }{
		{`event.action: "GetCallerIdentity"`, `event.action: "GetCallerIdentity"`},
		{`event.action:GetCallerIdentity and not user.type: AssumedRole`, `event.action: GetCallerIdentity and not user.type: AssumedRole`},
		{`a:1 or b:2 and c:3`, `a: 1 or (b: 2 and c: 3)`},
		{`a:(x or y)`, `a: x or a: y`},
		{`a:(* and not (AMAZON* or Amazon*))`, `a: * and not (a: AMAZON* or a: Amazon*)`},
		{`source.ip:*`, `source.ip: *`},
		{`user.id: *\:i-*`, `user.id: *\:i-*`},
		{`a:(*S3 Browser* or *Cyberduck*)`, `a: *S3 Browser* or a: *Cyberduck*`},
		{`a: "MongoDB, Inc."`, `a: "MongoDB, Inc."`},
		{`NOT a:b AND c:d OR e:f`, `(not a: b and c: d) or e: f`},
		{`x >= 10 and y < "b"`, `x >= 10 and y < "b"`},
		{`items:{ name: a and v: 1 }`, `items: { name: a and v: 1 }`},
		{`foo bar`, `"foo bar"`},
		{`a: \or`, `a: "or"`},
		{`a: x\*y`, `a: x\*y`},
		{`a: "x\"y\\"`, `a: "x\"y\\"`},
		{`not (a:1 or b:2)`, `not (a: 1 or b: 2)`},
		{`a:b
		  and c:d`, `a: b and c: d`},
	}
	for _, tt := range tests {
		n, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := Format(n); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseValues(t *testing.T) {
	n, err := Parse(`aws.cloudtrail.request_parameters: (*lambda\:InvokeFunction* and *principal=\**)`)
	if err != nil {
		t.Fatal(err)
	}
	and := n.(And)
	m := and.Nodes[1].(Match)
	if !m.Value.Wildcard || len(m.Value.Parts) != 3 || m.Value.Parts[1] != "principal=*" {
		t.Fatalf("escaped star: %#v", m.Value)
	}
	m = and.Nodes[0].(Match)
	if m.Value.Parts[1] != "lambda:InvokeFunction" {
		t.Fatalf("escaped colon: %#v", m.Value)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in        string
		line, col int
	}{
		{`a:`, 1, 3},
		{`a:(b or`, 1, 8},
		{`a:"unterminated`, 1, 3},
		{"a:b and\n  (c:d", 2, 7},
		{`a:b)`, 1, 4},
		{`a*:b`, 1, 1},
		{`a: x\q`, 1, 5},
		{``, 1, 1},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q) = %v, want a position error", tt.in, err)
			continue
		}
		if e.Line() != tt.line || e.Col() != tt.col {
			t.Errorf("Parse(%q) error at %d:%d (%v), want %d:%d", tt.in, e.Line(), e.Col(), err, tt.line, tt.col)
		}
	}
}

// Every kuery query of Elastic's AWS rules parses.
func TestCorpusQueriesParse(t *testing.T) {
	dir := "../../shared/corpus/elastic-rules"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared corpus not found at %s: %v", dir, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.toml"))
	more, _ := filepath.Glob(filepath.Join(dir, "_deprecated", "*.toml"))
	files = append(files, more...)
	n := 0
	for _, f := range files {
		var r struct {
			Rule struct{ Language, Query string }
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := toml.Unmarshal(data, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if r.Rule.Language != "kuery" {
			continue
		}
		n++
		if _, err := Parse(r.Rule.Query); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
	if n < 150 {
		t.Errorf("only %d kuery queries found", n)
	}
	t.Logf("%d kuery queries parsed", n)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`a:b and not c:(d or e*)`, `x >= 1`, `a:{b:c}`, `"q\"x"`, `a: \:\* or b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := Parse(q)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error without position: %v", err)
			}
			_ = e.Line() + e.Col()
			return
		}
		// The normalised form parses to the same normalised form.
		s := Format(n)
		if strings.Contains(s, `\not`) {
			return // KQL cannot write a lowercase keyword-like "not " inside a wildcard value (\n is a newline)
		}
		n2, err := Parse(s)
		if err != nil {
			t.Fatalf("Format output %q does not parse: %v", s, err)
		}
		if s2 := Format(n2); s2 != s {
			t.Fatalf("round trip %q -> %q -> %q", q, s, s2)
		}
	})
}

// unquotedByByte is unquoted as it was before it copied plain ASCII in
// runs: every byte looked at on its own (the reference FuzzUnquotedRuns
// checks unquoted against).
func (p *parser) unquotedByByte() (Value, error) {
	start := p.pos
	parts := []string{""}
	var b strings.Builder
	wildcard := false
	for !p.eof() {
		c := p.q[p.pos]
		if c == '\\' {
			if p.pos+1 >= len(p.q) {
				return Value{}, p.errf("unfinished escape at end of query")
			}
			r, n, err := p.escape(false)
			if err != nil {
				return Value{}, err
			}
			b.WriteString(r)
			p.pos += n
			continue
		}
		if c == '*' {
			wildcard = true
			parts[len(parts)-1] = b.String()
			parts = append(parts, "")
			b.Reset()
			p.pos++
			continue
		}
		if strings.IndexByte(`():<>"{}`, c) >= 0 {
			break
		}
		if isSpace(c) {
			// white space ends the literal if a keyword or special follows
			j := p.pos
			for j < len(p.q) && isSpace(p.q[j]) {
				j++
			}
			if j == len(p.q) || strings.IndexByte(`():<>"{}`, p.q[j]) >= 0 {
				break
			}
			if _, ok := p.keywordAt(j, "or"); ok {
				break
			}
			if _, ok := p.keywordAt(j, "and"); ok {
				break
			}
			if _, ok := p.keywordAt(j, "not"); ok {
				break
			}
			b.WriteString(p.q[p.pos:j])
			p.pos = j
			continue
		}
		r, n := utf8.DecodeRuneInString(p.q[p.pos:])
		if r == utf8.RuneError && n == 1 {
			return Value{}, p.errf("invalid UTF-8")
		}
		b.WriteString(p.q[p.pos : p.pos+n])
		p.pos += n
	}
	parts[len(parts)-1] = b.String()
	if p.pos == start {
		return Value{}, p.errf("expected a value, found %s", p.found())
	}
	return Value{Parts: parts, Wildcard: wildcard}, nil
}

// FuzzUnquotedRuns: unquoted, which copies runs of plain ASCII at once,
// reads any text as unquotedByByte does: the same value, error and end.
func FuzzUnquotedRuns(f *testing.F) {
	for _, s := range []string{`abc`, `a*b\*c d`, `BedrockAPIKey-* and x`, `*/.aws/credentials or`, `é\u00e9x`,
		`a b or c`, `a  not b`, `a\ b)`, "a\tb\n", `x\`, "\xff", `a"b`, `1.2.3.4}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p, ref := &parser{q: q}, &parser{q: q}
		v, err := p.unquoted()
		w, werr := ref.unquotedByByte()
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() ||
			p.pos != ref.pos || v.Wildcard != w.Wildcard || strings.Join(v.Parts, "\x00") != strings.Join(w.Parts, "\x00") || len(v.Parts) != len(w.Parts) {
			t.Fatalf("%q: unquoted %#v %v at %d, by byte %#v %v at %d", q, v, err, p.pos, w, werr, ref.pos)
		}
	})
}
