// Package eql parses Elastic's Event Query Language and lowers it to
// trailhound's rule conditions: single-event queries to a condition, and
// sequences to one condition per step.
package eql

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Query is a parsed EQL query.
type Query struct {
	Category string // single-event query: the event category ("any" for all)
	Where    Expr
	Sequence *Sequence
}

// Sequence is `sequence [by ...] [with maxspan=...] [step]... [until [step]]`.
type Sequence struct {
	By      []Expr
	MaxSpan time.Duration
	Steps   []Step
	Until   *Step
}

// Step is one bracketed query of a sequence.
type Step struct {
	Category string
	Where    Expr
	By       []Expr
	Runs     int
}

// Expr is an EQL expression.
type Expr interface{ expr() }

type (
	// Field is a field reference.
	Field struct{ Name string }
	// Lit is a string, number, boolean or null literal.
	Lit struct{ V any }
	// Call is a function call; Insensitive for name~(...).
	Call struct {
		Name        string
		Args        []Expr
		Insensitive bool
	}
	// Binary is a comparison, arithmetic or logical operation.
	Binary struct {
		Op   string // == != < <= > >= + - * / % and or
		L, R Expr
	}
	// Not negates.
	Not struct{ X Expr }
	// Match is `x : v`, `x like v`, `x regex v` (with ~ for
	// case-insensitive), or `x in (...)`, with one or more values.
	Match struct {
		X           Expr
		Op          string // ":" like regex in
		Insensitive bool
		Values      []Expr
	}
)

func (Field) expr()  {}
func (Lit) expr()    {}
func (Call) expr()   {}
func (Binary) expr() {}
func (Not) expr()    {}
func (Match) expr()  {}

// Error is a syntax error at a byte offset.
type Error struct {
	Pos       int
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

type token struct {
	kind byte // 'i' ident, 's' string, 'n' number, 'o' operator, 0 EOF
	text string
	pos  int
}

func errAt(src string, pos int, format string, args ...any) *Error {
	pos = min(pos, len(src))
	line := 1 + strings.Count(src[:pos], "\n")
	col := pos - strings.LastIndexByte(src[:pos], '\n')
	return &Error{pos, line, col, fmt.Sprintf(format, args...)}
}

func lex(src string) ([]token, error) {
	var out []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errAt(src, i, "unterminated comment")
			}
			i += end + 4
		case strings.HasPrefix(src[i:], `"""`):
			end := strings.Index(src[i+3:], `"""`)
			if end < 0 {
				return nil, errAt(src, i, "unterminated string")
			}
			out = append(out, token{'s', src[i+3 : i+3+end], i})
			i += end + 6
		case strings.HasPrefix(src[i:], `?"`) || strings.HasPrefix(src[i:], `?'`):
			q := src[i+1]
			end := strings.IndexByte(src[i+2:], q)
			if end < 0 {
				return nil, errAt(src, i, "unterminated raw string")
			}
			out = append(out, token{'s', src[i+2 : i+2+end], i})
			i += end + 3
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case '"', '\'', '\\':
						b.WriteByte(src[j])
					default:
						return nil, errAt(src, j-1, "invalid escape \\%c", src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, errAt(src, i, "unterminated string")
			}
			out = append(out, token{'s', b.String(), i})
			i = j + 1
		case c == '`':
			end := strings.IndexByte(src[i+1:], '`')
			if end < 0 {
				return nil, errAt(src, i, "unterminated quoted field")
			}
			out = append(out, token{'i', src[i+1 : i+1+end], i})
			i += end + 2
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.') {
				j++
			}
			// time units of maxspan: 15m, 30s, 1h, 2d, 500ms
			k := j
			for k < len(src) && (src[k] >= 'a' && src[k] <= 'z') {
				k++
			}
			out = append(out, token{'n', src[i:k], i})
			i = k
		case c == '_' || c == '@' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] == '@' || src[j] == '.' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			out = append(out, token{'i', src[i:j], i})
			i = j
		default:
			for _, op := range []string{"==", "!=", "<=", ">=", "<", ">", ":", "(", ")", "[", "]", ",", "~", "+", "-", "*", "/", "%", "="} {
				if strings.HasPrefix(src[i:], op) {
					out = append(out, token{'o', op, i})
					i += len(op)
					goto next
				}
			}
			return nil, errAt(src, i, "unexpected character %q", c)
		next:
		}
	}
	return append(out, token{0, "", len(src)}), nil
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int // how deeply the expression being parsed nests, see deeper
}

