package esql

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unique"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/event"
)

// Program is a query compiled to run over events: Head evaluates the
// row-wise commands up to the first STATS, SORT or LIMIT on one event;
// Tail evaluates the rest over the rows of a rule run.
type Program struct {
	Query      *Query
	head, tail []Command
	// slot numbers the event fields the query names; views reads them
	slot      map[string]int
	views     []event.View
	dates     []bool   // per slot: a date field (dateFields)
	stamp     int      // 1 + the slot of @timestamp (0: the query does not name it; eventStamp reads it)
	needed    []string // columns the tail reads from head rows
	neededIdx map[string]int
	// steps are the head's leading commands compiled (compile.go);
	// neededRead reads the needed columns when every head command is a step
	steps      []headStep
	neededRead []cexpr[*eventRow]
	lazy       bool // some steps' columns are matched when first read (patternStep)
	// acc is the tail's leading STATS compiled over head rows; headAcc
	// the same over the head's own row, when every head command compiled
	acc         *statsExprs[*tableRow]
	headAcc     *statsExprs[*eventRow]
	Aggregating bool // the tail has STATS: result rows are not events
	// rows holds head rows let go, for reuse
	rows sync.Pool
	// statsWhere is the tail's leading STATS and WHERE, once TailPartials
	// has run them
	statsWhere     *statsWhere
	statsWhereOnce sync.Once
}

// Row is one result row.
type Row struct {
	Names  []string
	Values []Value
}

// Get returns the value of a column (nil when absent).
func (r Row) Get(name string) Value {
	for i, n := range r.Names {
		if n == name {
			return r.Values[i]
		}
	}
	return nil
}

// Table is a query result.
type Table struct {
	Columns []string
	Rows    [][]Value
}

// dateFields are the date-typed fields of the CloudTrail mapping.
var dateFields = map[string]bool{"@timestamp": true, "event.ingested": true, "event.created": true, "event.start": true, "event.end": true}

// IsDate reports whether a field is date-typed in the CloudTrail mapping:
// the query compares its values as instants, not as the text they are
// written in.
func IsDate(name string) bool { return dateFields[name] }

