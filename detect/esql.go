package detect

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/esql"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// ES|QL rules run their head (FROM ... WHERE, EVAL, ...) row by row as
// records arrive. A non-aggregating rule raises an alert per row, as a
// single-event rule does; an aggregating one runs its tail (STATS ...)
// over the rows of each run window, or, when its STATS can, over
// aggregations kept per slice of time that run windows hold whole.

// esqlMatchDetector raises an alert per row of a non-aggregating rule.
type esqlMatchDetector struct {
	matchDetector
}

func (d *esqlMatchDetector) collect(c *Collector, i int, ev *event.Event, cd candidate) {
	r := c.p.rules[i].r
	n := 0
	r.ESQL.Head(ev, time.Unix(0, cd.t).UTC(), func(row esql.Row) {
		x := cd
		a := alert.New(ev, r)
		if n > 0 { // MV_EXPAND: one alert per row
			a.ID = alert.IDWith(ev, r.Key(), strconv.Itoa(n))
		}
		a.Time = time.Unix(0, x.t).UTC()
		a.Fields = rowFields(row)
		x.alert = &a
		n++
		c.cands[i] = append(c.cands[i], x)
	})
}

// esqlRowsDetector keeps the head rows of an aggregating rule while a run
// not yet decided may read them.
type esqlRowsDetector struct {
	esqlWindows
	rows []candidate // sorted
}

func (d *esqlRowsDetector) collect(c *Collector, i int, ev *event.Event, cd candidate) {
	c.p.rules[i].r.ESQL.Head(ev, time.Unix(0, cd.t).UTC(), func(row esql.Row) {
		x := cd
		x.row = row
		c.cands[i] = append(c.cands[i], x)
	})
}

func (d *esqlRowsDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	if len(in) > 0 {
		d.rows = append(d.rows, in...)
		sortCandidates(d.rows)
	}
	ts := times(d.rows)
	raised := d.decide(ts, w, func(end int64, lo, hi int) esql.Table {
		rows := make([]esql.Row, hi-lo)
		for k, c := range d.rows[lo:hi] {
			rows[k] = c.row
		}
		return d.ri.r.ESQL.Tail(rows, time.Unix(0, end).UTC())
	}, st, rs)
	keep := d.sched.open(ts)
	clear(d.rows[:keep])
	d.rows = d.rows[keep:]
	return raised, d.horizon(w)
}

func (d *esqlRowsDetector) held() int { return len(d.rows) }

// esqlSlicesDetector keeps, per slice of time, the aggregation of the rows
// in it, while a run not yet decided may read it.
type esqlSlicesDetector struct {
	esqlWindows
	parts map[int64]*esql.Partial // slice start -> aggregation
}

func (d *esqlSlicesDetector) collect(c *Collector, i int, ev *event.Event, cd candidate) {
	ri := c.p.rules[i]
	c.sliceRows[i] += ri.r.ESQL.HeadInto(ev, time.Unix(0, cd.t).UTC(), cd.t, func() *esql.Partial {
		start := floorDiv(cd.t, ri.slice) * ri.slice
		if c.slices[i] == nil {
			c.slices[i] = map[int64]*esql.Partial{}
		}
		pt := c.slices[i][start]
		if pt == nil {
			pt = ri.r.ESQL.NewPartial()
			c.slices[i][start] = pt
		}
		return pt
	})
}

// advance takes slices (candidates with part set, at their start).
func (d *esqlSlicesDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	for _, c := range in {
		if m := d.parts[c.t]; m != nil {
			d.ri.r.ESQL.Merge(m, c.part)
		} else {
			d.parts[c.t] = c.part
		}
	}
	starts := slices.Sorted(maps.Keys(d.parts))
	raised := d.decide(starts, w, func(end int64, lo, hi int) esql.Table {
		parts := make([]*esql.Partial, hi-lo)
		for k, s := range starts[lo:hi] {
			parts[k] = d.parts[s]
		}
		return d.ri.r.ESQL.TailPartials(parts, time.Unix(0, end).UTC())
	}, st, rs)
	for _, s := range starts[:d.sched.open(starts)] {
		delete(d.parts, s)
	}
	return raised, d.horizon(w)
}

