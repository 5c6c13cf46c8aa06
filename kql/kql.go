// Package kql parses the Kibana Query Language.
//
// It follows Kibana's grammar: `or` < `and` < `not` precedence, field:value
// with value groups `field:(a or b and not c)`, quoted and unquoted values
// (unquoted values may contain inner spaces and `*` wildcards), escapes
// (\: \* \( \) \\ \" \< \> \{ \} \t \n \r \uXXXX, escaped keywords), exists
// (`field:*`), ranges (`field >= 10`), nested queries (`field:{ ... }`) and
// free-text values searched across all fields.
package kql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Node is a parsed KQL expression.
type Node interface{ node() }

// And is a conjunction.
type And struct{ Nodes []Node }

// Or is a disjunction.
type Or struct{ Nodes []Node }

// Not negates a node.
type Not struct{ Node Node }

// Match is field:value. An empty Field searches every field.
type Match struct {
	Field string
	Value Value
}

// Exists is field:*.
type Exists struct{ Field string }

// Range is field <op> value with Op one of < <= > >=.
type Range struct {
	Field string
	Op    string
	Value Value
}

// Nested is field:{ query }, a query over the objects of a nested field.
type Nested struct {
	Field string
	Query Node
}

func (And) node()    {}
func (Or) node()     {}
func (Not) node()    {}
func (Match) node()  {}
func (Exists) node() {}
func (Range) node()  {}
func (Nested) node() {}

// Value is a literal. When Wildcard is true, Parts are the literal pieces
// between `*` wildcards (so `*a*b` is ["", "a", "b"]); otherwise Parts has
// one element, the exact value.
type Value struct {
	Parts    []string
	Wildcard bool
	Quoted   bool
}

// Text is the value with wildcards written as `*` (for display).
func (v Value) Text() string { return strings.Join(v.Parts, "*") }

