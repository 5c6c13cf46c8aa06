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
//
// An event field that holds one string (most of them) is read as an item,
// its string not boxed in a Value: a comparison with a string, IS NULL,
// LIKE, IN, STARTS_WITH and ENDS_WITH of such a field, a GROK or DISSECT of
// it, and a STATS that groups by it or collects it read the string as it
// is; only what is kept (a new group, a new distinct value) is copied.

import (
	"reflect"
	"slices"
	"strings"
	"time"
	"unique"
)

// cexpr is an expression compiled for rows of type E.
type cexpr[E env] func(E) Value

// item is a value as the compiled pipeline passes it: a string not boxed in
// a Value (str), or any value in v (a string there too, when it was boxed
// already).
type item struct {
	s   string
	v   Value
	str bool
}

// value returns the item as a Value (boxing its string).
func (it item) value() Value {
	if it.str {
		return it.s
	}
	return it.v
}

// interned returns the item's value interned (intern), boxed once.
func (it item) interned() Value {
	if it.str {
		return unique.Make(it.s).Value()
	}
	return intern(it.v)
}

// appendKey is appendKey of the item's value.
func (it item) appendKey(b []byte) []byte {
	if it.str {
		return append(append(b, 's'), it.s...)
	}
	return appendKey(b, it.v)
}

// sameKey reports whether the item's key (appendKey) is surely that of
// v: a string or time equal to it, or both null. False says nothing.
func (it item) sameKey(v Value) bool {
	if it.str {
		s, ok := v.(string)
		return ok && s == it.s
	}
	switch x := it.v.(type) {
	case nil:
		return v == nil
	case string:
		s, ok := v.(string)
		return ok && s == x
	case time.Time: // the same instant: the same text
		t, ok := v.(time.Time)
		return ok && t.Equal(x)
	}
	return false
}

// appendValueKey is appendValueKey of the item's value.
func (it item) appendValueKey(b []byte) []byte {
	if it.str {
		return append(append(b, 's'), it.s...)
	}
	return appendValueKey(b, it.v)
}

// iexpr is an expression compiled to give an item.
type iexpr[E env] func(E) item

// ref is the compiled read of a name: val its value, and item, when not
// nil, the same without boxing a string.
type ref[E env] struct {
	val  cexpr[E]
	item iexpr[E]
}

// resolver returns the compiled read of a name, or the zero ref when the
// row's get must look it up.
type resolver[E env] func(name string) ref[E]

// fieldItem returns the item read of e when e is a name the resolver reads
// as items, else nil.
func fieldItem[E env](e Expr, field resolver[E]) iexpr[E] {
	if f, ok := e.(Field); ok {
		return field(f.Name).item
	}
	return nil
}

// compileItem compiles e to give an item: a name's item read, or its value.
func compileItem[E env](e Expr, field resolver[E]) iexpr[E] {
	if it := fieldItem(e, field); it != nil {
		return it
	}
	x := compileExpr(e, field)
	return func(r E) item { return item{v: x(r)} }
}

// compileStr compiles e to give its string, as str(eval(e)) does.
func compileStr[E env](e Expr, field resolver[E]) func(E) (string, bool) {
	if it := fieldItem(e, field); it != nil {
		return func(r E) (string, bool) {
			if x := it(r); x.str {
				return x.s, true
			} else {
				return str(x.v)
			}
		}
	}
	x := compileExpr(e, field)
	return func(r E) (string, bool) { return str(x(r)) }
}

// strLit returns the string of a string literal.
func strLit(e Expr) (string, bool) {
	l, ok := e.(Lit)
	if !ok {
		return "", false
	}
	s, ok := l.V.(string)
	return s, ok
}