// maxDepth bounds how deeply an expression nests: each parenthesis, not,
// unary minus and function call is a level, and so is each further
// operand of a chain (a or b or c), which nests as deep in the tree the
// parser builds and that lowering and evaluation walk recursively.
// Elastic's AWS EQL rules nest 15 levels at most (an `and` of five ending
// in a parenthesised `or` of nine function calls), ours 5; 100,000 levels
// took 160-330 MB, and 100,000 `or`s 90 s, to load.
const maxDepth = 500

// deeper enters one more level of nesting, failing past maxDepth at the
// next token. Callers restore the depth they started at on return.
func (p *parser) deeper() {
	if p.depth++; p.depth > maxDepth {
		p.fail(p.peek().pos, "expression nested deeper than %d levels", maxDepth)
	}
}

func (p *parser) restore(depth int) { p.depth = depth }

type failure struct{ err *Error }

func (p *parser) fail(pos int, format string, args ...any) {
	panic(failure{errAt(p.src, pos, format, args...)})
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != 0 {
		p.i++
	}
	return t
}
func (p *parser) isKW(k string) bool {
	t := p.peek()
	return t.kind == 'i' && strings.EqualFold(t.text, k)
}
func (p *parser) acceptKW(k string) bool {
	if p.isKW(k) {
		p.i++
		return true
	}
	return false
}
func (p *parser) isOp(o string) bool { t := p.peek(); return t.kind == 'o' && t.text == o }
func (p *parser) acceptOp(o string) bool {
	if p.isOp(o) {
		p.i++
		return true
	}
	return false
}
func (p *parser) expectOp(o string) {
	if !p.acceptOp(o) {
		p.fail(p.peek().pos, "expected %q, found %s", o, p.describe())
	}
}
func (p *parser) describe() string {
	if t := p.peek(); t.kind != 0 {
		return strconv.Quote(t.text)
	}
	return "end of query"
}

// Parse parses an EQL query.
func Parse(src string) (q *Query, err error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			q, err = nil, f.err
		}
	}()
	q = &Query{}
	if p.acceptKW("sequence") {
		q.Sequence = p.sequence()
	} else {
		q.Category, q.Where = p.eventQuery()
	}
	if t := p.peek(); t.kind != 0 {
		if t.kind == 'o' && t.text == "|" || t.text == "|" {
			p.fail(t.pos, "pipes are not supported")
		}
		p.fail(t.pos, "unexpected %s after the query", p.describe())
	}
	return q, nil
}

func (p *parser) eventQuery() (string, Expr) {
	t := p.next()
	if t.kind != 'i' && t.kind != 's' {
		p.fail(t.pos, "expected an event category, found %q", t.text)
	}
	if strings.EqualFold(t.text, "sample") || strings.EqualFold(t.text, "join") {
		p.fail(t.pos, "%s queries are not supported", t.text)
	}
	if !p.acceptKW("where") {
		p.fail(p.peek().pos, "expected where, found %s", p.describe())
	}
	return t.text, p.expr()
}

func (p *parser) sequence() *Sequence {
	s := &Sequence{}
	for {
		switch {
		case p.acceptKW("by"):
			s.By = p.exprList()
			continue
		case p.acceptKW("with"):
			if !p.acceptKW("maxspan") {
				p.fail(p.peek().pos, "expected maxspan")
			}
			p.expectOp("=")
			t := p.next()
			d, err := parseSpan(t.text)
			if err != nil {
				p.fail(t.pos, "maxspan: %v", err)
			}
			s.MaxSpan = d
			continue
		}
		break
	}
	for p.isOp("[") {
		s.Steps = append(s.Steps, p.step())
	}
	if len(s.Steps) < 2 {
		p.fail(p.peek().pos, "a sequence needs at least two steps")
	}
	if p.acceptKW("until") {
		st := p.step()
		s.Until = &st
	}
	for i, st := range s.Steps {
		if len(st.By) != len(s.Steps[0].By) {
			p.fail(p.peek().pos, "step %d has %d join keys, step 1 has %d", i+1, len(st.By), len(s.Steps[0].By))
		}
	}
	return s
}

func (p *parser) step() Step {
	p.expectOp("[")
	var st Step
	st.Category, st.Where = p.eventQuery()
	p.expectOp("]")
	if p.acceptKW("by") {
		st.By = p.exprList()
	}
	if p.acceptKW("with") {
		if !p.acceptKW("runs") {
			p.fail(p.peek().pos, "expected runs")
		}
		p.expectOp("=")
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if err != nil || n < 1 {
			p.fail(t.pos, "runs needs a positive integer")
		}
		st.Runs = n
	}
	return st
}