func (v Value) String() string {
	if v.Quoted || (!v.Wildcard && (v.Parts[0] == "" || strings.ContainsAny(v.Parts[0], " \t\n\r") || isKeyword(v.Parts[0]))) {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\t", `\t`, "\n", `\n`, "\r", `\r`)
		return `"` + r.Replace(v.Parts[0]) + `"`
	}
	var b strings.Builder
	wordStart := true
	for i, p := range v.Parts {
		if i > 0 {
			b.WriteByte('*')
			wordStart = false
		}
		for j, r := range p {
			if wordStart {
				for _, kw := range []string{"or", "and", "not"} {
					k := j + len(kw)
					if len(p) >= k && strings.EqualFold(p[j:k], kw) && (k == len(p) || isSpace(p[k]) || p[k] == '(') {
						b.WriteByte('\\')
						break
					}
				}
			}
			switch r {
			case '\t':
				b.WriteString(`\t`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			default:
				if strings.ContainsRune(`\():<>"*{}`, r) {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
			wordStart = r == ' '
		}
	}
	return b.String()
}

// Error is a parse error at a byte offset of the query.
type Error struct {
	Query  string
	Offset int
	Msg    string
}

// Line and Col give the error position (1-based).
func (e *Error) Line() int { return 1 + strings.Count(e.Query[:e.Offset], "\n") }

// Col is the 1-based column (in characters) of the error.
func (e *Error) Col() int {
	start := strings.LastIndexByte(e.Query[:e.Offset], '\n') + 1
	return 1 + utf8.RuneCountInString(e.Query[start:e.Offset])
}

func (e *Error) Error() string {
	return fmt.Sprintf("KQL line %d column %d: %s", e.Line(), e.Col(), e.Msg)
}

// Parse parses a KQL query.
func Parse(q string) (Node, error) {
	p := &parser{q: q}
	p.space()
	if p.eof() {
		return nil, p.errf("empty query")
	}
	n, err := p.orExpr("")
	if err != nil {
		return nil, err
	}
	p.space()
	if !p.eof() {
		return nil, p.errf("expected `and`, `or` or end of query, found %s", p.found())
	}
	return n, nil
}

type parser struct {
	q     string
	pos   int
	depth int
}

const maxDepth = 200

func (p *parser) eof() bool { return p.pos >= len(p.q) }

func (p *parser) errf(format string, args ...any) error {
	return &Error{Query: p.q, Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) found() string {
	if p.eof() {
		return "end of query"
	}
	r, _ := utf8.DecodeRuneInString(p.q[p.pos:])
	return strconv.QuoteRune(r)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) space() int {
	start := p.pos
	for p.pos < len(p.q) && isSpace(p.q[p.pos]) {
		p.pos++
	}
	return p.pos - start
}

// keywordAt reports whether keyword kw (case-insensitive) starts at i and is
// followed by white space (or, for `not`, also by '(' ), returning the
// position after it.
func (p *parser) keywordAt(i int, kw string) (int, bool) {
	if i+len(kw) > len(p.q) || !strings.EqualFold(p.q[i:i+len(kw)], kw) {
		return 0, false
	}
	j := i + len(kw)
	if j < len(p.q) && (isSpace(p.q[j]) || (kw == "not" && p.q[j] == '(')) {
		return j, true
	}
	return 0, false
}

// binaryKeyword consumes ` or ` / ` and ` (white space before is required
// and already skipped by the caller only if present).
func (p *parser) binaryKeyword(kw string) bool {
	save := p.pos
	if p.space() == 0 && save > 0 && p.q[save-1] != ')' && p.q[save-1] != '"' && p.q[save-1] != '}' {
		p.pos = save
		return false
	}
	if j, ok := p.keywordAt(p.pos, kw); ok {
		p.pos = j
		p.space()
		return true
	}
	p.pos = save
	return false
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errf("query nested deeper than %d levels", maxDepth)
	}
	return nil
}

// orExpr parses disjunctions. field != "" means inside a value group.
func (p *parser) orExpr(field string) (Node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	var nodes []Node
	for {
		n, err := p.andExpr(field)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
		if !p.binaryKeyword("or") {
			break
		}
	}
	if len(nodes) == 1 {
		return nodes[0], nil
	}
	return Or{nodes}, nil
}

func (p *parser) andExpr(field string) (Node, error) {
	var nodes []Node
	for {
		n, err := p.notExpr(field)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
		if !p.binaryKeyword("and") {
			break
		}
	}
	if len(nodes) == 1 {
		return nodes[0], nil
	}
	return And{nodes}, nil
}

func (p *parser) notExpr(field string) (Node, error) {
	p.space()
	if j, ok := p.keywordAt(p.pos, "not"); ok {
		p.pos = j
		p.space()
		if err := p.enter(); err != nil {
			return nil, err
		}
		n, err := p.notExpr(field)
		p.depth--
		if err != nil {
			return nil, err
		}
		return Not{n}, nil
	}
	return p.primary(field)
}

func (p *parser) expect(c byte, what string) error {
	p.space()
	if p.eof() || p.q[p.pos] != c {
		return p.errf("expected %s, found %s", what, p.found())
	}
	p.pos++
	return nil
}

func (p *parser) primary(field string) (Node, error) {
	p.space()
	if p.eof() {
		return nil, p.errf("expected a field, value or `(`, found end of query")
	}
	if p.q[p.pos] == '(' {
		p.pos++
		p.space()
		n, err := p.orExpr(field)
		if err != nil {
			return nil, err
		}
		if err := p.expect(')', "`)`"); err != nil {
			return nil, err
		}
		return n, nil
	}
	if field != "" {
		// inside a value group: a value for field
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return valueNode(field, v), nil
	}
	// field:value, field <op> value, field:{...}, or a free-text value
	start := p.pos
	lit, err := p.value()
	if err != nil {
		return nil, err
	}
	save := p.pos
	p.space()
	if p.eof() {
		p.pos = save
		return valueNode("", lit), nil
	}
	switch c := p.q[p.pos]; {
	case c == ':':
		name, err := p.fieldName(lit, start)
		if err != nil {
			return nil, err
		}
		p.pos++
		p.space()
		if p.eof() {
			return nil, p.errf("expected a value after `:`, found end of query")
		}
		switch p.q[p.pos] {
		case '(':
			p.pos++
			p.space()
			n, err := p.orExpr(name)
			if err != nil {
				return nil, err
			}
			if err := p.expect(')', "`)`"); err != nil {
				return nil, err
			}
			return n, nil
		case '{':
			p.pos++
			p.space()
			n, err := p.orExpr("")
			if err != nil {
				return nil, err
			}
			if err := p.expect('}', "`}`"); err != nil {
				return nil, err
			}
			return Nested{Field: name, Query: n}, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		return valueNode(name, v), nil
	case c == '<' || c == '>':
		name, err := p.fieldName(lit, start)
		if err != nil {
			return nil, err
		}
		op := string(c)
		p.pos++
		if !p.eof() && p.q[p.pos] == '=' {
			op += "="
			p.pos++
		}
		p.space()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if v.Wildcard {
			return nil, p.errf("a range value cannot contain wildcards")
		}
		return Range{Field: name, Op: op, Value: v}, nil
	}
	p.pos = save
	return valueNode("", lit), nil
}

func (p *parser) fieldName(v Value, start int) (string, error) {
	if v.Wildcard {
		return "", &Error{Query: p.q, Offset: start, Msg: "wildcard field names are not supported"}
	}
	if v.Parts[0] == "" {
		return "", &Error{Query: p.q, Offset: start, Msg: "empty field name"}
	}
	return v.Parts[0], nil
}

func valueNode(field string, v Value) Node {
	if v.Wildcard && len(v.Parts) == 2 && v.Parts[0] == "" && v.Parts[1] == "" && field != "" {
		return Exists{Field: field}
	}
	return Match{Field: field, Value: v}
}

// value parses a quoted or unquoted literal.
func (p *parser) value() (Value, error) {
	p.space()
	if p.eof() {
		return Value{}, p.errf("expected a value, found end of query")
	}
	if p.q[p.pos] == '"' {
		return p.quoted()
	}
	return p.unquoted()
}

func (p *parser) quoted() (Value, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	for {
		if p.eof() {
			return Value{}, &Error{Query: p.q, Offset: start, Msg: "unterminated quoted string"}
		}
		c := p.q[p.pos]
		switch c {
		case '"':
			p.pos++
			return Value{Parts: []string{b.String()}, Quoted: true}, nil
		case '\\':
			if p.pos+1 >= len(p.q) {
				return Value{}, p.errf("unfinished escape at end of query")
			}
			r, n, err := p.escape(true)
			if err != nil {
				return Value{}, err
			}
			b.WriteString(r)
			p.pos += n
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
}

// escape decodes the escape sequence at pos; quoted selects the set allowed
// inside quotes.
func (p *parser) escape(quoted bool) (string, int, error) {
	c := p.q[p.pos+1]
	switch c {
	case 't':
		return "\t", 2, nil
	case 'n':
		return "\n", 2, nil
	case 'r':
		return "\r", 2, nil
	case 'u':
		if p.pos+6 > len(p.q) {
			return "", 0, p.errf("invalid \\u escape")
		}
		n, err := strconv.ParseUint(p.q[p.pos+2:p.pos+6], 16, 32)
		if err != nil {
			return "", 0, p.errf("invalid \\u escape")
		}
		return string(rune(n)), 6, nil
	case '\\', '"':
		return string(c), 2, nil
	}
	if !quoted {
		if strings.IndexByte(`():<>*{}`, c) >= 0 {
			return string(c), 2, nil
		}
		for _, kw := range []string{"or", "and", "not"} {
			if p.pos+1+len(kw) <= len(p.q) && strings.EqualFold(p.q[p.pos+1:p.pos+1+len(kw)], kw) {
				return p.q[p.pos+1 : p.pos+1+len(kw)], 1 + len(kw), nil
			}
		}
	}
	r, _ := utf8.DecodeRuneInString(p.q[p.pos+1:])
	return "", 0, p.errf("invalid escape \\%c", r)
}

// unquotedStop are the ASCII bytes unquoted looks at one by one: escapes,
// wildcards, specials and white space; the others are copied in runs.
var unquotedStop = func() (stop [utf8.RuneSelf]bool) {
	for _, c := range []byte(`\*():<>"{} ` + "\t\n\r") {
		stop[c] = true
	}
	return stop
}()

// unquoted parses an unquoted literal: it may contain inner white space but
// ends before a keyword surrounded by white space, a special character, or
// the end; surrounding white space is trimmed.
func (p *parser) unquoted() (Value, error) {
	start := p.pos
	parts := []string{""}
	var b strings.Builder
	wildcard := false
	for !p.eof() {
		c := p.q[p.pos]
		if c < utf8.RuneSelf && !unquotedStop[c] {
			// a run of plain ASCII, written at once (most values are)
			j := p.pos + 1
			for j < len(p.q) && p.q[j] < utf8.RuneSelf && !unquotedStop[p.q[j]] {
				j++
			}
			b.WriteString(p.q[p.pos:j])
			p.pos = j
			continue
		}
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

// Format renders a node as KQL (normalised), for display.
func Format(n Node) string {
	switch n := n.(type) {
	case And:
		return join(n.Nodes, " and ")
	case Or:
		return join(n.Nodes, " or ")
	case Not:
		return "not " + paren(n.Node)
	case Match:
		if n.Field == "" {
			return n.Value.String()
		}
		return fieldString(n.Field) + ": " + n.Value.String()
	case Exists:
		return fieldString(n.Field) + ": *"
	case Range:
		return fieldString(n.Field) + " " + n.Op + " " + n.Value.String()
	case Nested:
		return fieldString(n.Field) + ": { " + Format(n.Query) + " }"
	}
	return "?"
}

func isKeyword(s string) bool {
	return strings.EqualFold(s, "or") || strings.EqualFold(s, "and") || strings.EqualFold(s, "not")
}

func fieldString(f string) string { return Value{Parts: []string{f}}.String() }

func paren(n Node) string {
	switch n.(type) {
	case And, Or:
		return "(" + Format(n) + ")"
	}
	return Format(n)
}

func join(nodes []Node, sep string) string {
	s := make([]string, len(nodes))
	for i, c := range nodes {
		s[i] = paren(c)
	}
	return strings.Join(s, sep)
}