func compileExpr[E env](e Expr, field resolver[E]) cexpr[E] {
	switch e := e.(type) {
	case Lit:
		v := e.V
		return func(E) Value { return v }
	case Field:
		if f := field(e.Name); f.val != nil {
			return f.val
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
		not := e.Not
		if it := fieldItem(e.X, field); it != nil {
			return func(r E) Value {
				x := it(r)
				return (!x.str && x.v == nil) != not
			}
		}
		x := compileExpr(e.X, field)
		return func(r E) Value { return (x(r) == nil) != not }
	case In:
		return compileIn(e, field)
	case *Like:
		if it := fieldItem(e.X, field); it != nil {
			return func(r E) Value {
				x := it(r)
				if x.str {
					return e.match(x.s) != e.Not
				}
				return likeValue(e, x.v)
			}
		}
		x := compileExpr(e.X, field)
		return func(r E) Value { return likeValue(e, x(r)) }
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

// cond is a condition compiled: whether the expression is true (false
// and null alike are not).
type cond[E env] func(E) bool

// compileCond compiles e as a condition, as WHERE, a CASE condition and an
// aggregation's filter read it: true, or not. A chain of ANDs is true when
// each operand is, and of ORs when one is, so it stops at the first
// operand that decides, null included, without the nested three-valued
// results; TRUE IN (list) is true when an element is.
func compileCond[E env](e Expr, field resolver[E]) cond[E] {
	switch e := e.(type) {
	case Binary:
		if e.Op != "AND" && e.Op != "OR" {
			break
		}
		var ops []cond[E]
		var flatten func(x Expr)
		flatten = func(x Expr) {
			if b, ok := x.(Binary); ok && b.Op == e.Op {
				flatten(b.L)
				flatten(b.R)
				return
			}
			ops = append(ops, compileCond(x, field))
		}
		flatten(e)
		if e.Op == "AND" {
			return func(r E) bool {
				for _, op := range ops {
					if !op(r) {
						return false
					}
				}
				return true
			}
		}
		return anyCond(ops)
	case In:
		if l, ok := e.X.(Lit); !ok || l.V != true || e.Not {
			break
		}
		// an element equal to true: one that is true, single-valued
		ops := make([]cond[E], len(e.List))
		for i, x := range e.List {
			v := compileExpr(x, field)
			ops[i] = func(r E) bool {
				b, ok := single(v(r))
				return ok && b == true
			}
		}
		return anyCond(ops)
	case IsNull:
		if it := fieldItem(e.X, field); it != nil {
			not := e.Not
			return func(r E) bool {
				x := it(r)
				return (!x.str && x.v == nil) != not
			}
		}
	}
	x := compileExpr(e, field)
	general := func(r E) bool {
		b, ok := x(r).(bool)
		return ok && b
	}
	if b, ok := e.(Binary); ok {
		if c := intCond(b, field, general); c != nil {
			return c
		}
		// a string field compared with a string: as strings, unboxed
		op, isCmp := cmpOps[b.Op]
		it, lit, ok := fieldAndStr(b.L, b.R, field)
		swap := false
		if !ok {
			it, lit, ok = fieldAndStr(b.R, b.L, field)
			swap = true
		}
		if isCmp && ok {
			switch {
			case op == opEq || op == opNe:
				return func(r E) bool {
					if x := it(r); x.str {
						return (x.s == lit) == (op == opEq)
					}
					return general(r)
				}
			case swap:
				return func(r E) bool {
					if x := it(r); x.str {
						return cmpResult(op, strings.Compare(lit, x.s))
					}
					return general(r)
				}
			}
			return func(r E) bool {
				if x := it(r); x.str {
					return cmpResult(op, strings.Compare(x.s, lit))
				}
				return general(r)
			}
		}
	}
	return general
}

// intCond is the condition of a comparison with an integer literal (a
// flag == 1) as integers, when the other side is one, else general; nil
// for other expressions.
func intCond[E env](b Binary, field resolver[E], general cond[E]) cond[E] {
	op, isCmp := cmpOps[b.Op]
	if !isCmp {
		return nil
	}
	x, l, swap := b.L, b.R, false
	if _, ok := x.(Lit); ok {
		x, l, swap = b.R, b.L, true
	}
	lit, ok := l.(Lit)
	if !ok {
		return nil
	}
	n, ok := lit.V.(int64)
	if !ok {
		return nil
	}
	v := compileExpr(x, field)
	return func(r E) bool {
		i, ok := v(r).(int64)
		if !ok {
			return general(r)
		}
		if swap {
			return cmpResult(op, cmpOrdered(n, i))
		}
		return cmpResult(op, cmpOrdered(i, n))
	}
}

// anyCond is true when one of ops is.
func anyCond[E env](ops []cond[E]) cond[E] {
	return func(r E) bool {
		for _, op := range ops {
			if op(r) {
				return true
			}
		}
		return false
	}
}

// likeValue is LIKE (or RLIKE) on a value.
func likeValue(e *Like, v Value) Value {
	v, ok := single(v)
	s, isStr := v.(string)
	if !ok || !isStr {
		return nil
	}
	return e.match(s) != e.Not
}

func compileIn[E env](e In, field resolver[E]) cexpr[E] {
	list := make([]cexpr[E], len(e.List))
	for i, it := range e.List {
		list[i] = compileExpr(it, field)
	}
	not := e.Not
	in := func(r E, x Value) Value {
		x, ok := single(x)
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
	if it := fieldItem(e.X, field); it != nil {
		// a string field among strings: compared as they are
		return func(r E) Value {
			x := it(r)
			if !x.str {
				return in(r, x.v)
			}
			sawNull := false
			for _, l := range list {
				y, ok := single(l(r))
				if !ok || y == nil {
					sawNull = true
					continue
				}
				if ys, isStr := y.(string); isStr {
					if ys == x.s {
						return !not
					}
					continue
				}
				if c, ok := compare(x.s, y); ok && c == 0 {
					return !not
				}
			}
			if sawNull {
				return nil
			}
			return not
		}
	}
	x := compileExpr(e.X, field)
	return func(r E) Value { return in(r, x(r)) }
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

// cmpResult is the comparison op of an ordering c.
func cmpResult(op, c int) bool {
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
	values := func(a, b Value) Value {
		a, ok1 := single(a)
		b, ok2 := single(b)
		if !ok1 || !ok2 || a == nil || b == nil {
			return nil
		}
		if isCmp {
			c, ok := compare(a, b)
			if !ok {
				return nil
			}
			return cmpResult(op, c)
		}
		return binaryValues(e.Op, a, b)
	}
	if isCmp {
		// a string field compared with a string: as strings, unboxed
		if it, lit, ok := fieldAndStr(e.L, e.R, field); ok {
			return func(en E) Value {
				x := it(en)
				if !x.str {
					return values(x.v, lit)
				}
				return cmpResult(op, strings.Compare(x.s, lit))
			}
		}
		if it, lit, ok := fieldAndStr(e.R, e.L, field); ok {
			return func(en E) Value {
				x := it(en)
				if !x.str {
					return values(lit, x.v)
				}
				return cmpResult(op, strings.Compare(lit, x.s))
			}
		}
	}
	return func(en E) Value { return values(l(en), r(en)) }
}

// fieldAndStr returns the item read of f and the string of lit when f is a
// name read as items and lit a string literal.
func fieldAndStr[E env](f, lit Expr, field resolver[E]) (iexpr[E], string, bool) {
	s, ok := strLit(lit)
	if !ok {
		return nil, "", false
	}
	it := fieldItem(f, field)
	return it, s, it != nil
}

func compileCall[E env](c Call, field resolver[E]) cexpr[E] {
	if c.Name == "CASE" && len(c.Args) >= 2 {
		return compileCase(c, field)
	}
	args := make([]cexpr[E], len(c.Args))
	for i, a := range c.Args {
		args[i] = compileExpr(a, field)
	}
	generic := func(r E) Value {
		return callArgs(c, r, func(i int) Value { return args[i](r) })
	}
	if (c.Name == "STARTS_WITH" || c.Name == "ENDS_WITH") && len(c.Args) == 2 {
		// of a string field and a string: the string as it is
		if it, lit, ok := fieldAndStr(c.Args[0], c.Args[1], field); ok {
			prefix := c.Name == "STARTS_WITH"
			return func(r E) Value {
				x := it(r)
				if !x.str {
					return generic(r)
				}
				if prefix {
					return strings.HasPrefix(x.s, lit)
				}
				return strings.HasSuffix(x.s, lit)
			}
		}
	}
	return generic
}

// compileCase compiles CASE(cond, value, ..., [else]): the value of the
// first condition that is true, the else value, or null.
func compileCase[E env](c Call, field resolver[E]) cexpr[E] {
	n := len(c.Args)
	conds := make([]cond[E], n/2)
	vals := make([]cexpr[E], n/2)
	for i := range conds {
		conds[i] = compileCond(c.Args[2*i], field)
		vals[i] = compileExpr(c.Args[2*i+1], field)
	}
	var otherwise cexpr[E]
	if n%2 == 1 {
		otherwise = compileExpr(c.Args[n-1], field)
	}
	return func(r E) Value {
		for i, c := range conds {
			if c(r) {
				return vals[i](r)
			}
		}
		if otherwise != nil {
			return otherwise(r)
		}
		return nil
	}
}

// headStep is a compiled head command on the first row: false drops it.
type headStep func(r *eventRow) bool

// compileHead compiles the head's leading WHERE, EVAL, GROK and DISSECT
// commands (the rest, from the first MV_EXPAND, KEEP, DROP or RENAME, runs
// through applyRow) and, when every command compiled, the reads of the
// columns the tail needs and the STATS over the head row itself.
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
	field := func(name string) ref[*eventRow] {
		for i, n := range cols {
			if n == name {
				return ref[*eventRow]{val: func(r *eventRow) Value { return r.colAt(i) }}
			}
		}
		if k, ok := p.slot[name]; ok {
			return ref[*eventRow]{
				val: func(r *eventRow) Value { return r.field(k) },
				item: func(r *eventRow) item { // a string not boxed
					c := &r.fields[k]
					if c.state == slotUnread {
						r.fill(k, c)
					}
					if c.state == slotStr {
						return item{s: c.s, str: true}
					}
					return item{v: c.v}
				},
			}
		}
		return ref[*eventRow]{} // metadata and names without a slot: get
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
			step = headStep(compileCond(c.Cond, field))
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
			in := compileStr(c.Input, field)
			names := c.Pattern.columns()
			idx := make([]int, len(names))
			for i, n := range names {
				idx[i] = col(n)
			}
			match := func(r *eventRow, dst []Value) []Value {
				s, ok := in(r)
				var m map[string]Value
				if ok {
					m, ok = c.Pattern.match(s)
				}
				for _, n := range names {
					var v Value
					if ok {
						v = m[n]
					}
					dst = append(dst, v)
				}
				return dst
			}
			step = p.patternStep(names, idx, fieldItem(c.Input, field) != nil, match)
		case Dissect:
			in := compileStr(c.Input, field)
			names := c.Pattern.names
			idx := make([]int, len(names))
			for i, n := range names {
				idx[i] = col(n)
			}
			match := func(r *eventRow, dst []Value) []Value {
				s, ok := in(r)
				var m map[string]string
				if ok {
					m, ok = c.Pattern.match(s, c.Separator)
				}
				for _, n := range names {
					if v, has := m[n]; ok && has {
						dst = append(dst, v)
					} else {
						dst = append(dst, nil)
					}
				}
				return dst
			}
			step = p.patternStep(names, idx, fieldItem(c.Input, field) != nil, match)
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
		if p.neededRead[i] = field(n).val; p.neededRead[i] == nil {
			p.neededRead[i] = func(r *eventRow) Value { return r.get(n) }
		}
	}
	if p.acc != nil {
		// the head row holds every column the STATS reads, as the row
		// Head emits does: it can aggregate the head row itself
		p.headAcc = compileStats(p.tail[0].(Stats), field)
	}
}

// patternStep is the step of a GROK or DISSECT setting the columns names
// (at idx) with match, which appends their values to dst. Of an
// event field (ofField), which no later command changes, the columns are
// matched when one is first read (lazyCols): a row whose later commands do
// not read them (the self-created access key rule reads its GROK column
// only for CreateAccessKey) neither reads the field nor runs the pattern.
func (p *Program) patternStep(names []string, idx []int, ofField bool, match func(r *eventRow, dst []Value) []Value) headStep {
	if !ofField {
		return func(r *eventRow) bool {
			r.matched = match(r, r.matched[:0])
			for i, v := range r.matched {
				r.setAt(idx[i], names[i], v)
			}
			clear(r.matched)
			return true
		}
	}
	p.lazy = true
	l := &lazyCols{}
	l.fill = func(r *eventRow) {
		r.matched = match(r, r.matched[:0])
		for i, v := range r.matched {
			if cur, ok := r.vals[idx[i]].(*lazyCols); ok && cur == l { // not set by a later command
				r.vals[idx[i]] = v
			}
		}
		clear(r.matched)
	}
	return func(r *eventRow) bool {
		for i, n := range names {
			r.setAt(idx[i], n, l)
		}
		return true
	}
}

// lazyCols stands, in a head row, for the columns of a GROK or DISSECT of
// an event field not matched yet; fill matches them.
type lazyCols struct {
	fill func(r *eventRow)
}

// colAt returns the computed column at index i, matching it first if it
// is pending.
func (r *eventRow) colAt(i int) Value {
	v := r.vals[i]
	if l, ok := v.(*lazyCols); ok {
		l.fill(r)
		v = r.vals[i]
	}
	return v
}

// fillAll matches every pending column: the commands that are not
// compiled, and what the row emits, read the columns as they are.
func (r *eventRow) fillAll() {
	for _, v := range r.vals {
		if l, ok := v.(*lazyCols); ok {
			l.fill(r)
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
type statsExprs[E env] struct {
	by, args []iexpr[E] // args nil where an aggregation has none
	filters  []cond[E]  // nil where an aggregation has none
	// fns is each aggregation's function (aggFn), decided once
	fns []uint8
	// sets are the aggregations by filter (setFilters): a row evaluates
	// each distinct filter once, and passes over the aggregations of a
	// filter that drops it at once
	sets []aggSet[E]
}

// aggSet is the aggregations (indexes, in order) that one filter, or no
// filter (nil), decides.
type aggSet[E env] struct {
	filter cond[E]
	aggs   []int
}

// setFilters sets x.sets from x.filters: the aggregations of c whose
// filters are the same expression share a set, in the order of their
// first aggregation.
func (x *statsExprs[E]) setFilters(c Stats) {
	x.sets = nil
next:
	for i, a := range c.Aggs {
		for k, set := range x.sets {
			j := set.aggs[0]
			if f := c.Aggs[j].Filter; (f == nil) == (a.Filter == nil) && (f == nil || reflect.DeepEqual(f, a.Filter)) {
				x.sets[k].aggs = append(set.aggs, i)
				continue next
			}
		}
		x.sets = append(x.sets, aggSet[E]{filter: x.filters[i], aggs: []int{i}})
	}
}

// columnsAt resolves the columns of rows whose every column sits at its
// index in idx (nil: rows look their columns up by name).
func columnsAt(idx map[string]int) resolver[*tableRow] {
	return func(name string) ref[*tableRow] {
		if idx == nil {
			return ref[*tableRow]{}
		}
		i, ok := idx[name]
		if !ok {
			return ref[*tableRow]{val: func(*tableRow) Value { return nil }}
		}
		return ref[*tableRow]{val: func(r *tableRow) Value {
			if i < len(r.row) {
				return r.row[i]
			}
			return nil
		}}
	}
}

// compileStats compiles a STATS command's expressions over rows whose
// names field resolves.
func compileStats[E env](c Stats, field resolver[E]) *statsExprs[E] {
	x := &statsExprs[E]{by: make([]iexpr[E], len(c.By)), filters: make([]cond[E], len(c.Aggs)), args: make([]iexpr[E], len(c.Aggs))}
	for i, b := range c.By {
		x.by[i] = compileItem(b.Expr, field)
	}
	x.fns = make([]uint8, len(c.Aggs))
	for i, a := range c.Aggs {
		x.fns[i] = aggFn(a.Func)
		if a.Arg == nil {
			x.fns[i] = fnCountAll
		}
		if a.Filter != nil {
			x.filters[i] = compileCond(a.Filter, field)
		}
		if a.Arg != nil {
			x.args[i] = compileItem(a.Arg, field)
		}
	}
	x.setFilters(c)
	return x
}
