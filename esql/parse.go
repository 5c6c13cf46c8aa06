package esql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/glob"
)

// Parse parses an ES|QL query. Errors carry the line and column.
func Parse(src string) (*Query, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	q.Text = src
	return q, nil
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int // how deeply the expression being parsed nests, see deeper
}

// maxDepth bounds how deeply an expression nests: each parenthesis, NOT,
// unary sign and function call is a level, and so is each further operand
// of a chain (a OR b OR c) or cast (x::a::b), which nests as deep in the
// tree the parser builds and that compiling and evaluation walk
// recursively. Elastic's AWS ES|QL rules nest 14 levels at most (a WHERE
// of ten ANDs, one a NOT over two parentheses), ours 5; 100,000 levels
// took up to 500 MB, and 100,000 ORs 97 s, to load.
const maxDepth = 500

// deeper enters one more level of nesting, failing past maxDepth at the
// next token. Callers restore the depth they started at on return.
func (p *parser) deeper() {
	if p.depth++; p.depth > maxDepth {
		p.fail(p.peek().pos, "expression nested deeper than %d levels", maxDepth)
	}
}

func (p *parser) restore(depth int) { p.depth = depth }

type parseError struct{ err *Error }

func (p *parser) fail(pos int, format string, args ...any) {
	panic(parseError{errAt(p.src, pos, format, args...)})
}