// Compile prepares a parsed query.
func Compile(q *Query) (*Program, error) {
	p := &Program{Query: q, slot: map[string]int{}}
	split := len(q.Commands)
	for i, c := range q.Commands {
		switch c.(type) {
		case Stats, Sort, Limit:
			split = i
		}
		if split == i {
			break
		}
	}
	p.head, p.tail = q.Commands[:split], q.Commands[split:]
	for _, c := range q.Commands {
		if _, ok := c.(Stats); ok {
			p.Aggregating = true
		}
	}
	names := map[string]bool{}
	for _, c := range p.head {
		walkCommand(c, func(f string) { names[f] = true })
	}
	if len(p.tail) > 0 {
		if st, ok := p.tail[0].(Stats); ok {
			set := map[string]bool{}
			walkCommand(st, func(f string) { set[f] = true })
			for n := range set {
				if n != "*" {
					p.needed = append(p.needed, n)
				}
			}
			sort.Strings(p.needed)
			p.neededIdx = indexOf(p.needed)
			for _, n := range p.needed {
				names[n] = true
			}
			p.acc = compileStats(st, columnsAt(p.neededIdx))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if n != "*" && !strings.HasPrefix(n, "_") {
			if n == "@timestamp" {
				p.stamp = 1 + len(p.views)
			}
			p.slot[n] = len(p.views)
			p.views = append(p.views, event.ViewIndexed(n))
			p.dates = append(p.dates, dateFields[n])
		}
	}
	p.compileHead()
	return p, nil
}

// columnsSet returns the columns a command computes.
func columnsSet(c Command) []string {
	var out []string
	switch c := c.(type) {
	case Eval:
		for _, a := range c.Fields {
			out = append(out, a.Name)
		}
	case Stats:
		for _, a := range c.Aggs {
			out = append(out, a.Name)
		}
		for _, b := range c.By {
			out = append(out, b.Name)
		}
	case Rename:
		out = append(out, c.To...)
	}
	return append(out, Outputs(c)...)
}

// Outputs returns the columns a DISSECT or GROK command sets.
func Outputs(c Command) []string {
	switch c := c.(type) {
	case Dissect:
		return c.Pattern.names
	case Grok:
		return c.Pattern.columns()
	}
	return nil
}

// walkExpr calls visit on e and every expression inside it.
func walkExpr(e Expr, visit func(Expr)) {
	visit(e)
	switch e := e.(type) {
	case Call:
		for _, a := range e.Args {
			walkExpr(a, visit)
		}
	case Binary:
		walkExpr(e.L, visit)
		walkExpr(e.R, visit)
	case Not:
		walkExpr(e.X, visit)
	case Neg:
		walkExpr(e.X, visit)
	case IsNull:
		walkExpr(e.X, visit)
	case In:
		walkExpr(e.X, visit)
		for _, x := range e.List {
			walkExpr(x, visit)
		}
	case *Like:
		walkExpr(e.X, visit)
	case Cast:
		walkExpr(e.X, visit)
	}
}

// walkCommand calls fn with every field name an expression of c reads.
func walkCommand(c Command, fn func(string)) {
	w := func(e Expr) {
		walkExpr(e, func(x Expr) {
			if f, ok := x.(Field); ok {
				fn(f.Name)
			}
		})
	}
	switch c := c.(type) {
	case Where:
		w(c.Cond)
	case Eval:
		for _, a := range c.Fields {
			w(a.Expr)
		}
	case Stats:
		for _, a := range c.Aggs {
			if a.Arg != nil {
				w(a.Arg)
			}
			for _, x := range a.Args {
				w(x)
			}
			if a.Filter != nil {
				w(a.Filter)
			}
		}
		for _, b := range c.By {
			w(b.Expr)
		}
	case Sort:
		for _, k := range c.Keys {
			w(k.Expr)
		}
	case Dissect:
		w(c.Input)
	case Grok:
		w(c.Input)
	case MvExpand:
		fn(c.Field)
	}
}

// eventRow is a head row: computed columns over an event's fields.
type eventRow struct {
	p  *Program
	ev *event.Event
	t  time.Time
	// names and vals are the computed columns, in order (few: a slice
	// scan is cheaper than a map)
	names []string
	vals  []Value
	full  bool // materialized: only the columns exist
	// fields caches the event fields the query names (by slot), as a
	// query reads some many times. Their strings may alias the parser's
	// buffer: Head interns what it emits, and an aggregation what it keeps,
	// the only ways values outlive the event.
	fields []slotVal
	// room for the usual few columns and fields, in the row's one
	// allocation
	namesArr  [6]string
	valsArr   [6]Value
	fieldsArr [16]slotVal
	needed    []Value // the emitted row of a reused row (HeadTransient)
	matched   []Value // scratch for a GROK's or DISSECT's columns
	// stamp is the last @timestamp the (pooled) row read, boxed once for
	// the next events of the same millisecond
	stampT time.Time
	stamp  Value
}

func (r *eventRow) now() time.Time { return r.t }

// col returns the index of a column (-1: none).
func (r *eventRow) col(name string) int {
	for i, n := range r.names {
		if n == name {
			return i
		}
	}
	return -1
}

func (r *eventRow) set(name string, v Value) {
	if i := r.col(name); i >= 0 {
		r.vals[i] = v
		return
	}
	r.names = append(r.names, name)
	r.vals = append(r.vals, v)
}

func (r *eventRow) get(name string) Value {
	if i := r.col(name); i >= 0 {
		return r.colAt(i)
	}
	if r.full {
		return nil
	}
	switch name {
	case "_id":
		// a copy: the event's strings alias the parser's buffer, which the
		// next record overwrites, and rows outlive the event
		return strings.Clone(r.ev.ID())
	case "_index":
		return ".ds-logs-aws.cloudtrail-default"
	case "_version":
		return int64(1)
	}
	k, ok := r.p.slot[name]
	if !ok { // a name the query does not name (KEEP *, say)
		return fieldValue(dateFields[name], event.ReadIndexed(r.ev, name))
	}
	return r.field(k)
}

// eventStamp returns the @timestamp of a raw CloudTrail record as a time,
// without the text the event's getter makes of it and parseTime reads
// back: its eventTime (a string, and a usable time) to the millisecond, as
// the ingest pipeline's date processor writes it. ok is false for every
// other event, which the getter reads.
func eventStamp(ev *event.Event) (time.Time, bool) {
	if ev.Kind != event.KindCloudTrail {
		return time.Time{}, false
	}
	if v := ev.Member("eventTime"); v == nil || v.Type() != fastjson.TypeString {
		return time.Time{}, false
	}
	t, err := ev.EventTime()
	if err != nil {
		return time.Time{}, false
	}
	return t.Truncate(time.Millisecond), true
}

// slotVal is an event field's value in a row's cache: read or not yet, one
// string (not boxed until a Value is asked for), or any other value.
type slotVal struct {
	state uint8 // slotUnread, slotStr, slotVal
	s     string
	v     Value // the value; with slotStr, s boxed once asked for (else nil)
}

const (
	slotUnread = iota
	slotStr
	slotValue
)

// read returns the cache of slot k, filled.
func (r *eventRow) read(k int) *slotVal {
	c := &r.fields[k]
	if c.state == slotUnread {
		r.fill(k, c)
	}
	return c
}

// fill reads the event field of slot k into its cache c.
func (r *eventRow) fill(k int, c *slotVal) {
	if k+1 == r.p.stamp {
		if t, ok := eventStamp(r.ev); ok {
			if r.stamp == nil || t != r.stampT {
				r.stampT, r.stamp = t, t
			}
			c.state, c.v = slotValue, r.stamp
			return
		}
	}
	vs := r.p.views[k](r.ev)
	if len(vs) == 1 && vs[0].T == event.String && !r.p.dates[k] {
		c.state, c.s = slotStr, vs[0].S // what fieldValue returns, unboxed
		return
	}
	c.state, c.v = slotValue, fieldValue(r.p.dates[k], vs)
}

// field returns the value of the event field of slot k.
func (r *eventRow) field(k int) Value {
	c := r.read(k)
	if c.state == slotStr && c.v == nil {
		c.v = c.s
	}
	return c.v
}

// startFields makes the row's field cache empty, in its own array when it
// is large enough.
func (r *eventRow) startFields() {
	n := len(r.p.views)
	if n <= len(r.fieldsArr) {
		r.fields = r.fieldsArr[:n]
		clear(r.fields)
		return
	}
	if cap(r.fields) >= n { // a reused row's, from an earlier event
		r.fields = r.fields[:n]
		clear(r.fields)
		return
	}
	r.fields = make([]slotVal, n)
}

// intern returns v with its strings copied, one copy per distinct string:
// emitted rows outlive the event whose buffer their strings may alias, and
// repeat values.
func intern(v Value) Value {
	switch x := v.(type) {
	case string:
		return unique.Make(x).Value()
	case []Value:
		out := make([]Value, len(x))
		for i, e := range x {
			out[i] = intern(e)
		}
		return out
	}
	return v
}

// internAll interns every value of a row.
func internAll(vs []Value) {
	for i, v := range vs {
		vs[i] = intern(v)
	}
}

// fieldValue converts an event field's values (of a date field or not) to
// an ES|QL value.
func fieldValue(date bool, vs []event.Value) Value {
	if len(vs) == 1 { // the usual case, without a slice
		x, _ := scalarValue(date, vs[0])
		return x
	}
	var out []Value
	for _, v := range vs {
		if x, ok := scalarValue(date, v); ok {
			out = append(out, x)
		}
	}
	return multi(out)
}

// scalarValue converts one value of an event field; ok is false for values
// ES|QL does not see (nulls, objects, unparsable dates and numbers).
func scalarValue(date bool, v event.Value) (Value, bool) {
	switch v.T {
	case event.String:
		if date {
			t, err := parseTime(v.S)
			if err != nil {
				return nil, false
			}
			return t, true
		}
		return v.S, true
	case event.Number:
		if i, err := strconv.ParseInt(v.S, 10, 64); err == nil {
			return i, true
		} else if f, err := strconv.ParseFloat(v.S, 64); err == nil {
			return f, true
		}
	case event.Bool:
		return v.S == "true", true
	}
	return nil, false
}

// materialize turns the row into plain columns: the event's fields (sorted),
// then the computed columns.
func (r *eventRow) materialize() { r.materializeFor(nil) }

// materializeFor is materialize leaving out the event's fields want
// rejects (nil: none), for a KEEP that would drop them: of a raw record's
// enrichment only what want accepts is computed.
func (r *eventRow) materializeFor(want func(string) bool) {
	if r.full {
		return
	}
	var names []string
	var vals []Value
	fields := event.FieldNames
	if want != nil {
		fields = func(e *event.Event) []string { return event.FieldNamesFor(e, want) }
	}
	for _, n := range fields(r.ev) {
		if r.col(n) >= 0 {
			continue
		}
		names, vals = append(names, n), append(vals, r.get(n))
	}
	for _, m := range r.p.Query.Metadata {
		if r.col(m) < 0 && !slices.Contains(names, m) {
			names, vals = append(names, m), append(vals, r.get(m))
		}
	}
	r.names, r.vals = append(names, r.names...), append(vals, r.vals...)
	r.full = true
}

// keepNamed applies a KEEP whose patterns are all plain field names to a
// raw CloudTrail row without materializing every field of the event (whose
// ECS view has no null leaves, so a field is present exactly when it has a
// value). It reports false, doing nothing, for other KEEPs.
func (r *eventRow) keepNamed(k Keep) bool {
	if r.full || r.ev.Kind != event.KindCloudTrail {
		return false
	}
	for _, p := range k.Patterns {
		if strings.ContainsAny(p, "*?[\\") || strings.HasPrefix(p, "_") {
			return false
		}
	}
	names := make([]string, 0, len(k.Patterns))
	vals := make([]Value, 0, len(k.Patterns))
	for _, p := range k.Patterns {
		if slices.Contains(names, p) {
			continue
		}
		computed := r.col(p) >= 0
		v := r.get(p)
		if v == nil && !computed {
			continue // absent: KEEP drops it, as over the materialized row
		}
		names, vals = append(names, p), append(vals, v)
	}
	r.names, r.vals, r.full = names, vals, true
	return true
}

func (r *eventRow) clone() *eventRow {
	c := *r
	c.names = slices.Clone(r.names)
	c.vals = slices.Clone(r.vals)
	c.fields = slices.Clone(r.fields)
	return &c
}

// Head runs the row-wise commands on one event (NOW() is the event's time)
// and calls emit with each resulting row: for aggregating queries the
// columns the tail reads, else every column. The rows are the caller's to
// keep: their strings are copies (interned).
func (p *Program) Head(ev *event.Event, t time.Time, emit func(Row)) {
	p.head1(ev, t, true, emit)
}

// HeadTransient is Head for a row that emit reads and lets go, as
// Accumulate does: the row's strings may alias the event's buffer.
func (p *Program) HeadTransient(ev *event.Event, t time.Time, emit func(Row)) {
	p.head1(ev, t, false, emit)
}

// HeadInto runs the head on one event (NOW() is t) and adds each row to
// the aggregation part returns (called only for a row, and once for all),
// at event time `at` (Unix nanoseconds), as HeadTransient then Accumulate
// would; it returns the number of rows. When every head command compiled,
// the STATS reads the head row itself: an event field that holds a string
// is not boxed, and only what a group keeps is copied. Call it only when
// Partials is true.
func (p *Program) HeadInto(ev *event.Event, t time.Time, at int64, part func() *Partial) int {
	if p.headAcc == nil {
		n := 0
		var pt *Partial
		p.HeadTransient(ev, t, func(row Row) {
			if pt == nil {
				pt = part()
			}
			p.Accumulate(pt, row, at)
			n++
		})
		return n
	}
	r := p.newRow(ev, t)
	defer p.putRow(r)
	for _, step := range p.steps {
		if !step(r) {
			return 0
		}
	}
	accumulate(p.tail[0].(Stats), p.headAcc, part(), r, at)
	return 1
}

// newRow starts the head row of an event, from the pool (let go with
// putRow).
func (p *Program) newRow(ev *event.Event, t time.Time) *eventRow {
	r, _ := p.rows.Get().(*eventRow)
	if r == nil {
		r = &eventRow{}
	}
	r.p, r.ev, r.t, r.full = p, ev, t, false
	r.names, r.vals = r.namesArr[:0], r.valsArr[:0]
	r.startFields()
	return r
}

// putRow returns a row to the pool, without the values it held.
func (p *Program) putRow(r *eventRow) {
	clear(r.namesArr[:])
	clear(r.valsArr[:])
	clear(r.fieldsArr[:])
	if len(r.fields) > len(r.fieldsArr) { // kept for the next row
		clear(r.fields)
	} else {
		r.fields = nil
	}
	clear(r.needed)
	r.ev = nil
	p.rows.Put(r)
}

func (p *Program) head1(ev *event.Event, t time.Time, keep bool, emit func(Row)) {
	// the first row is pooled: what is emitted is copied out of it (the
	// columns of a materialized row are new slices), and a transient
	// aggregating row's values are its needed slice, let go once emitted
	reuse := !keep && p.Aggregating
	first := p.newRow(ev, t)
	defer p.putRow(first)
	for _, step := range p.steps {
		if !step(first) {
			return
		}
	}
	if p.lazy {
		first.fillAll()
	}
	one := [1]*eventRow{first}
	rows := one[:]
	for _, c := range p.head[len(p.steps):] {
		if _, ok := c.(MvExpand); !ok && len(rows) == 1 {
			// one row in, at most one out: no slices
			if len(applyRow(c, rows[0], rows[:0])) == 0 {
				return
			}
			continue
		}
		var next []*eventRow
		for _, r := range rows {
			next = applyRow(c, r, next)
		}
		rows = next
		if len(rows) == 0 {
			return
		}
	}
	for _, r := range rows {
		if p.Aggregating {
			var vals []Value
			if reuse && r == first { // emit reads the row and lets it go
				first.needed = slices.Grow(first.needed[:0], len(p.needed))[:len(p.needed)]
				vals = first.needed
			} else {
				vals = make([]Value, len(p.needed))
			}
			if p.neededRead != nil && r == first {
				for i, read := range p.neededRead {
					vals[i] = read(r)
				}
			} else {
				for i, n := range p.needed {
					vals[i] = r.get(n)
				}
			}
			if keep {
				internAll(vals)
			}
			emit(Row{Names: p.needed, Values: vals})
			continue
		}
		r.materialize()
		vals := slices.Clone(r.vals)
		if keep {
			internAll(vals)
		}
		row := Row{Names: r.names, Values: vals}
		if len(p.tail) == 0 {
			emit(row)
			continue
		}
		// a non-aggregating tail (SORT, LIMIT, KEEP ...) on the event's row:
		// ordering and limits across rows are the run's max_signals
		out := p.Tail([]Row{row}, t)
		for _, vs := range out.Rows {
			emit(Row{Names: out.Columns, Values: vs})
		}
	}
}

// applyRow runs one row-wise command on a head row, appending the rows it
// yields to out.
func applyRow(c Command, r *eventRow, out []*eventRow) []*eventRow {
	switch c := c.(type) {
	case Where:
		if b, ok := eval(c.Cond, r).(bool); ok && b {
			out = append(out, r)
		}
		return out
	case Eval:
		for _, a := range c.Fields {
			r.set(a.Name, eval(a.Expr, r))
		}
	case Dissect:
		s, ok := str(eval(c.Input, r))
		var m map[string]string
		if ok {
			m, ok = c.Pattern.match(s, c.Separator)
		}
		for _, n := range c.Pattern.names {
			if v, has := m[n]; ok && has {
				r.set(n, v)
			} else {
				r.set(n, nil)
			}
		}
	case Grok:
		s, ok := str(eval(c.Input, r))
		var m map[string]Value
		if ok {
			m, ok = c.Pattern.match(s)
		}
		for _, n := range c.Pattern.columns() {
			if ok {
				r.set(n, m[n])
			} else {
				r.set(n, nil)
			}
		}
	case MvExpand:
		vs := values(r.get(c.Field))
		if len(vs) <= 1 {
			return append(out, r)
		}
		for _, v := range vs {
			x := r.clone()
			x.set(c.Field, v)
			out = append(out, x)
		}
		return out
	case Keep, Drop, Rename:
		if k, ok := c.(Keep); ok {
			if r.keepNamed(k) {
				return append(out, r)
			}
			r.materializeFor(keepMatcher(k.Patterns))
		} else {
			r.materialize()
		}
		t := Table{Columns: r.names, Rows: [][]Value{r.vals}}
		t = applyTable(c, t, time.Time{})
		r.names, r.vals = t.Columns, t.Rows[0]
	}
	return append(out, r)
}

// tableRow is a tail row.
type tableRow struct {
	t   *Table
	idx map[string]int
	row []Value
	at  time.Time
}

func (r *tableRow) get(name string) Value {
	if i, ok := r.idx[name]; ok && i < len(r.row) {
		return r.row[i]
	}
	return nil
}
func (r *tableRow) now() time.Time { return r.at }

// Tail runs the remaining commands over the head rows of one run; now is the
// run's time (NOW()).
func (p *Program) Tail(rows []Row, now time.Time) Table {
	t := Table{}
	idx := map[string]int{}
	for _, r := range rows {
		for _, n := range r.Names {
			if _, ok := idx[n]; !ok {
				idx[n] = len(t.Columns)
				t.Columns = append(t.Columns, n)
			}
		}
	}
	for _, r := range rows {
		row := make([]Value, len(t.Columns))
		for i, n := range r.Names {
			row[idx[n]] = r.Values[i]
		}
		t.Rows = append(t.Rows, row)
	}
	for _, c := range p.tail {
		t = applyTable(c, t, now)
	}
	return t
}

func indexOf(cols []string) map[string]int {
	m := make(map[string]int, len(cols))
	for i, c := range cols {
		m[c] = i
	}
	return m
}

// colMatch matches columns against a KEEP/DROP pattern: path.Match with
// "[" literal, or the pattern itself. A name, or a prefix and "*" (the
// usual patterns; "*" does not match "/"), is matched without path.Match,
// which run windows called for every column and pattern.
type colMatch struct {
	pat, pre, esc string
	kind          uint8 // colName, colPrefix, colPath
}

const (
	colName = iota
	colPrefix
	colPath
)

func colMatcher(pat string) colMatch {
	const meta = `*?[\`
	if !strings.ContainsAny(pat, meta) {
		return colMatch{pat: pat, kind: colName}
	}
	if pre, ok := strings.CutSuffix(pat, "*"); ok && !strings.ContainsAny(pre, meta) {
		return colMatch{pat: pat, pre: pre, kind: colPrefix}
	}
	return colMatch{pat: pat, esc: strings.ReplaceAll(pat, "[", `\[`), kind: colPath}
}

func (m colMatch) match(c string) bool {
	switch m.kind {
	case colName:
		return c == m.pat
	case colPrefix:
		return strings.HasPrefix(c, m.pre) && !strings.Contains(c[len(m.pre):], "/") || c == m.pat
	}
	ok, _ := path.Match(m.esc, c)
	return ok || c == m.pat
}

// keepMatcher reports whether a KEEP of patterns keeps a column.
func keepMatcher(patterns []string) func(string) bool {
	ms := make([]colMatch, len(patterns))
	for i, p := range patterns {
		ms[i] = colMatcher(p)
	}
	return func(c string) bool {
		return slices.ContainsFunc(ms, func(m colMatch) bool { return m.match(c) })
	}
}

// keepCols returns the columns a KEEP keeps, in its order: per pattern the
// columns it matches, each once.
func keepCols(cols, patterns []string) []string {
	keep := make([]string, 0, len(cols))
	for _, p := range patterns {
		m := colMatcher(p)
		for _, c := range cols {
			if m.match(c) && !slices.Contains(keep, c) {
				keep = append(keep, c)
			}
		}
	}
	return keep
}

// dropCols returns the columns a DROP keeps, in order.
func dropCols(cols, patterns []string) []string {
	keep := make([]string, 0, len(cols))
	for _, c := range cols {
		dropped := false
		for _, p := range patterns {
			if colMatcher(p).match(c) {
				dropped = true
				break
			}
		}
		if !dropped {
			keep = append(keep, c)
		}
	}
	return keep
}

func applyTable(c Command, t Table, now time.Time) Table {
	switch c := c.(type) {
	case Keep:
		return project(t, keepCols(t.Columns, c.Patterns))
	case Drop:
		return project(t, dropCols(t.Columns, c.Patterns))
	}
	idx := indexOf(t.Columns)
	env := func(row []Value) *tableRow { return &tableRow{t: &t, idx: idx, row: row, at: now} }
	switch c := c.(type) {
	case Where:
		var rows [][]Value
		for _, r := range t.Rows {
			if b, ok := eval(c.Cond, env(r)).(bool); ok && b {
				rows = append(rows, r)
			}
		}
		t.Rows = rows
	case Eval:
		for _, a := range c.Fields {
			i, ok := idx[a.Name]
			if !ok {
				i = len(t.Columns)
				t.Columns = append(t.Columns, a.Name)
				idx[a.Name] = i
			}
			for k, r := range t.Rows {
				v := eval(a.Expr, env(r))
				for len(r) <= i {
					r = append(r, nil)
				}
				r[i] = v
				t.Rows[k] = r
			}
		}
	case Dissect, Grok, MvExpand:
		var rows [][]Value
		cols := t.Columns
		for _, r := range t.Rows {
			er := &eventRow{names: slices.Clone(t.Columns), vals: slices.Clone(r), full: true}
			for len(er.vals) < len(er.names) {
				er.vals = append(er.vals, nil)
			}
			for _, x := range applyRow(c, er, nil) {
				cols = x.names
				rows = append(rows, x.vals)
			}
		}
		t.Columns, t.Rows = cols, rows
	case Rename:
		cols := append([]string(nil), t.Columns...)
		for i, from := range c.From {
			if j, ok := idx[from]; ok {
				cols[j] = c.To[i]
			}
		}
		t.Columns = cols
	case Sort:
		sort.SliceStable(t.Rows, func(a, b int) bool {
			for _, k := range c.Keys {
				va, _ := single(eval(k.Expr, env(t.Rows[a])))
				vb, _ := single(eval(k.Expr, env(t.Rows[b])))
				if va == nil || vb == nil {
					if (va == nil) == (vb == nil) {
						continue
					}
					return (va == nil) == k.NullsFirst
				}
				cmp, ok := compare(va, vb)
				if !ok || cmp == 0 {
					continue
				}
				return (cmp < 0) != k.Desc
			}
			return false
		})
	case Limit:
		if len(t.Rows) > c.N {
			t.Rows = t.Rows[:c.N]
		}
	case Stats:
		return stats(c, t, idx, now)
	}
	return t
}

// project returns the columns keep of t (a name its last column; none:
// nil).
func project(t Table, keep []string) Table {
	if len(keep) == 0 {
		keep = nil
	}
	out := Table{Columns: keep}
	if len(t.Rows) == 0 { // most run windows' results
		return out
	}
	at := make([]int, len(keep))
	for i, n := range keep {
		at[i] = -1
		for j := len(t.Columns) - 1; j >= 0; j-- { // a name's last column
			if t.Columns[j] == n {
				at[i] = j
				break
			}
		}
	}
	for _, r := range t.Rows {
		row := make([]Value, len(keep))
		for i, j := range at {
			if j < len(r) {
				row[i] = r[j]
			}
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

type group struct {
	by    []Value
	accs  []acc
	first int64 // the earliest row (time or position) in the group
}

type acc struct {
	count int64
	// vals are the distinct values (VALUES, COUNT_DISTINCT, TOP) in the
	// order first seen, strings unboxed; distinct holds their keys once
	// there are more than smallSet or one is not a string (until then
	// vals, all strings, are scanned)
	vals     []item
	distinct map[string]struct{}
	// last is 1 + the index in vals of the value last keyed (0: none):
	// consecutive rows repeat values, found then without a key
	last     int
	min, max Value     // in the order of rank
	sum      exactSum  // SUM, AVG
	nums     []float64 // MEDIAN: every value
}

func stats(c Stats, t Table, idx map[string]int, now time.Time) Table {
	pt := newPartial()
	x := compileStats(c, columnsAt(nil))
	for i, r := range t.Rows {
		accumulate(c, x, pt, &tableRow{t: &t, idx: idx, row: r, at: now}, int64(i))
	}
	return finish(c, pt)
}

// Partial is a STATS aggregation in progress: accumulators per group. Rules
// aggregate each slice of time into one as records arrive, and merge the
// slices of a run window, instead of keeping every row.
type Partial struct {
	groups map[string]*group
	// scratch for a row: keys, its BY values, the row Accumulate reads
	buf []byte
	by  []item
	row tableRow
	// the key of the last time a BY value had (a time's key is its text)
	keyTime time.Time
	timeKey []byte
	// last is the group of the last row: consecutive records repeat
	// their BY values, whose group is then found without a key
	last *group
}

func newPartial() *Partial { return &Partial{groups: map[string]*group{}} }

func newGroup(by []Value, n int, first int64) *group {
	g := &group{by: by, accs: make([]acc, n), first: first} // one allocation
	return g
}

// accumulate adds one row, at position or time `at` (which orders the
// groups: first seen, first out). The row's values may alias an event's
// buffer: what a group keeps (its BY values, distinct values, minimum and
// maximum) is interned or copied when kept.
func accumulate[E env](c Stats, x *statsExprs[E], pt *Partial, en E, at int64) {
	by := pt.by[:0]
	same := pt.last != nil && len(pt.last.by) == len(x.by) // the BY values are the last row's group's
	for i, f := range x.by {
		v := f(en)
		if _, mv := v.v.([]Value); mv {
			clear(by) // strings of the event, not to be held
			pt.by = by
			accumulateCombos(c, x, pt, en, at)
			return
		}
		by = append(by, v)
		same = same && v.sameKey(pt.last.by[i])
	}
	pt.by = by
	if same { // the group the key would find
		addTo(c, x, pt, pt.last, en, at)
		clear(by)
		return
	}
	b := append(pt.buf[:0], '[') // the key of the BY values, as appendKey of their list
	for i, v := range by {
		if i > 0 {
			b = append(b, '\x1f')
		}
		if t, ok := v.v.(time.Time); ok {
			// formatted once for the rows of a time bucket
			if pt.timeKey == nil || t != pt.keyTime {
				pt.keyTime, pt.timeKey = t, appendKey(pt.timeKey[:0], t)
			}
			b = append(b, pt.timeKey...)
		} else {
			b = v.appendKey(b)
		}
	}
	pt.buf = append(b, ']')
	pt.last = addToGroup(c, x, pt, en, at, by)
	clear(by)
}

// accumulateCombos is accumulate for a row with a multi-valued BY column:
// the row goes in each value's group.
func accumulateCombos[E env](c Stats, x *statsExprs[E], pt *Partial, en E, at int64) {
	combos := [][]Value{nil}
	for _, b := range x.by {
		vs := values(b(en).value())
		if len(vs) == 0 {
			vs = []Value{nil}
		}
		var next [][]Value
		for _, combo := range combos {
			for _, v := range vs {
				next = append(next, append(append([]Value(nil), combo...), v))
			}
		}
		combos = next
	}
	for _, combo := range combos {
		pt.buf = appendKey(pt.buf[:0], combo)
		by := make([]item, len(combo))
		for i, v := range combo {
			by[i] = item{v: v}
		}
		addToGroup(c, x, pt, en, at, by)
	}
}

// addToGroup adds the row to the group of the BY values by, whose key is
// in pt.buf, and returns the group.
func addToGroup[E env](c Stats, x *statsExprs[E], pt *Partial, en E, at int64, by []item) *group {
	g, ok := pt.groups[string(pt.buf)]
	if !ok {
		vals := make([]Value, len(by))
		for i, v := range by {
			vals[i] = v.interned()
		}
		g = newGroup(vals, len(c.Aggs), at)
		pt.groups[string(pt.buf)] = g
	}
	addTo(c, x, pt, g, en, at)
	return g
}

// addTo adds the row to the group g.
func addTo[E env](c Stats, x *statsExprs[E], pt *Partial, g *group, en E, at int64) {
	g.first = min(g.first, at)
	for _, set := range x.sets {
		if set.filter != nil && !set.filter(en) {
			continue
		}
		for _, i := range set.aggs {
			ac, fn := &g.accs[i], x.fns[i]
			if fn == fnCountAll {
				ac.count++
				continue
			}
			v := x.args[i](en)
			if mv, ok := v.v.([]Value); ok {
				for _, x := range mv {
					pt.buf = ac.addFn(pt.buf, item{v: x}, fn)
				}
			} else if v.str || v.v != nil {
				pt.buf = ac.addFn(pt.buf, v, fn)
			}
		}
	}
}

// merge adds src's groups into dst.
func merge(dst, src *Partial) {
	for k, sg := range src.groups {
		dg, ok := dst.groups[k]
		if !ok {
			dg = newGroup(sg.by, len(sg.accs), sg.first)
			dst.groups[k] = dg
		}
		dg.first = min(dg.first, sg.first)
		for i := range sg.accs {
			dst.buf = dg.accs[i].merge(dst.buf, &sg.accs[i])
		}
	}
}

// finish turns the groups into the STATS table, groups in order of their
// first row (ties by key).
func finish(c Stats, pt *Partial) Table {
	if len(c.By) == 0 && len(pt.groups) == 0 {
		pt.groups[""] = newGroup(nil, len(c.Aggs), 0)
	}
	order := make([]string, 0, len(pt.groups))
	for k := range pt.groups {
		order = append(order, k)
	}
	sort.Slice(order, func(i, j int) bool {
		a, b := pt.groups[order[i]], pt.groups[order[j]]
		if a.first != b.first {
			return a.first < b.first
		}
		return order[i] < order[j]
	})
	out := Table{}
	for _, a := range c.Aggs {
		out.Columns = append(out.Columns, a.Name)
	}
	for _, b := range c.By {
		out.Columns = append(out.Columns, b.Name)
	}
	for _, k := range order {
		g := pt.groups[k]
		row := make([]Value, 0, len(out.Columns))
		for i, a := range c.Aggs {
			row = append(row, g.accs[i].result(a))
		}
		row = append(row, g.by...)
		out.Rows = append(out.Rows, row)
	}
	return out
}

// Partials reports whether the rule can aggregate as records arrive: its
// tail starts with STATS that does not read NOW().
func (p *Program) Partials() bool {
	if len(p.tail) == 0 {
		return false
	}
	st, ok := p.tail[0].(Stats)
	if !ok {
		return false
	}
	usesNow := false
	w := func(e Expr) {
		walkExpr(e, func(x Expr) {
			if c, ok := x.(Call); ok && c.Name == "NOW" {
				usesNow = true
			}
		})
	}
	for _, a := range st.Aggs {
		if a.Arg != nil {
			w(a.Arg)
		}
		if a.Filter != nil {
			w(a.Filter)
		}
	}
	for _, b := range st.By {
		w(b.Expr)
	}
	return !usesNow
}

// NewPartial starts an aggregation.
func (p *Program) NewPartial() *Partial { return newPartial() }

// Accumulate adds a head row of event time t (Unix nanoseconds) to pt. Call
// it only when Partials is true.
func (p *Program) Accumulate(pt *Partial, row Row, t int64) {
	pt.row = tableRow{idx: p.neededIdx, row: row.Values}
	accumulate(p.tail[0].(Stats), p.acc, pt, &pt.row, t)
	pt.row.row = nil
}

// Merge adds src into dst.
func (p *Program) Merge(dst, src *Partial) { merge(dst, src) }

// TailPartials runs the tail over the merged aggregations of a run window.
func (p *Program) TailPartials(parts []*Partial, now time.Time) Table {
	st := p.tail[0].(Stats)
	if len(p.tail) > 1 && len(st.By) > 0 {
		if w, ok := p.tail[1].(Where); ok {
			p.statsWhereOnce.Do(func() { p.statsWhere = newStatsWhere(st, w, p.tail[2:]) })
			sw := p.statsWhere
			t := sw.run(parts, now)
			for i, c := range p.tail[2:] {
				if i < len(sw.proj) {
					t = project(t, sw.proj[i])
					continue
				}
				t = applyTable(c, t, now)
			}
			return t
		}
	}
	return p.tailMerged(parts, now)
}

// tailMerged is TailPartials merging every group of the parts into one
// aggregation first.
func (p *Program) tailMerged(parts []*Partial, now time.Time) Table {
	all := newPartial()
	for _, pt := range parts {
		merge(all, pt)
	}
	t := finish(p.tail[0].(Stats), all)
	for _, c := range p.tail[1:] {
		t = applyTable(c, t, now)
	}
	return t
}

// statsWhere is a STATS followed by a WHERE, with what running them over
// merged parts needs decided once: the result's columns, and the
// aggregations the WHERE reads.
type statsWhere struct {
	st   Stats
	w    Where
	cols []string
	idx  map[string]int
	need []bool
	cond cexpr[*tableRow] // the WHERE over the result's columns
	// proj are the columns each KEEP or DROP right after the WHERE keeps:
	// the result's columns are always cols, so theirs are known once
	proj [][]string
}

func newStatsWhere(st Stats, w Where, after []Command) *statsWhere {
	sw := &statsWhere{st: st, w: w, need: make([]bool, len(st.Aggs))}
	for _, a := range st.Aggs {
		sw.cols = append(sw.cols, a.Name)
	}
	for _, b := range st.By {
		sw.cols = append(sw.cols, b.Name)
	}
	sw.cols = slices.Clip(sw.cols) // each result's: an EVAL after appends to a copy
	cols := sw.cols
proj:
	for _, c := range after {
		switch c := c.(type) {
		case Keep:
			cols = slices.Clip(keepCols(cols, c.Patterns))
		case Drop:
			cols = slices.Clip(dropCols(cols, c.Patterns))
		default:
			break proj
		}
		sw.proj = append(sw.proj, cols)
	}
	sw.idx = indexOf(sw.cols)
	sw.cond = compileExpr(w.Cond, columnsAt(sw.idx))
	walkExpr(w.Cond, func(x Expr) {
		if f, ok := x.(Field); ok {
			if i, ok := sw.idx[f.Name]; ok && i < len(st.Aggs) {
				sw.need[i] = true
			}
		}
	})
	return sw
}

// run is finish over the merged parts followed by the WHERE w,
// without merging or computing, for the groups w drops, the aggregations
// it does not read (most groups of a rule like "created, then used" are
// dropped by a count that is 0). Rows, their order and their values are
// those of finish then WHERE: a group's accumulators are merged part by
// part in order either way, each one on its own.
func (sw *statsWhere) run(parts []*Partial, now time.Time) Table {
	st, need := sw.st, sw.need
	out := Table{Columns: sw.cols}
	type wgroup struct {
		key   string
		by    []Value
		first int64
		srcs  []*group // the group in each part that has it, in order
	}
	var groups []wgroup // its aggregations merged below, as needed
	at := map[string]int{}
	for _, pt := range parts {
		for k, sg := range pt.groups {
			if i, ok := at[k]; ok {
				groups[i].first = min(groups[i].first, sg.first)
				groups[i].srcs = append(groups[i].srcs, sg)
				continue
			}
			at[k] = len(groups)
			groups = append(groups, wgroup{key: k, by: sg.by, first: sg.first, srcs: []*group{sg}})
		}
	}
	slices.SortFunc(groups, func(a, b wgroup) int {
		if a.first != b.first {
			return cmpOrdered(a.first, b.first)
		}
		return strings.Compare(a.key, b.key)
	})
	var buf []byte
	var ac acc
	result := func(g *wgroup, i int) Value {
		if len(g.srcs) == 1 { // one part's: its result is the merged one's
			return g.srcs[0].accs[i].result(st.Aggs[i])
		}
		ac = acc{}
		for _, sg := range g.srcs {
			buf = ac.merge(buf, &sg.accs[i])
		}
		return ac.result(st.Aggs[i])
	}
	en := &tableRow{idx: sw.idx, row: make([]Value, len(out.Columns)), at: now}
	for gi := range groups {
		g := &groups[gi]
		row := en.row
		clear(row)
		for i := range st.Aggs {
			if need[i] {
				row[i] = result(g, i)
			}
		}
		copy(row[len(st.Aggs):], g.by)
		if b, ok := sw.cond(en).(bool); !ok || !b {
			continue
		}
		row = slices.Clone(row)
		for i := range st.Aggs {
			if !need[i] {
				row[i] = result(g, i)
			}
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}

// aggregation functions as add tells them apart (aggFn)
const (
	fnDistinct = iota // VALUES, COUNT_DISTINCT, TOP: the distinct values
	fnCount
	fnCountAll // COUNT(*)
	fnMedian
	fnMinMax
	fnSum // SUM, AVG
)

// aggFn returns the code of the aggregation function fn (upper case).
func aggFn(fn string) uint8 {
	switch fn {
	case "COUNT":
		return fnCount
	case "MEDIAN":
		return fnMedian
	case "MIN", "MAX":
		return fnMinMax
	case "SUM", "AVG":
		return fnSum
	}
	return fnDistinct
}

// add adds one value of the aggregation fn, interning or copying what it
// keeps, and keeping only what fn's result reads (COUNT the count, MIN and
// MAX the extremes, SUM and AVG the sum, MEDIAN the numbers, VALUES,
// COUNT_DISTINCT and TOP the distinct values); buf is scratch for the
// value's key, returned for reuse.
func (a *acc) add(buf []byte, it item, fn string) []byte {
	return a.addFn(buf, it, aggFn(fn))
}

// addFn is add with fn's code (aggFn).
func (a *acc) addFn(buf []byte, it item, fn uint8) []byte {
	a.count++
	switch fn {
	case fnCount, fnCountAll:
		return buf
	case fnMedian:
		if f, ok := toFloat(it.v); ok {
			a.nums = append(a.nums, f)
		}
		return buf
	case fnDistinct:
		return a.addDistinct(buf, it, false)
	}
	v := it.value()
	switch fn {
	case fnMinMax:
		if a.min == nil {
			v = intern(v)
			a.min, a.max = v, v
			return buf
		}
		if order(v, a.min) < 0 {
			a.min = intern(v)
		}
		if order(v, a.max) > 0 {
			a.max = intern(v)
		}
		return buf
	case fnSum:
		a.sum.add(v)
	}
	return buf
}

// smallSet is how many distinct strings an accumulator scans before it
// keys its values in a map.
const smallSet = 8

// addDistinct adds it to the distinct values unless it is one already:
// copied (a string) or interned when it is not the accumulator's own to
// keep (a value merged from another accumulator is).
func (a *acc) addDistinct(buf []byte, it item, own bool) []byte {
	if s, ok := it.v.(string); ok && !it.str {
		it = item{s: s, str: true}
	}
	if a.distinct == nil && it.str && len(a.vals) < smallSet {
		for _, x := range a.vals {
			if x.s == it.s { // without a map, every value is a string
				return buf
			}
		}
		if !own {
			it.s = strings.Clone(it.s)
		}
		a.vals = append(a.vals, it)
		return buf
	}
	if a.last > 0 && a.vals[a.last-1].sameValue(it) {
		return buf
	}
	if a.distinct == nil {
		a.distinct = make(map[string]struct{}, 2*len(a.vals))
		for _, x := range a.vals {
			buf = x.appendValueKey(buf[:0])
			a.distinct[string(buf)] = struct{}{}
		}
	}
	buf = it.appendValueKey(buf[:0])
	if _, ok := a.distinct[string(buf)]; ok {
		return buf
	}
	k := string(buf)
	a.distinct[k] = struct{}{}
	if !own {
		if it.str {
			it.s = k[1:] // the key is a copy: the value is its tail
		} else {
			it.v = intern(it.v)
		}
	}
	a.vals = append(a.vals, it)
	a.last = len(a.vals)
	return buf
}

// sameValue reports whether a distinct value x is surely it (the same
// appendValueKey): the same string, or the same instant. False says
// nothing.
func (x item) sameValue(it item) bool {
	if x.str || it.str {
		return x.str && it.str && x.s == it.s
	}
	t, ok := it.v.(time.Time)
	u, ok2 := x.v.(time.Time)
	return ok && ok2 && t.Equal(u)
}

// merge adds another accumulator's values; buf is scratch for keys,
// returned for reuse.
func (a *acc) merge(buf []byte, o *acc) []byte {
	a.count += o.count
	for _, v := range o.vals {
		buf = a.addDistinct(buf, v, true)
	}
	if o.min != nil {
		if a.min == nil {
			a.min, a.max = o.min, o.max
		} else {
			if order(o.min, a.min) < 0 {
				a.min = o.min
			}
			if order(o.max, a.max) > 0 {
				a.max = o.max
			}
		}
	}
	a.sum.merge(&o.sum)
	a.nums = append(a.nums, o.nums...)
	return buf
}

func (a *acc) result(ag Agg) Value {
	switch ag.Func {
	case "COUNT":
		return a.count
	case "COUNT_DISTINCT":
		return int64(len(a.vals))
	case "VALUES":
		vs := a.values()
		sortValues(vs)
		return multi(vs)
	case "MIN":
		return a.min
	case "MAX":
		return a.max
	case "SUM":
		return a.sum.value()
	case "AVG":
		f, ok := toFloat(a.sum.value())
		if !ok || a.count == 0 {
			return nil
		}
		return f / float64(a.count)
	case "MEDIAN":
		return median(a)
	case "TOP":
		vs := a.values()
		sortValues(vs)
		n := len(vs)
		if len(ag.Args) > 0 {
			if l, ok := ag.Args[0].(Lit); ok {
				if k, ok := l.V.(int64); ok {
					n = int(k)
				}
			}
		}
		if len(ag.Args) > 1 {
			if l, ok := ag.Args[1].(Lit); ok && strings.EqualFold(fmt.Sprint(l.V), "desc") {
				for i, j := 0, len(vs)-1; i < j; i, j = i+1, j-1 {
					vs[i], vs[j] = vs[j], vs[i]
				}
			}
		}
		return multi(vs[:min(n, len(vs))])
	}
	return nil
}

// values returns the distinct values, boxed.
func (a *acc) values() []Value {
	vs := make([]Value, len(a.vals))
	for i, x := range a.vals {
		vs[i] = x.value()
	}
	return vs
}

func median(a *acc) Value {
	if len(a.nums) == 0 {
		return nil
	}
	fs := append([]float64(nil), a.nums...)
	sort.Float64s(fs)
	m := len(fs) / 2
	if len(fs)%2 == 1 {
		return fs[m]
	}
	return (fs[m-1] + fs[m]) / 2
}

// Fields returns the sorted names of the event fields the query reads.
func (p *Program) Fields() []string {
	return slices.Sorted(maps.Keys(p.slot))
}

// DecisionFields returns the sorted names of the event fields that can
// change which rows the query yields: all it reads except those only listed
// by a STATS VALUES() whose result no later command tests. A field missing
// from every event then only leaves a column empty.
func (p *Program) DecisionFields() []string {
	cmds := p.Query.Commands
	set := map[string]bool{}
	defined := map[string]bool{} // columns earlier commands computed
	add := func(f string) {
		if f != "*" && !strings.HasPrefix(f, "_") && !defined[f] {
			set[f] = true
		}
	}
	for i, c := range cmds {
		st, ok := c.(Stats)
		if !ok {
			switch c.(type) {
			case Keep, Drop, Rename:
			default:
				walkCommand(c, add)
			}
			for _, n := range columnsSet(c) {
				defined[n] = true
			}
			continue
		}
		used := map[string]bool{}
		for _, later := range cmds[i+1:] {
			switch later.(type) {
			case Keep, Drop, Rename:
			default:
				walkCommand(later, func(f string) { used[f] = true })
			}
		}
		for _, a := range st.Aggs {
			if a.Func == "VALUES" && !used[a.Name] && a.Filter == nil {
				continue
			}
			walkCommand(Stats{Aggs: []Agg{a}}, add)
		}
		walkCommand(Stats{By: st.By}, add)
		for _, n := range columnsSet(c) {
			defined[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
