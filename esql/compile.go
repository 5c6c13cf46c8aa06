package esql

// Expressions compiled to closures for the two hot paths: the head (WHERE,
// EVAL, GROK, DISSECT on each event's row) and the accumulation of head rows
// into a STATS aggregation. Compiling resolves each field reference once: a
// head reference to a column an earlier command computed becomes its index
// in the row (commands run in order, so where a column sits is known before
// any event), a reference to an event field its slot, and a reference in an
// aggregation the index of the column in the head row. What the compiler
// does not specialise runs through eval, with the same results: eval is the
// definition, these closures only skip its look-ups.

import (
	"reflect"
	"slices"
	"strings"
)

// cexpr is an expression compiled for rows of type E.
type cexpr[E env] func(E) Value

// resolver returns the compiled read of a name, or nil when the row's get
// must look it up.
type resolver[E env] func(name string) cexpr[E]

func compileExpr[E env](e Expr, field resolver[E]) cexpr[E] {
	switch e := e.(type) {
	case Lit:
		v := e.V
		return func(E) Value { return v }
	case Field:
		if f := field(e.Name); f != nil {
			return f
		}
		name := e.Name
		return func(r E) Value { return r.get(name) }
	case Not:
		x := compileExpr(e.X, field)
		return func(r E) Value {
			if b, ok := x(r).(bool); ok {
				return !b
			}
			return nil
		}
	case IsNull:
		x, not := compileExpr(e.X, field), e.Not
		return func(r E) Value { return (x(r) == nil) != not }
	case In:
		return compileIn(e, field)
	case *Like:
		x := compileExpr(e.X, field)
		return func(r E) Value {
			v, ok := single(x(r))
			s, isStr := v.(string)
			if !ok || !isStr {
				return nil
			}
			return e.match(s) != e.Not
		}
	case Cast:
		x, typ := compileExpr(e.X, field), e.Type
		return func(r E) Value { return cast(x(r), typ) }
	case Binary:
		return compileBinary(e, field)
	case Call:
		return compileCall(e, field)
	}
	return func(r E) Value { return eval(e, r) }
}

func compileIn[E env](e In, field resolver[E]) cexpr[E] {
	x := compileExpr(e.X, field)
	list := make([]cexpr[E], len(e.List))
	for i, it := range e.List {
		list[i] = compileExpr(it, field)
	}
	not := e.Not
	return func(r E) Value {
		x, ok := single(x(r))
		if !ok || x == nil {
			return nil
		}
		sawNull := false
		for _, it := range list {
			y, ok := single(it(r))
			if !ok || y == nil {
				sawNull = true
				continue
			}
			if c, ok := compare(x, y); ok && c == 0 {
				return !not
			}
		}
		if sawNull {
			return nil
		}
		return not
	}
}

