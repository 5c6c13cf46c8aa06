package eql

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/trailhound/trailhound/esql"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
)

// functions are the EQL functions trailhound evaluates, by lower-case name.
var functions = map[string]func(args []any, insensitive bool) any{
	"stringcontains": func(a []any, ci bool) any {
		s, t, ok := twoStrings(a, ci)
		return ok && strings.Contains(s, t)
	},
	"startswith": func(a []any, ci bool) any {
		s, t, ok := twoStrings(a, ci)
		return ok && strings.HasPrefix(s, t)
	},
	"endswith": func(a []any, ci bool) any {
		s, t, ok := twoStrings(a, ci)
		return ok && strings.HasSuffix(s, t)
	},
	"indexof": func(a []any, ci bool) any {
		s, t, ok := twoStrings(a, ci)
		if !ok {
			return nil
		}
		from := 0
		if len(a) > 2 {
			if f, ok := num(a[2]); ok {
				from = min(max(int(f), 0), len(s))
			}
		}
		i := strings.Index(s[from:], t)
		if i < 0 {
			return nil
		}
		return int64(i + from)
	},
	"length": func(a []any, _ bool) any {
		if s, ok := a[0].(string); ok {
			return int64(len([]rune(s)))
		}
		return nil
	},
	"substring": func(a []any, _ bool) any {
		s, ok := a[0].(string)
		if !ok || len(a) < 2 {
			return nil
		}
		r := []rune(s)
		at := func(v any) int {
			f, _ := num(v)
			i := int(f)
			if i < 0 {
				i += len(r)
			}
			return min(max(i, 0), len(r))
		}
		start, end := at(a[1]), len(r)
		if len(a) > 2 {
			end = at(a[2])
		}
		if end < start {
			return ""
		}
		return string(r[start:end])
	},
	"concat": func(a []any, _ bool) any {
		var b strings.Builder
		for _, v := range a {
			if v == nil {
				return nil
			}
			b.WriteString(toString(v))
		}
		return b.String()
	},
	"number": func(a []any, _ bool) any {
		s, ok := a[0].(string)
		if !ok {
			return a[0]
		}
		base := 10
		if len(a) > 1 {
			if f, ok := num(a[1]); ok {
				base = int(f)
			}
		}
		if i, err := strconv.ParseInt(strings.TrimPrefix(s, "0x"), base, 64); err == nil {
			return i
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		return nil
	},
	"string": func(a []any, _ bool) any {
		if a[0] == nil {
			return nil
		}
		return toString(a[0])
	},
	"between": func(a []any, ci bool) any {
		if len(a) < 3 {
			return nil
		}
		s, ok1 := a[0].(string)
		l, ok2 := a[1].(string)
		r, ok3 := a[2].(string)
		if !ok1 || !ok2 || !ok3 {
			return nil
		}
		hay := s
		if ci {
			hay, l, r = strings.ToLower(s), strings.ToLower(l), strings.ToLower(r)
		}
		i := strings.Index(hay, l)
		if i < 0 {
			return ""
		}
		rest := i + len(l)
		j := strings.Index(hay[rest:], r)
		if j < 0 {
			return ""
		}
		return s[rest : rest+j]
	},
	"cidrmatch": func(a []any, _ bool) any {
		s, ok := a[0].(string)
		if !ok {
			return nil
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		for _, c := range a[1:] {
			if cs, ok := c.(string); ok {
				if p, err := netip.ParsePrefix(cs); err == nil && p.Contains(ip) {
					return true
				}
			}
		}
		return false
	},
	"add":      arith("+"),
	"subtract": arith("-"),
	"multiply": arith("*"),
	"divide":   arith("/"),
	"modulo":   arith("%"),
}

func arith(op string) func([]any, bool) any {
	return func(a []any, _ bool) any {
		if len(a) != 2 {
			return nil
		}
		return binaryArith(op, a[0], a[1])
	}
}

func binaryArith(op string, l, r any) any {
	x, ok1 := num(l)
	y, ok2 := num(r)
	if !ok1 || !ok2 {
		return nil
	}
	var v float64
	switch op {
	case "+":
		v = x + y
	case "-":
		v = x - y
	case "*":
		v = x * y
	case "/":
		if y == 0 {
			return nil
		}
		v = x / y
	case "%":
		if y == 0 {
			return nil
		}
		v = math.Mod(x, y)
	}
	return v
}

func twoStrings(a []any, ci bool) (string, string, bool) {
	if len(a) < 2 {
		return "", "", false
	}
	s, ok1 := a[0].(string)
	t, ok2 := a[1].(string)
	if ci {
		s, t = strings.ToLower(s), strings.ToLower(t)
	}
	return s, t, ok1 && ok2
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// Lower turns a single-event query into a condition. categoryField is the
// field the event category tests (event.category, or the rule's
// event_category_override).
func Lower(category string, where Expr, categoryField string) (rule.Cond, error) {
	c, err := lower(where)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(category, "any") {
		c = rule.And{Conds: []rule.Cond{rule.Cmp{Field: categoryField, Op: rule.OpEq, Values: []string{category}}, c}}
	}
	return rule.Simplify(c), nil
}

func lower(e Expr) (rule.Cond, error) {
	switch e := e.(type) {
	case Binary:
		switch e.Op {
		case "and", "or":
			l, err := lower(e.L)
			if err != nil {
				return nil, err
			}
			r, err := lower(e.R)
			if err != nil {
				return nil, err
			}
			if e.Op == "and" {
				return rule.And{Conds: []rule.Cond{l, r}}, nil
			}
			return rule.Or{Conds: []rule.Cond{l, r}}, nil
		case "==", "!=":
			if f, lit, ok := fieldLit(e.L, e.R); ok {
				var c rule.Cond
				if lit.V == nil {
					c = rule.Not{Cond: rule.Cmp{Field: f.Name, Op: rule.OpExists}}
				} else {
					c = rule.Cmp{Field: f.Name, Op: rule.OpEq, Values: []string{toString(lit.V)}}
				}
				if e.Op == "!=" {
					c = rule.Not{Cond: c}
				}
				return c, nil
			}
		case "<", "<=", ">", ">=":
			if f, ok := e.L.(Field); ok {
				if lit, ok := e.R.(Lit); ok && lit.V != nil {
					op := map[string]rule.Op{"<": rule.OpLT, "<=": rule.OpLTE, ">": rule.OpGT, ">=": rule.OpGTE}[e.Op]
					return rule.Cmp{Field: f.Name, Op: op, Values: []string{toString(lit.V)}}, nil
				}
			}
		}
	case Not:
		x, err := lower(e.X)
		if err != nil {
			return nil, err
		}
		return rule.Not{Cond: x}, nil
	case Lit:
		if b, ok := e.V.(bool); ok {
			if b {
				return rule.And{}, nil
			}
			return rule.Or{}, nil
		}
	case Match:
		if c, ok, err := lowerMatch(e); ok || err != nil {
			return c, err
		}
	case Call:
		if c, ok := lowerCall(e); ok {
			return c, nil
		}
	}
	return predicate(e)
}

func fieldLit(a, b Expr) (Field, Lit, bool) {
	if f, ok := a.(Field); ok {
		if l, ok := b.(Lit); ok {
			return f, l, true
		}
	}
	if f, ok := b.(Field); ok {
		if l, ok := a.(Lit); ok {
			return f, l, true
		}
	}
	return Field{}, Lit{}, false
}

func lowerMatch(m Match) (rule.Cond, bool, error) {
	f, ok := m.X.(Field)
	if !ok {
		return nil, false, nil
	}
	var lits []string
	for _, v := range m.Values {
		l, ok := v.(Lit)
		if !ok || l.V == nil {
			return nil, false, nil
		}
		lits = append(lits, toString(l.V))
	}
	switch m.Op {
	case "in":
		return rule.Cmp{Field: f.Name, Op: rule.OpEq, Values: lits, CaseInsensitive: m.Insensitive}, true, nil
	case "regex":
		var conds []rule.Cond
		for _, l := range lits {
			re := esql.LuceneToRE2(l)
			if m.Insensitive {
				re = "(?i)" + re
			}
			if _, err := regexp.Compile(re); err != nil {
				return nil, false, fmt.Errorf("regex %q: %w", l, err)
			}
			conds = append(conds, rule.Cmp{Field: f.Name, Op: rule.OpRegex, Values: []string{re}})
		}
		return rule.Or{Conds: conds}, true, nil
	}
	// ":" and like: wildcards * and ?, backslash escapes
	var conds []rule.Cond
	for _, l := range lits {
		conds = append(conds, Wildcard(f.Name, l, m.Insensitive))
	}
	return rule.Or{Conds: conds}, true, nil
}

// Wildcard is a condition for an Elasticsearch wildcard pattern: `*` any
// run, `?` one character, `\` escapes the next character.
func Wildcard(field, pat string, insensitive bool) rule.Cmp {
	var parts []string
	var cur strings.Builder
	hasQ, hasStar := false, false
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; {
		case c == '\\' && i+1 < len(pat):
			i++
			cur.WriteByte(pat[i])
		case c == '*':
			hasStar = true
			parts = append(parts, cur.String())
			cur.Reset()
		case c == '?':
			hasQ = true
			cur.WriteByte(c)
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	if hasQ {
		var b strings.Builder
		if insensitive {
			b.WriteString("(?i)")
		}
		b.WriteString(`^(?s:`)
		for i := 0; i < len(pat); i++ {
			switch c := pat[i]; {
			case c == '\\' && i+1 < len(pat):
				i++
				b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			case c == '*':
				b.WriteString(".*")
			case c == '?':
				b.WriteString(".")
			default:
				b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			}
		}
		b.WriteString(`)$`)
		return rule.Cmp{Field: field, Op: rule.OpRegex, Values: []string{b.String()}}
	}
	if !hasStar {
		return rule.Cmp{Field: field, Op: rule.OpEq, Values: []string{parts[0]}, CaseInsensitive: insensitive}
	}
	return rule.Cmp{Field: field, Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: parts}}, CaseInsensitive: insensitive}
}

// lowerCall lowers the string functions with a field and a constant: as
// Elasticsearch translates them, stringContains(f, "s") is the wildcard
// query *s* (so `*` and `?` in s are wildcards and `\` escapes), startsWith
// and endsWith are literal prefix and suffix tests.
func lowerCall(c Call) (rule.Cond, bool) {
	if len(c.Args) != 2 {
		return nil, false
	}
	f, ok1 := c.Args[0].(Field)
	l, ok2 := c.Args[1].(Lit)
	s, ok3 := l.V.(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, false
	}
	switch strings.ToLower(c.Name) {
	case "stringcontains":
		return Wildcard(f.Name, "*"+s+"*", c.Insensitive), true
	case "startswith":
		return rule.Cmp{Field: f.Name, Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{s, ""}}}, CaseInsensitive: c.Insensitive}, true
	case "endswith":
		return rule.Cmp{Field: f.Name, Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{"", s}}}, CaseInsensitive: c.Insensitive}, true
	}
	return nil, false
}