func (d *esqlSlicesDetector) held() int { return len(d.parts) }

// esqlWindows raises the result rows of an aggregating rule's run windows.
type esqlWindows struct {
	ri    *ruleInfo
	sched schedule
	seen  map[string]bool // alert ids raised (see decide)
}

func newESQLWindows(ri *ruleInfo) esqlWindows {
	return esqlWindows{ri: ri, sched: newSchedule(ri), seen: map[string]bool{}}
}

// decide raises the result rows of every run window up to w, at most
// max_signals per run; table computes a window's result from the index
// range of its times. The id hashes the rule and the row, so an overlapping
// run producing the same row raises nothing new; nor does a later run,
// however much later, in the same hunt or stream: seen keeps the ids raised
// for as long as the processor lives (one id per alert raised, not per
// record), so that a stream raises what a batch does.
func (e *esqlWindows) decide(times []int64, w int64, table func(end int64, lo, hi int) esql.Table, st *state.Rule, rs *RuleStats) []candidate {
	var raised []candidate
	e.sched.decide(times, w, func(end int64, lo, hi int) {
		table := table(end, lo, hi)
		n := 0
		for _, vals := range table.Rows {
			row := esql.Row{Names: table.Columns, Values: vals}
			fields := rowFields(row)
			b, _ := json.Marshal(fields)
			id := hashID("esql", e.ri.r.Key(), string(b))
			if e.seen[id] {
				continue
			}
			if _, ok := st.Alerted[id]; ok {
				rs.Known++
				continue
			}
			if n >= e.ri.r.Schedule.MaxSignals {
				rs.Withheld++
				continue
			}
			n++
			e.seen[id] = true
			a := alert.FromRule(e.ri.r)
			a.ID, a.Time, a.Fields = id, time.Unix(0, end).UTC(), fields
			supp, sv := rowSuppression(e.ri.r, fields)
			raised = append(raised, candidate{t: end, alert: &a, supp: supp, sv: sv})
		}
	})
	return raised
}

// horizon is the lowest time of an alert a run not yet decided may raise:
// its end.
func (e *esqlWindows) horizon(w int64) int64 {
	return min(w, e.sched.next)
}

// rowFields turns an ES|QL row into alert fields.
func rowFields(row esql.Row) map[string]any {
	out := make(map[string]any, len(row.Names))
	for i, n := range row.Names {
		if v := row.Values[i]; v != nil {
			out[n] = esql.JSON(v)
		}
	}
	return out
}

// rowSuppression is the suppression key and terms of an aggregating rule's
// result row: its alert_suppression fields are read from the row's columns
// (a STATS ... BY column), as Elastic does for ES|QL rules.
func rowSuppression(r *rule.Rule, fields map[string]any) (string, []any) {
	if r.Suppression == nil {
		return "", nil
	}
	vals := make([][]string, len(r.Suppression.GroupBy))
	for j, f := range r.Suppression.GroupBy {
		vals[j] = columnValues(fields[f])
	}
	return suppression(r, vals)
}

// suppression is the suppression key of an alert whose group_by fields
// have the values vals (in the order of group_by; none for a missing
// field), "" when it is not suppressed, and its terms for the alert.
func suppression(r *rule.Rule, vals [][]string) (string, []any) {
	var parts []string
	var sv []any
	missing := false
	for j, v := range vals {
		if len(v) == 0 {
			missing = true
			sv = append(sv, nil)
		} else {
			sv = append(sv, v)
		}
		b, _ := json.Marshal(v)
		parts = append(parts, r.Suppression.GroupBy[j]+"="+string(b))
	}
	if missing && r.Suppression.MissingFieldsStrategy == "doNotSuppress" {
		return "", sv
	}
	return strings.Join(parts, "\x1f"), sv
}

// columnValues is a result column's distinct values as strings (a
// multi-valued column is a list), nil when it is null or absent.
func columnValues(v any) []string {
	var out []string
	add := func(x any) {
		if x == nil {
			return
		}
		s, ok := x.(string)
		if !ok {
			b, _ := json.Marshal(x)
			s = string(b)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if l, ok := v.([]any); ok {
		for _, x := range l {
			add(x)
		}
	} else {
		add(v)
	}
	return out
}