// comparison operators, decided once
const (
	opEq = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOps = map[string]int{"==": opEq, "!=": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe}

func compileBinary[E env](e Binary, field resolver[E]) cexpr[E] {
	l, r := compileExpr(e.L, field), compileExpr(e.R, field)
	switch e.Op {
	case "AND":
		return func(en E) Value {
			lv, lok := l(en).(bool)
			if lok && !lv {
				return false // false AND anything, null included, is false
			}
			rv, rok := r(en).(bool)
			if rok && !rv {
				return false
			}
			if lok && rok {
				return true
			}
			return nil
		}
	case "OR":
		return func(en E) Value {
			lv, lok := l(en).(bool)
			if lok && lv {
				return true
			}
			rv, rok := r(en).(bool)
			if rok && rv {
				return true
			}
			if lok && rok {
				return false
			}
			return nil
		}
	}
	op, isCmp := cmpOps[e.Op]
	return func(en E) Value {
		a, ok1 := single(l(en))
		b, ok2 := single(r(en))
		if !ok1 || !ok2 || a == nil || b == nil {
			return nil
		}
		if isCmp {
			c, ok := compare(a, b)
			if !ok {
				return nil
			}
			switch op {
			case opEq:
				return c == 0
			case opNe:
				return c != 0
			case opLt:
				return c < 0
			case opLe:
				return c <= 0
			case opGt:
				return c > 0
			}
			return c >= 0
		}
		return binaryValues(e.Op, a, b)
	}
}

func compileCall[E env](c Call, field resolver[E]) cexpr[E] {
	args := make([]cexpr[E], len(c.Args))
	for i, a := range c.Args {
		args[i] = compileExpr(a, field)
	}
	return func(r E) Value {
		return callArgs(c, r, func(i int) Value { return args[i](r) })
	}
}

// headStep is a compiled head command on the first row: false drops it.
type headStep func(r *eventRow) bool

// compileHead compiles the head's leading WHERE, EVAL, GROK and DISSECT
// commands (the rest, from the first MV_EXPAND, KEEP, DROP or RENAME, runs
// through applyRow) and the reads of the columns the tail needs when every
// command compiled.
func (p *Program) compileHead() {
	var cols []string // the row's computed columns, in order, as the steps set them
	col := func(name string) int {
		for i, n := range cols {
			if n == name {
				return i
			}
		}
		cols = append(cols, name)
		return len(cols) - 1
	}
	field := func(name string) cexpr[*eventRow] {
		for i, n := range cols {
			if n == name {
				return func(r *eventRow) Value { return r.vals[i] }
			}
		}
		if k, ok := p.slot[name]; ok {
			return func(r *eventRow) Value { return r.field(k, name) }
		}
		return nil // metadata and names without a slot: get
	}
	for i, c := range p.head {
		var step headStep
		switch c := c.(type) {
		case Keep:
			if i == len(p.head)-1 && p.keepsNeeded(c) {
				// STATS reads only columns it keeps, as they are
				step = func(*eventRow) bool { return true }
			}
		case Where:
			cond := compileExpr(c.Cond, field)
			step = func(r *eventRow) bool {
				b, ok := cond(r).(bool)
				return ok && b
			}
		case Eval:
			exprs := make([]cexpr[*eventRow], len(c.Fields))
			idx := make([]int, len(c.Fields))
			for i, a := range c.Fields {
				exprs[i] = compileExpr(a.Expr, field) // reads the columns set so far
				idx[i] = col(a.Name)
			}
			step = func(r *eventRow) bool {
				for i, a := range c.Fields {
					r.setAt(idx[i], a.Name, exprs[i](r))
				}
				return true
			}
		case Grok:
			in := compileExpr(c.Input, field)
			names := c.Pattern.columns()
			idx := make([]int, len(names))
			for i, n := range names {
				idx[i] = col(n)
			}
			step = func(r *eventRow) bool {
				s, ok := str(in(r))
				var m map[string]Value
				if ok {
					m, ok = c.Pattern.match(s)
				}
				for i, n := range names {
					var v Value
					if ok {
						v = m[n]
					}
					r.setAt(idx[i], n, v)
				}
				return true
			}
		case Dissect:
			in := compileExpr(c.Input, field)
			names := c.Pattern.names
			idx := make([]int, len(names))
			for i, n := range names {
				idx[i] = col(n)
			}
			step = func(r *eventRow) bool {
				s, ok := str(in(r))
				var m map[string]string
				if ok {
					m, ok = c.Pattern.match(s, c.Separator)
				}
				for i, n := range names {
					if v, has := m[n]; ok && has {
						r.setAt(idx[i], n, v)
					} else {
						r.setAt(idx[i], n, nil)
					}
				}
				return true
			}
		}
		if step == nil {
			break
		}
		p.steps = append(p.steps, step)
	}
	if len(p.steps) < len(p.head) {
		return
	}
	p.neededRead = make([]cexpr[*eventRow], len(p.needed))
	for i, n := range p.needed {
		if p.neededRead[i] = field(n); p.neededRead[i] == nil {
			p.neededRead[i] = func(r *eventRow) Value { return r.get(n) }
		}
	}
}

// keepsNeeded reports whether a KEEP of plain names right before STATS
// keeps every column the STATS reads: the row needs no KEEP, whose only
// effect would be on columns nothing reads.
func (p *Program) keepsNeeded(k Keep) bool {
	if p.acc == nil || len(p.needed) == 0 {
		return false
	}
	for _, pat := range k.Patterns {
		if strings.ContainsAny(pat, "*?[\\") {
			return false
		}
	}
	for _, n := range p.needed {
		if !slices.Contains(k.Patterns, n) {
			return false
		}
	}
	return true
}

// setAt sets the computed column at index i, which a compiled step knows:
// the next one to add or one set before.
func (r *eventRow) setAt(i int, name string, v Value) {
	if i < len(r.vals) {
		r.vals[i] = v
		return
	}
	r.names = append(r.names, name)
	r.vals = append(r.vals, v)
}

// statsExprs is a STATS command's expressions compiled for its input rows.
type statsExprs struct {
	by, filters, args []cexpr[*tableRow] // filters and args nil where an aggregation has none
	// sameFilter is, per aggregation with a filter, the first aggregation
	// whose filter is the same expression: a row evaluates each distinct
	// filter once (nil: each its own)
	sameFilter []int
}

// compileStats compiles a STATS command's expressions; idx, when not nil,
// is where each column sits in every row it will read (else rows look
// their columns up by name).
func compileStats(c Stats, idx map[string]int) *statsExprs {
	field := func(name string) cexpr[*tableRow] {
		if idx == nil {
			return nil
		}
		i, ok := idx[name]
		if !ok {
			return func(*tableRow) Value { return nil }
		}
		return func(r *tableRow) Value {
			if i < len(r.row) {
				return r.row[i]
			}
			return nil
		}
	}
	x := &statsExprs{by: make([]cexpr[*tableRow], len(c.By)), filters: make([]cexpr[*tableRow], len(c.Aggs)), args: make([]cexpr[*tableRow], len(c.Aggs))}
	for i, b := range c.By {
		x.by[i] = compileExpr(b.Expr, field)
	}
	x.sameFilter = make([]int, len(c.Aggs))
	for i, a := range c.Aggs {
		x.sameFilter[i] = i
		if a.Filter != nil {
			x.filters[i] = compileExpr(a.Filter, field)
			for j := range i {
				if c.Aggs[j].Filter != nil && reflect.DeepEqual(c.Aggs[j].Filter, a.Filter) {
					x.sameFilter[i] = j
					break
				}
			}
		}
		if a.Arg != nil {
			x.args[i] = compileExpr(a.Arg, field)
		}
	}
	return x
}