// unsupported stops parsing at valid ES|QL that trailhound does not run.
func (p *parser) unsupported(pos int, format string, args ...any) {
	e := errAt(p.src, pos, format, args...)
	e.Unsupported = true
	panic(parseError{e})
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// kw reports whether the next token is the keyword k (case-insensitive).
func (p *parser) kw(k string) bool {
	t := p.peek()
	return t.kind == tIdent && !t.quoted && strings.EqualFold(t.text, k)
}

func (p *parser) acceptKW(k string) bool {
	if p.kw(k) {
		p.i++
		return true
	}
	return false
}

func (p *parser) op(o string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == o
}

func (p *parser) acceptOp(o string) bool {
	if p.op(o) {
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
	t := p.peek()
	if t.kind == tEOF {
		return "end of query"
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) ident() string {
	t := p.peek()
	if t.kind != tIdent {
		p.fail(t.pos, "expected a name, found %s", p.describe())
	}
	p.i++
	return t.text
}

func (p *parser) query() (q *Query, err error) {
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			q, err = nil, pe.err
		}
	}()
	q = &Query{}
	switch {
	case p.acceptKW("FROM"):
		for {
			t := p.next()
			if t.kind != tIdent && t.kind != tString {
				p.fail(t.pos, "expected an index pattern")
			}
			name := t.text
			// index patterns may contain '-' and '*': glue adjacent tokens
			for !p.op(",") && !p.op("|") && p.peek().kind != tEOF && !p.kw("METADATA") && p.peek().pos == t.pos+len(name) {
				nt := p.next()
				name += nt.text
			}
			q.Indexes = append(q.Indexes, name)
			if !p.acceptOp(",") {
				break
			}
		}
		if p.acceptKW("METADATA") {
			for {
				q.Metadata = append(q.Metadata, p.ident())
				if !p.acceptOp(",") {
					break
				}
			}
		}
	case p.kw("ROW"), p.kw("SHOW"), p.kw("TS"):
		p.unsupported(p.peek().pos, "source command %s is not supported (queries run over events: use FROM)", strings.ToUpper(p.peek().text))
	default:
		p.fail(p.peek().pos, "a query starts with FROM, found %s", p.describe())
	}
	var starts []int // where each command starts, for errors
	for p.acceptOp("|") {
		starts = append(starts, p.peek().pos)
		q.Commands = append(q.Commands, p.command())
	}
	if p.peek().kind != tEOF {
		p.fail(p.peek().pos, "expected | or end of query, found %s", p.describe())
	}
	if err := checkColumns(q, p.src, starts); err != nil {
		return nil, err
	}
	return q, nil
}

func (p *parser) command() Command {
	t := p.peek()
	if t.kind != tIdent {
		p.fail(t.pos, "expected a command, found %s", p.describe())
	}
	p.i++
	switch strings.ToUpper(t.text) {
	case "WHERE":
		return Where{p.expr()}
	case "EVAL":
		return Eval{p.assigns()}
	case "STATS":
		return p.stats()
	case "KEEP":
		return Keep{p.patterns()}
	case "DROP":
		return Drop{p.patterns()}
	case "RENAME":
		var r Rename
		for {
			from := p.ident()
			if !p.acceptKW("AS") {
				p.fail(p.peek().pos, "expected AS")
			}
			r.From, r.To = append(r.From, from), append(r.To, p.ident())
			if !p.acceptOp(",") {
				return r
			}
		}
	case "SORT":
		var s Sort
		for {
			k := SortKey{Expr: p.expr()}
			if p.acceptKW("DESC") {
				k.Desc = true
			} else {
				p.acceptKW("ASC")
			}
			k.NullsFirst = k.Desc // ES|QL: nulls are largest
			if p.acceptKW("NULLS") {
				switch {
				case p.acceptKW("FIRST"):
					k.NullsFirst = true
				case p.acceptKW("LAST"):
					k.NullsFirst = false
				default:
					p.fail(p.peek().pos, "expected FIRST or LAST")
				}
			}
			s.Keys = append(s.Keys, k)
			if !p.acceptOp(",") {
				return s
			}
		}
	case "LIMIT":
		n := p.next()
		v, err := strconv.Atoi(n.text)
		if n.kind != tNumber || err != nil || v < 0 {
			p.fail(n.pos, "LIMIT needs a non-negative integer")
		}
		return Limit{v}
	case "MV_EXPAND":
		return MvExpand{p.ident()}
	case "DISSECT":
		in := p.primary()
		pt := p.next()
		if pt.kind != tString {
			p.fail(pt.pos, "DISSECT needs a pattern string")
		}
		dp, err := parseDissect(pt.text)
		if err != nil {
			p.fail(pt.pos, "dissect pattern: %v", err)
		}
		d := Dissect{Input: in, Pattern: dp}
		if p.acceptKW("APPEND_SEPARATOR") {
			p.expectOp("=")
			st := p.next()
			if st.kind != tString {
				p.fail(st.pos, "APPEND_SEPARATOR needs a string")
			}
			d.Separator = st.text
		}
		return d
	case "GROK":
		in := p.primary()
		pt := p.next()
		if pt.kind != tString {
			p.fail(pt.pos, "GROK needs a pattern string")
		}
		gp, err := parseGrok(pt.text)
		if err != nil {
			p.fail(pt.pos, "grok pattern: %v", err)
		}
		return Grok{Input: in, Pattern: gp}
	}
	if knownCommands[strings.ToUpper(t.text)] {
		p.unsupported(t.pos, "command %s is not supported", strings.ToUpper(t.text))
	}
	p.fail(t.pos, "unknown command %s", t.text)
	return nil
}

// patterns parses KEEP/DROP column patterns: names with `*` wildcards.
func (p *parser) patterns() []string {
	var out []string
	for {
		t := p.peek()
		if t.kind != tIdent && !(t.kind == tOp && t.text == "*") {
			p.fail(t.pos, "expected a column name or pattern, found %s", p.describe())
		}
		p.i++
		name, end := t.text, t.pos+len(t.text)
		if t.quoted {
			end += 2
		}
		for n := p.peek(); (n.kind == tIdent && !n.quoted || n.kind == tOp && n.text == "*") && n.pos == end; n = p.peek() {
			p.i++
			name += n.text
			end += len(n.text)
		}
		out = append(out, name)
		if !p.acceptOp(",") {
			return out
		}
	}
}

// assigns parses `[name =] expr, ...`.
func (p *parser) assigns() []Assign {
	var out []Assign
	for {
		out = append(out, p.assign())
		if !p.acceptOp(",") {
			return out
		}
	}
}

func (p *parser) assign() Assign {
	start := p.peek().pos
	if t := p.peek(); t.kind == tIdent && p.toks[p.i+1].kind == tOp && p.toks[p.i+1].text == "=" {
		p.i += 2
		return Assign{Name: t.text, Expr: p.expr()}
	}
	e := p.expr()
	return Assign{Name: p.textFrom(start), Expr: e}
}

// textFrom is the query text from start to the end of the last token read
// (not the comments or blanks before the next one): the name ES|QL gives an
// unnamed expression.
func (p *parser) textFrom(start int) string {
	return p.src[start:max(start, p.toks[p.i-1].end)]
}

// knownCommands are ES|QL processing commands trailhound does not run.
var knownCommands = map[string]bool{"ENRICH": true, "LOOKUP": true, "CHANGE_POINT": true, "FORK": true, "RERANK": true, "COMPLETION": true, "SAMPLE": true, "INLINESTATS": true, "INLINE": true, "FUSE": true}

var aggFuncs = map[string]bool{"COUNT": true, "COUNT_DISTINCT": true, "VALUES": true, "MIN": true, "MAX": true, "SUM": true, "AVG": true, "MEDIAN": true, "TOP": true}

func (p *parser) stats() Stats {
	var s Stats
	if !p.kw("BY") {
		for {
			start := p.peek().pos
			name := ""
			if t := p.peek(); t.kind == tIdent && p.toks[p.i+1].kind == tOp && p.toks[p.i+1].text == "=" {
				p.i += 2
				name = t.text
			}
			ft := p.peek()
			e := p.expr()
			call, ok := e.(Call)
			if !ok || !aggFuncs[call.Name] {
				p.unsupported(ft.pos, "STATS supports aggregate functions (%s) directly, not expressions over them", "COUNT, COUNT_DISTINCT, VALUES, MIN, MAX, SUM, AVG, MEDIAN, TOP")
			}
			a := Agg{Name: name, Func: call.Name}
			if len(call.Args) > 0 {
				if f, ok := call.Args[0].(Field); !ok || f.Name != "*" {
					a.Arg = call.Args[0]
				}
				a.Args = call.Args[1:]
			}
			if a.Arg == nil && a.Func != "COUNT" {
				p.fail(ft.pos, "%s needs an argument", a.Func)
			}
			if p.acceptKW("WHERE") {
				a.Filter = p.expr()
			}
			if a.Name == "" {
				a.Name = p.textFrom(start)
			}
			s.Aggs = append(s.Aggs, a)
			if !p.acceptOp(",") {
				break
			}
		}
	}
	if p.acceptKW("BY") {
		s.By = p.assigns()
	}
	if len(s.Aggs) == 0 && len(s.By) == 0 {
		p.fail(p.peek().pos, "STATS needs aggregates or BY")
	}
	return s
}

// Expressions, by precedence: OR, AND, NOT, comparison/predicates,
// additive, multiplicative, unary, postfix cast, primary.
func (p *parser) expr() Expr {
	defer p.restore(p.depth)
	p.deeper()
	return p.or()
}

func (p *parser) or() Expr {
	defer p.restore(p.depth)
	l := p.and()
	for p.acceptKW("OR") {
		p.deeper()
		l = Binary{"OR", l, p.and()}
	}
	return l
}

func (p *parser) and() Expr {
	defer p.restore(p.depth)
	l := p.not()
	for p.acceptKW("AND") {
		p.deeper()
		l = Binary{"AND", l, p.not()}
	}
	return l
}

func (p *parser) not() Expr {
	if p.acceptKW("NOT") {
		defer p.restore(p.depth)
		p.deeper()
		return Not{p.not()}
	}
	return p.predicate()
}

func (p *parser) predicate() Expr {
	defer p.restore(p.depth)
	l := p.additive()
	for {
		switch {
		case p.op("=="), p.op("!="), p.op("<"), p.op("<="), p.op(">"), p.op(">="), p.op("=~"):
			p.deeper()
			op := p.next().text
			l = Binary{op, l, p.additive()}
		case p.kw("IS"):
			p.deeper()
			p.i++
			not := p.acceptKW("NOT")
			if !p.acceptKW("NULL") {
				p.fail(p.peek().pos, "expected NULL after IS")
			}
			l = IsNull{l, not}
		case p.kw("NOT") && p.i+1 < len(p.toks) && (p.isKWAt(p.i+1, "IN") || p.isKWAt(p.i+1, "LIKE") || p.isKWAt(p.i+1, "RLIKE")):
			p.deeper()
			p.i++
			l = p.postfixPredicate(l, true)
		case p.kw("IN"), p.kw("LIKE"), p.kw("RLIKE"):
			p.deeper()
			l = p.postfixPredicate(l, false)
		default:
			return l
		}
	}
}

func (p *parser) isKWAt(i int, k string) bool {
	t := p.toks[i]
	return t.kind == tIdent && !t.quoted && strings.EqualFold(t.text, k)
}

func (p *parser) postfixPredicate(l Expr, not bool) Expr {
	t := p.next()
	switch strings.ToUpper(t.text) {
	case "IN":
		p.expectOp("(")
		var list []Expr
		for {
			list = append(list, p.expr())
			if !p.acceptOp(",") {
				break
			}
		}
		p.expectOp(")")
		return In{l, list, not}
	default:
		regex := strings.EqualFold(t.text, "RLIKE")
		pt := p.next()
		if pt.kind != tString {
			p.fail(pt.pos, "%s needs a pattern string", strings.ToUpper(t.text))
		}
		lk := &Like{X: l, Pattern: pt.text, Regex: regex, Not: not}
		var err error
		if regex {
			lk.match, err = luceneRegexp(pt.text)
		} else {
			lk.match, err = likePattern(pt.text)
		}
		if err != nil {
			p.fail(pt.pos, "%s pattern: %v", strings.ToUpper(t.text), err)
		}
		return lk
	}
}

func (p *parser) additive() Expr {
	defer p.restore(p.depth)
	l := p.multiplicative()
	for p.op("+") || p.op("-") {
		p.deeper()
		op := p.next().text
		l = Binary{op, l, p.multiplicative()}
	}
	return l
}

func (p *parser) multiplicative() Expr {
	defer p.restore(p.depth)
	l := p.unary()
	for p.op("*") || p.op("/") || p.op("%") {
		p.deeper()
		op := p.next().text
		l = Binary{op, l, p.unary()}
	}
	return l
}

func (p *parser) unary() Expr {
	defer p.restore(p.depth)
	if p.acceptOp("-") {
		p.deeper()
		return Neg{p.unary()}
	}
	if p.acceptOp("+") {
		p.deeper()
		return p.unary()
	}
	e := p.primary()
	for p.acceptOp("::") {
		p.deeper()
		e = Cast{e, strings.ToLower(p.ident())}
	}
	return e
}

var timeUnits = map[string]time.Duration{
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond, "ms": time.Millisecond,
	"second": time.Second, "seconds": time.Second, "sec": time.Second, "s": time.Second,
	"minute": time.Minute, "minutes": time.Minute, "min": time.Minute,
	"hour": time.Hour, "hours": time.Hour, "h": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour, "d": 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

func (p *parser) primary() Expr {
	t := p.next()
	switch t.kind {
	case tNumber:
		var v Value
		if i, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			v = i
		} else if f, err := strconv.ParseFloat(t.text, 64); err == nil {
			v = f
		} else {
			p.fail(t.pos, "bad number %q", t.text)
		}
		// a time span: `5 minute`
		if u := p.peek(); u.kind == tIdent && !u.quoted {
			if d, ok := timeUnits[strings.ToLower(u.text)]; ok {
				p.i++
				n, _ := toFloat(v)
				return Lit{time.Duration(n * float64(d))}
			}
		}
		return Lit{v}
	case tString:
		return Lit{t.text}
	case tOp:
		switch t.text {
		case "(":
			e := p.expr()
			p.expectOp(")")
			return e
		case "*":
			return Field{"*"} // COUNT(*)
		case "?":
			p.fail(t.pos, "query parameters (?) are not supported")
		}
		p.fail(t.pos, "unexpected %q", t.text)
	case tIdent:
		if !t.quoted {
			switch {
			case strings.EqualFold(t.text, "NULL"):
				return Lit{nil}
			case strings.EqualFold(t.text, "TRUE"):
				return Lit{true}
			case strings.EqualFold(t.text, "FALSE"):
				return Lit{false}
			}
			if p.op("(") {
				p.i++
				c := Call{Name: strings.ToUpper(t.text), Pos: t.pos}
				if !p.acceptOp(")") {
					for {
						c.Args = append(c.Args, p.expr())
						if !p.acceptOp(",") {
							break
						}
					}
					p.expectOp(")")
				}
				if err := checkCall(c); err != nil {
					p.unsupported(t.pos, "%v", err)
				}
				return c
			}
		}
		return Field{t.text}
	}
	p.fail(t.pos, "unexpected %s", p.describe())
	return nil
}

// likePattern compiles an ES|QL LIKE pattern: `*` any run, `?` one
// character, `\` escapes; the whole value must match; case-sensitive.
func likePattern(pat string) (func(string) bool, error) {
	if parts, ok := globParts(pat); ok {
		return func(s string) bool { return glob.Match(parts, s) }, nil
	}
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			if i+1 < len(pat) {
				i++
				b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
		}
	}
	b.WriteString(`)$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, err
	}
	return re.MatchString, nil
}

// luceneRegexp compiles a Lucene regular expression (ES|QL RLIKE, EQL regex)
// as an anchored RE2 expression. Lucene's syntax is a subset of RE2's for
// what rules use; `"` and `@` are literal.
func luceneRegexp(pat string) (func(string) bool, error) {
	re, err := regexp.Compile(LuceneToRE2(pat))
	if err != nil {
		return nil, err
	}
	return re.MatchString, nil
}

// LuceneToRE2 translates a Lucene regular expression into an anchored RE2
// expression.
func LuceneToRE2(pat string) string {
	var b strings.Builder
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch {
		case c == '\\' && i+1 < len(pat):
			i++
			n := pat[i]
			if strings.IndexByte(`.?+*|{}[]()"\#@&<>~^$`, n) >= 0 {
				b.WriteString(regexp.QuoteMeta(string(n)))
			} else {
				b.WriteByte('\\')
				b.WriteByte(n)
			}
		case c == '"' || c == '@' || c == '&' || c == '<' || c == '>' || c == '#' || c == '~':
			b.WriteString(regexp.QuoteMeta(string(c)))
		default:
			b.WriteByte(c)
		}
	}
	return `^(?s:` + b.String() + `)$`
}

// globParts splits a LIKE pattern without `?` into the literal parts between
// its `*`s; ok is false when it has a `?`.
func globParts(pat string) ([]string, bool) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; {
		case c == '\\' && i+1 < len(pat):
			i++
			cur.WriteByte(pat[i])
		case c == '?':
			return nil, false
		case c == '*':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String()), true
}