func parseSpan(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("bad time span %q", s)
	}
	unit := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[s[i:]]
	if unit == 0 {
		return 0, fmt.Errorf("bad time unit in %q (ms, s, m, h, d)", s)
	}
	return time.Duration(n * float64(unit)), nil
}

func (p *parser) exprList() []Expr {
	var out []Expr
	for {
		out = append(out, p.additive())
		if !p.acceptOp(",") {
			return out
		}
	}
}

func (p *parser) expr() Expr {
	defer p.restore(p.depth)
	p.deeper()
	l := p.and()
	for p.acceptKW("or") {
		p.deeper()
		l = Binary{"or", l, p.and()}
	}
	return l
}

func (p *parser) and() Expr {
	defer p.restore(p.depth)
	l := p.not()
	for p.acceptKW("and") {
		p.deeper()
		l = Binary{"and", l, p.not()}
	}
	return l
}

func (p *parser) not() Expr {
	if p.acceptKW("not") {
		defer p.restore(p.depth)
		p.deeper()
		return Not{p.not()}
	}
	return p.comparison()
}

func (p *parser) comparison() Expr {
	defer p.restore(p.depth)
	l := p.additive()
	for {
		t := p.peek()
		switch {
		case t.kind == 'o' && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">="):
			p.i++
			p.deeper()
			l = Binary{t.text, l, p.additive()}
		case t.kind == 'o' && t.text == ":":
			p.i++
			p.deeper()
			l = Match{X: l, Op: ":", Insensitive: true, Values: p.values()}
		case p.isKW("like"), p.isKW("regex"), p.isKW("in"):
			p.i++
			p.deeper()
			m := Match{X: l, Op: strings.ToLower(t.text), Insensitive: p.acceptOp("~")}
			if m.Op == "in" {
				m.Values = p.parenList()
			} else {
				m.Values = p.values()
			}
			l = m
		case p.isKW("not") && p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1].text, "in"):
			p.i += 2
			p.deeper()
			l = Not{Match{X: l, Op: "in", Insensitive: p.acceptOp("~"), Values: p.parenList()}}
		default:
			return l
		}
	}
}

func (p *parser) parenList() []Expr {
	p.expectOp("(")
	var out []Expr
	for {
		out = append(out, p.additive())
		if !p.acceptOp(",") {
			break
		}
	}
	p.expectOp(")")
	return out
}

// values is one value or a parenthesised list.
func (p *parser) values() []Expr {
	if p.isOp("(") {
		return p.parenList()
	}
	return []Expr{p.additive()}
}

func (p *parser) additive() Expr {
	defer p.restore(p.depth)
	l := p.multiplicative()
	for p.isOp("+") || p.isOp("-") {
		p.deeper()
		op := p.next().text
		l = Binary{op, l, p.multiplicative()}
	}
	return l
}

func (p *parser) multiplicative() Expr {
	defer p.restore(p.depth)
	l := p.unary()
	for p.isOp("*") || p.isOp("/") || p.isOp("%") {
		p.deeper()
		op := p.next().text
		l = Binary{op, l, p.unary()}
	}
	return l
}

func (p *parser) unary() Expr {
	if p.acceptOp("-") {
		defer p.restore(p.depth)
		p.deeper()
		return Binary{"-", Lit{int64(0)}, p.unary()}
	}
	return p.primary()
}

func (p *parser) primary() Expr {
	t := p.next()
	switch t.kind {
	case 's':
		return Lit{t.text}
	case 'n':
		if i, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			return Lit{i}
		}
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			p.fail(t.pos, "bad number %q", t.text)
		}
		return Lit{f}
	case 'o':
		if t.text == "(" {
			e := p.expr()
			p.expectOp(")")
			return e
		}
	case 'i':
		switch strings.ToLower(t.text) {
		case "true":
			return Lit{true}
		case "false":
			return Lit{false}
		case "null":
			return Lit{nil}
		}
		if p.isOp("(") || p.isOp("~") && p.toks[p.i+1].text == "(" {
			c := Call{Name: t.text, Insensitive: p.acceptOp("~")}
			p.expectOp("(")
			if !p.acceptOp(")") {
				for {
					c.Args = append(c.Args, p.expr())
					if !p.acceptOp(",") {
						break
					}
				}
				p.expectOp(")")
			}
			if _, ok := functions[strings.ToLower(c.Name)]; !ok {
				p.fail(t.pos, "function %s is not supported", c.Name)
			}
			return c
		}
		return Field{t.text}
	}
	p.fail(t.pos, "unexpected %q", t.text)
	return nil
}