// predicate evaluates what does not lower (functions over two fields,
// arithmetic) on the event's first value of each field.
func predicate(e Expr) (rule.Cond, error) {
	getters := map[string]event.Getter{}
	var fields []string
	walk(e, func(name string) {
		if _, ok := getters[name]; !ok {
			getters[name] = event.ResolveIndexed(name)
			fields = append(fields, name)
		}
	})
	return rule.Pred{Text: Format(e), Fields: fields, Match: func(ev *event.Event) bool {
		b, _ := eval(e, ev, getters).(bool)
		return b
	}}, nil
}

func walk(e Expr, fn func(string)) {
	switch e := e.(type) {
	case Field:
		fn(e.Name)
	case Call:
		for _, a := range e.Args {
			walk(a, fn)
		}
	case Binary:
		walk(e.L, fn)
		walk(e.R, fn)
	case Not:
		walk(e.X, fn)
	case Match:
		walk(e.X, fn)
		for _, v := range e.Values {
			walk(v, fn)
		}
	}
}

func eval(e Expr, ev *event.Event, getters map[string]event.Getter) any {
	switch e := e.(type) {
	case Lit:
		return e.V
	case Field:
		vs := getters[e.Name](ev, nil)
		for _, v := range vs {
			switch v.T {
			case event.String:
				return v.S
			case event.Number:
				if i, err := strconv.ParseInt(v.S, 10, 64); err == nil {
					return i
				}
				f, _ := strconv.ParseFloat(v.S, 64)
				return f
			case event.Bool:
				return v.S == "true"
			}
		}
		return nil
	case Not:
		b, ok := eval(e.X, ev, getters).(bool)
		if !ok {
			return nil
		}
		return !b
	case Call:
		args := make([]any, len(e.Args))
		for i, a := range e.Args {
			args[i] = eval(a, ev, getters)
		}
		return functions[strings.ToLower(e.Name)](args, e.Insensitive)
	case Match:
		x, ok := eval(e.X, ev, getters).(string)
		if !ok {
			return false
		}
		for _, v := range e.Values {
			s, ok := eval(v, ev, getters).(string)
			if !ok {
				continue
			}
			var hit bool
			switch e.Op {
			case "in":
				hit = x == s || e.Insensitive && strings.EqualFold(x, s)
			case "regex":
				re := esql.LuceneToRE2(s)
				if e.Insensitive {
					re = "(?i)" + re
				}
				r, err := regexp.Compile(re)
				hit = err == nil && r.MatchString(x)
			default:
				c := Wildcard("", s, e.Insensitive)
				hit = matchCmp(c, x)
			}
			if hit {
				return true
			}
		}
		return false
	case Binary:
		switch e.Op {
		case "and", "or":
			l, _ := eval(e.L, ev, getters).(bool)
			if e.Op == "and" && !l {
				return false
			}
			if e.Op == "or" && l {
				return true
			}
			r, _ := eval(e.R, ev, getters).(bool)
			return r
		}
		l, r := eval(e.L, ev, getters), eval(e.R, ev, getters)
		switch e.Op {
		case "==", "!=":
			eq := l != nil && r != nil && toString(l) == toString(r)
			if ln, ok := num(l); ok {
				if rn, ok := num(r); ok {
					eq = ln == rn
				}
			}
			if l == nil && r == nil {
				eq = true
			}
			return eq == (e.Op == "==")
		case "<", "<=", ">", ">=":
			var c int
			ln, ok1 := num(l)
			rn, ok2 := num(r)
			switch {
			case ok1 && ok2:
				c = map[bool]int{true: -1, false: 0}[ln < rn] + map[bool]int{true: 1, false: 0}[ln > rn]
			case l != nil && r != nil:
				c = strings.Compare(toString(l), toString(r))
			default:
				return false
			}
			switch e.Op {
			case "<":
				return c < 0
			case "<=":
				return c <= 0
			case ">":
				return c > 0
			}
			return c >= 0
		}
		return binaryArith(e.Op, l, r)
	}
	return nil
}

func matchCmp(c rule.Cmp, s string) bool {
	fold := func(x string) string { return x }
	if c.CaseInsensitive {
		fold = strings.ToLower
	}
	switch c.Op {
	case rule.OpEq:
		return fold(s) == fold(c.Values[0])
	case rule.OpWildcard:
		p := c.Patterns[0]
		if c.CaseInsensitive {
			p = p.Lower()
		}
		return p.Match(fold(s))
	case rule.OpRegex:
		re, err := regexp.Compile(c.Values[0])
		return err == nil && re.MatchString(s)
	}
	return false
}

// Format renders an expression in EQL syntax.
func Format(e Expr) string {
	switch e := e.(type) {
	case Field:
		return e.Name
	case Lit:
		if s, ok := e.V.(string); ok {
			return strconv.Quote(s)
		}
		if e.V == nil {
			return "null"
		}
		return toString(e.V)
	case Call:
		args := make([]string, len(e.Args))
		for i, a := range e.Args {
			args[i] = Format(a)
		}
		tilde := ""
		if e.Insensitive {
			tilde = "~"
		}
		return e.Name + tilde + "(" + strings.Join(args, ", ") + ")"
	case Binary:
		return "(" + Format(e.L) + " " + e.Op + " " + Format(e.R) + ")"
	case Not:
		return "not " + Format(e.X)
	case Match:
		vs := make([]string, len(e.Values))
		for i, v := range e.Values {
			vs[i] = Format(v)
		}
		op := e.Op
		if e.Insensitive && op != ":" {
			op += "~"
		}
		return Format(e.X) + " " + op + " (" + strings.Join(vs, ", ") + ")"
	}
	return "?"
}
