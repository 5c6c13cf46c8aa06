// Package detect turns rule matches into alerts the way Elastic's detection
// engine does, in event time: scheduled runs over look-back windows with
// max_signals per run, de-duplication across overlapping windows and across
// hunts, new_terms with a history window, threshold with cardinality, and
// alert suppression. State that must outlive a hunt lives in a state.Store.
//
// Matching runs in parallel (a Collector per worker); Finish then processes
// each rule's matches in time order, so the result does not depend on the
// order in which files were read.
package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/esql"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// maxTermCombinations caps the cross product of array values one event
// contributes to a new_terms or threshold rule, as Elastic does.
const maxTermCombinations = 100

// Options restrict what is considered.
type Options struct {
	From, To time.Time // event-time range; zero means unbounded
}

// Processor holds the rules and their state for one hunt.
type Processor struct {
	rules   []*ruleInfo
	index   map[*rule.Rule]int
	store   state.Store
	opts    Options
	dirty   map[string]*state.Rule
	pending [][]candidate // correlations: alerts of the correlations they read
}

type ruleInfo struct {
	r           *rule.Rule
	interval    int64
	lookback    int64
	history     int64 // new_terms history window
	termGetters []event.Getter
	groupGetter []event.Getter
	cardGetter  []event.Getter
	suppGetter  []event.Getter
	feeds       []feed // correlations reading this rule's matches
	chained     []feed // correlations reading this correlation's alerts
	silent      bool   // only correlations use the matches (Sigma generate: false)
	corr        *corrInfo
	steps       []engine.Matcher // EQL sequence steps; the until step last
	slice       int64            // aggregating ES|QL: length of the time slices aggregated as records arrive
	stepBy      [][]event.Getter // join fields per step (sequence by + step by)
}

// New prepares a processor for rules (the engine's runnable rules).
func New(rules []*rule.Rule, store state.Store, opts Options) (*Processor, error) {
	p := &Processor{index: map[*rule.Rule]int{}, store: store, opts: opts, dirty: map[string]*state.Rule{}}
	rule.MarkDuplicateIDs(rules) // rules sharing an id get keys of their own (catalog.Load did it already)
	for i, r := range rules {
		ri := &ruleInfo{r: r, interval: int64(r.Schedule.Interval), lookback: int64(r.Schedule.Lookback)}
		if ri.interval <= 0 {
			ri.interval = int64(5 * time.Minute)
		}
		if ri.lookback <= 0 {
			ri.lookback = ri.interval
		}
		if nt := r.NewTerms; nt != nil && r.Type == "new_terms" {
			h, err := rule.ParseDateMath(nt.HistoryWindowStart)
			if err != nil {
				return nil, fmt.Errorf("rule %s: history_window_start: %w", r.ID, err)
			}
			ri.history = int64(h)
			for _, f := range nt.Fields {
				ri.termGetters = append(ri.termGetters, event.ResolveIndexed(f))
			}
		}
		if th := r.Threshold; th != nil && r.Type == "threshold" {
			for _, f := range th.Fields {
				ri.groupGetter = append(ri.groupGetter, event.ResolveIndexed(f))
			}
			for _, c := range th.Cardinality {
				ri.cardGetter = append(ri.cardGetter, event.ResolveIndexed(c.Field))
			}
		}
		if r.ESQL != nil && r.ESQL.Aggregating && r.ESQL.Partials() {
			// run windows [k*interval - lookback, k*interval) hold whole slices
			ri.slice = gcd(ri.interval, ri.lookback)
		}
		if sq := r.Sequence; sq != nil {
			steps := sq.Steps
			if sq.Until != nil {
				steps = append(steps[:len(steps):len(steps)], *sq.Until)
			}
			for _, st := range steps {
				m, err := engine.CompileCond(st.Cond)
				if err != nil {
					return nil, fmt.Errorf("rule %s: sequence step: %w", r.ID, err)
				}
				var gs []event.Getter
				for _, f := range append(append([]string(nil), sq.By...), st.By...) {
					gs = append(gs, event.ResolveIndexed(f))
				}
				ri.steps = append(ri.steps, m)
				ri.stepBy = append(ri.stepBy, gs)
			}
		}
		if s := r.Suppression; s != nil {
			for _, f := range s.GroupBy {
				ri.suppGetter = append(ri.suppGetter, event.ResolveIndexed(f))
			}
		}
		p.index[r] = i
		p.rules = append(p.rules, ri)
	}
	p.pending = make([][]candidate, len(p.rules))
	if err := p.linkCorrelations(); err != nil {
		return nil, err
	}
	return p, nil
}

// finishOrder is the order rules are finished in: plain rules first, then
// each correlation after the correlations it reads.
func (p *Processor) finishOrder() ([]int, error) {
	var order []int
	done := map[int]bool{}
	var corrs []int
	for i, ri := range p.rules {
		if ri.corr == nil {
			order = append(order, i)
			done[i] = true
		} else {
			corrs = append(corrs, i)
		}
	}
	for len(corrs) > 0 {
		var rest []int
		for _, i := range corrs {
			ready := true
			for _, w := range p.rules[i].corr.waits {
				ready = ready && done[w]
			}
			if ready {
				order = append(order, i)
				done[i] = true
			} else {
				rest = append(rest, i)
			}
		}
		if len(rest) == len(corrs) {
			return nil, fmt.Errorf("correlations reference each other in a cycle: %s", p.rules[rest[0]].r.Name)
		}
		corrs = rest
	}
	return order, nil
}

// candidate is one match prepared for its rule's type.
type candidate struct {
	t     int64
	alert *alert.Alert // query, new_terms
	term  string       // new_terms: the term (values joined by \x1f)
	group []string     // threshold: group values
	card  []string     // threshold: values of the (first) cardinality field
	supp  string       // suppression key; "" when the event is not suppressed
	sv    []any        // suppression terms, for the alert
	row   esql.Row     // aggregating ES|QL: the head row for the tail
	step  int          // EQL sequence: the step matched (len(Steps) = until)
	join  string       // EQL sequence: the join key
	src   *source      // threshold: the event (an alert carries its group's first)
}

// source is a matched event kept without an alert: where it is, and the
// record.
type source struct {
	ev  alert.Event
	rec json.RawMessage
}

// place is where a candidate's event is in the input ("" when it has none).
func (c *candidate) place() (string, int64) {
	switch {
	case c.alert != nil:
		return c.alert.Event.File, c.alert.Event.Offset
	case c.src != nil:
		return c.src.ev.File, c.src.ev.Offset
	}
	return "", 0
}

// Collector gathers one worker's matches.
type Collector struct {
	p         *Processor
	cands     [][]candidate
	buf       []event.Value
	firstSeen map[termKey]int                 // new_terms: index of the candidate holding the bucket's alert
	slices    map[int]map[int64]*esql.Partial // aggregating ES|QL: rule -> slice start -> aggregation
	sliceRows map[int]int
	scratch   *engine.Scratch
	untimed   [][]candidate // alerts on records without a usable event time, at their file's time
	noTime    []int         // matches of such records a rule skipped (it needs event time)
}

// termKey is a new_terms term in one history-window-long bucket of time.
type termKey struct {
	rule   int
	term   string
	bucket int64
}

// NewCollector returns a collector for one goroutine.
func (p *Processor) NewCollector() *Collector {
	return &Collector{p: p, cands: make([][]candidate, len(p.rules)), firstSeen: map[termKey]int{}, scratch: engine.NewScratch(),
		slices: map[int]map[int64]*esql.Partial{}, sliceRows: map[int]int{},
		untimed: make([][]candidate, len(p.rules)), noTime: make([]int, len(p.rules))}
}

// eventTime is the rule's time for an event: event.ingested when the rule
// overrides its timestamp and the event has one (ECS input), else the event
// time (raw CloudTrail has no ingest time, so Elastic's fallback applies).
func eventTime(r *rule.Rule, ev *event.Event) time.Time {
	if r.Schedule.TimestampOverride != "" && ev.Kind == event.KindECS {
		if s, ok := event.Lookup(ev, r.Schedule.TimestampOverride).(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.UTC()
			}
		}
	}
	return ev.Time()
}

// values returns the string values of a field, de-duplicated.
func (c *Collector) values(g event.Getter, ev *event.Event) []string {
	c.buf = g(ev, c.buf[:0])
	var out []string
	for _, v := range c.buf {
		if v.T == event.Null {
			continue
		}
		dup := false
		for _, o := range out {
			if o == v.S {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, strings.Clone(v.S))
		}
	}
	return out
}

// cross returns the cross product of value lists (nil if any list is empty).
func cross(lists [][]string) [][]string {
	out := [][]string{nil}
	for _, l := range lists {
		if len(l) == 0 {
			return nil
		}
		var next [][]string
		for _, prefix := range out {
			for _, v := range l {
				if len(next) >= maxTermCombinations {
					break
				}
				next = append(next[:len(next):len(next)], append(append([]string(nil), prefix...), v))
			}
		}
		out = next
	}
	return out
}

// Add records that ev matched r.
func (c *Collector) Add(r *rule.Rule, ev *event.Event) {
	i := c.p.index[r]
	ri := c.p.rules[i]
	t := eventTime(r, ev)
	if t.IsZero() {
		c.addUntimed(i, ev)
		return
	}
	if (!c.p.opts.From.IsZero() && t.Before(c.p.opts.From)) || (!c.p.opts.To.IsZero() && !t.Before(c.p.opts.To)) {
		return
	}
	cd := candidate{t: t.UnixNano()}
	c.feedCorrelations(ri, ev, cd.t)
	if ri.suppGetter != nil {
		var parts []string
		missing := false
		for j, g := range ri.suppGetter {
			vals := c.values(g, ev)
			if len(vals) == 0 {
				missing = true
				cd.sv = append(cd.sv, nil)
			} else {
				cd.sv = append(cd.sv, vals)
			}
			b, _ := json.Marshal(vals)
			parts = append(parts, r.Suppression.GroupBy[j]+"="+string(b))
		}
		if !missing || r.Suppression.MissingFieldsStrategy != "doNotSuppress" {
			cd.supp = strings.Join(parts, "\x1f")
		}
	}
	switch r.Type {
	case "new_terms":
		lists := make([][]string, len(ri.termGetters))
		for j, g := range ri.termGetters {
			lists[j] = c.values(g, ev)
		}
		for _, combo := range cross(lists) {
			x := cd
			x.term = strings.Join(combo, "\x1f")
			// Only the earliest sighting of a term in each history-window
			// bucket can be new (any other has one less than a window
			// before it), so only it carries an alert; the rest are times.
			key := termKey{i, x.term, x.t / max(ri.history, 1)}
			j, held := c.firstSeen[key]
			id := ""
			if held && x.t == c.cands[i][j].t {
				id = alert.IDWith(ev, r.Key(), x.term)
			}
			if !held || x.t < c.cands[i][j].t || (id != "" && id < c.cands[i][j].alert.ID) {
				a := alert.New(ev, r)
				a.ID = alert.IDWith(ev, r.Key(), x.term)
				a.NewTerms = combo
				a.Time = time.Unix(0, x.t).UTC()
				x.alert = &a
				if held {
					c.cands[i][j].alert = nil
				}
				c.firstSeen[key] = len(c.cands[i])
			}
			c.cands[i] = append(c.cands[i], x)
		}
	case "threshold":
		lists := make([][]string, len(ri.groupGetter))
		for j, g := range ri.groupGetter {
			lists[j] = c.values(g, ev)
		}
		var card []string
		if len(ri.cardGetter) > 0 {
			card = c.values(ri.cardGetter[0], ev)
		}
		src := &source{ev: alert.Locate(ev), rec: json.RawMessage(append([]byte(nil), ev.Raw...))}
		for _, combo := range cross(lists) {
			x := cd
			x.group, x.card, x.src = combo, card, src
			c.cands[i] = append(c.cands[i], x)
		}
	case "eql":
		if ri.steps == nil {
			a := alert.New(ev, r)
			a.Time = time.Unix(0, cd.t).UTC()
			cd.alert = &a
			c.cands[i] = append(c.cands[i], cd)
			return
		}
		for j, m := range ri.steps {
			if !m(ev, c.scratch) {
				continue
			}
			var parts []string
			missing := false
			for _, g := range ri.stepBy[j] {
				vals := c.values(g, ev)
				if len(vals) == 0 {
					missing = true // EQL joins only events that have the key
				}
				parts = append(parts, strings.Join(vals, "\x1e"))
			}
			if missing {
				continue
			}
			x := cd
			x.step, x.join = j, strings.Join(parts, "\x1f")
			if j < len(r.Sequence.Steps) {
				a := alert.New(ev, r)
				a.Time = time.Unix(0, x.t).UTC()
				x.alert = &a
			}
			c.cands[i] = append(c.cands[i], x)
		}
	case "esql":
		n := 0
		r.ESQL.Head(ev, t, func(row esql.Row) {
			if ri.slice > 0 { // aggregate as records arrive, per slice of time
				start := floorDiv(cd.t, ri.slice) * ri.slice
				if c.slices[i] == nil {
					c.slices[i] = map[int64]*esql.Partial{}
				}
				pt := c.slices[i][start]
				if pt == nil {
					pt = r.ESQL.NewPartial()
					c.slices[i][start] = pt
				}
				r.ESQL.Accumulate(pt, row, cd.t)
				c.sliceRows[i]++
				return
			}
			x := cd
			if r.ESQL.Aggregating {
				x.row = row
			} else {
				a := alert.New(ev, r)
				if n > 0 { // MV_EXPAND: one alert per row
					a.ID = alert.IDWith(ev, r.Key(), strconv.Itoa(n))
				}
				a.Time = time.Unix(0, x.t).UTC()
				a.Fields = rowFields(row)
				x.alert = &a
			}
			n++
			c.cands[i] = append(c.cands[i], x)
		})
	default:
		a := matchAlert(r, ev)
		a.Time = time.Unix(0, cd.t).UTC()
		if d := r.Dedup; d != nil {
			cd.term = a.Title
			if d.Key != nil {
				cd.term = d.Key(ev)
			}
		}
		cd.alert = &a
		c.cands[i] = append(c.cands[i], cd)
	}
}

// matchAlert is the alert of a single-event rule on ev, with the rule's
// output (Panther: title, context, dynamic severity).
func matchAlert(r *rule.Rule, ev *event.Event) alert.Alert {
	a := alert.New(ev, r)
	if o := r.Output; o != nil {
		if o.Title != nil {
			a.Title = o.Title(ev)
		}
		if o.Context != nil {
			a.Context = o.Context(ev)
		}
		if o.Severity != nil {
			if s := o.Severity(ev); s != "" {
				a.Rule.Severity = s
			}
		}
	}
	return a
}

// needsNoTime reports whether a rule judges each event on its own, without
// its time: single-event Elastic query and EQL rules, Sigma rules, and
// Panther rules that alert on one match. Every other rule keeps state in
// event time (new_terms, threshold, sequences, ES|QL, correlations, dedup
// thresholds).
func needsNoTime(r *rule.Rule) bool {
	switch r.Type {
	case "query", "sigma":
		return true
	case "eql":
		return r.Sequence == nil
	case "panther":
		return r.Dedup == nil || r.Dedup.Threshold <= 1
	}
	return false
}

// addUntimed takes a match of a record without a usable event time. Rules
// that need no event time raise their alert at the file's time
// (ev.FileTime), marked as not the event's time; the others, and the
// correlations reading the rule, skip it and count it: a made-up time must
// not enter windows, histories or the state.
func (c *Collector) addUntimed(i int, ev *event.Event) {
	ri := c.p.rules[i]
	for _, f := range ri.feeds {
		c.noTime[f.corr]++
	}
	_, why := ev.EventTime()
	if ev.FileTime.IsZero() || why == nil || !needsNoTime(ri.r) {
		c.noTime[i]++
		return
	}
	a := matchAlert(ri.r, ev)
	a.Time = ev.FileTime.UTC()
	a.TimeSubstitute = &alert.TimeSubstitute{From: ev.FileTimeFrom, Reason: why.Error()}
	c.untimed[i] = append(c.untimed[i], candidate{t: a.Time.UnixNano(), alert: &a})
}

// raiseUntimed raises the alerts on records without event time, after the
// rule's other alerts: once per record (a record delivered twice alerts
// once), not again when an earlier hunt raised it (the state keeps its id
// at the rule's watermark, so it expires with the rule's window), outside
// max_signals runs and suppression, which need event time.
func (p *Processor) raiseUntimed(ri *ruleInfo, cands []candidate, st *state.Rule, alerts []alert.Alert, rs RuleStats) ([]alert.Alert, RuleStats) {
	sort.Slice(cands, func(a, b int) bool {
		x, y := cands[a].alert, cands[b].alert
		if x.ID != y.ID {
			return x.ID < y.ID
		}
		return x.Event.File < y.Event.File || x.Event.File == y.Event.File && x.Event.Offset < y.Event.Offset
	})
	for k, c := range cands {
		switch {
		case k > 0 && cands[k-1].alert.ID == c.alert.ID:
			rs.Duplicates++
		case hasKey(st.Alerted, c.alert.ID):
			rs.Known++
		case ri.r.Dedup != nil && ri.r.Dedup.Signal:
			rs.Signals++
		default:
			st.Alerted[c.alert.ID] = st.Watermark
			alerts = append(alerts, *c.alert)
		}
	}
	return alerts, rs
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// RuleStats reports what Finish did with one rule's matches.
type RuleStats struct {
	Matches    int // matching events (threshold: group memberships)
	Alerts     int
	Withheld   int // over max_signals in every run that could have raised them
	Suppressed int // folded into an earlier alert by alert_suppression
	Known      int // raised by an earlier hunt already (state)
	Duplicates int // the same record seen twice (delivered twice)
	Signals    int // Panther CreateAlert: false: matches that would have alerted
	NoTime     int // matches of records without a usable event time, skipped: the rule needs event time
}

// Finish processes all matches rule by rule and returns the alerts, sorted
// by time, and per-rule statistics (by rule.Rule.Key). The new state is kept until Commit.
func (p *Processor) Finish(collectors []*Collector) ([]alert.Alert, map[string]RuleStats, error) {
	var all []alert.Alert
	stats := map[string]RuleStats{}
	order, err := p.finishOrder()
	if err != nil {
		return nil, nil, err
	}
	for _, i := range order {
		ri := p.rules[i]
		cands := p.pending[i]
		for _, c := range collectors {
			cands = append(cands, c.cands[i]...)
		}
		st, err := p.store.Load(ri.r.Key())
		if err != nil {
			return nil, nil, err
		}
		sort.SliceStable(cands, func(a, b int) bool {
			if cands[a].t != cands[b].t {
				return cands[a].t < cands[b].t
			}
			x, y := cands[a].alert, cands[b].alert
			if x != nil && y != nil && x.ID != y.ID {
				return x.ID < y.ID
			}
			if (x == nil) != (y == nil) {
				return x != nil // new_terms: the sighting that carries the alert first
			}
			// the same record in two files (delivered twice), or threshold
			// events at one instant: by place, whatever order the workers
			// read them in
			fa, oa := cands[a].place()
			fb, ob := cands[b].place()
			return fa < fb || fa == fb && oa < ob
		})
		var alerts []alert.Alert
		var rs RuleStats
		rs.Matches = len(cands)
		lastSlice := int64(math.MinInt64) // aggregating ES|QL: the latest slice
		switch ri.r.Type {
		case "new_terms":
			alerts, rs = p.newTerms(ri, cands, st, rs)
		case "threshold":
			alerts, rs = p.threshold(ri, cands, st, rs)
		case "eql":
			if ri.r.Sequence != nil {
				alerts, rs = p.sequences(ri, cands, st, rs)
			} else {
				alerts, rs = p.capped(ri, cands, st, rs)
			}
		case "panther":
			alerts, rs = p.dedup(ri, cands, st, rs)
		case "esql":
			if ri.slice > 0 {
				merged := map[int64]*esql.Partial{}
				for _, c := range collectors {
					rs.Matches += c.sliceRows[i]
					for start, pt := range c.slices[i] {
						if m := merged[start]; m != nil {
							ri.r.ESQL.Merge(m, pt)
						} else {
							merged[start] = pt
						}
					}
				}
				starts := slices.Sorted(maps.Keys(merged))
				parts := make([]*esql.Partial, len(starts))
				for k, s := range starts {
					parts[k] = merged[s]
				}
				if len(starts) > 0 {
					lastSlice = starts[len(starts)-1]
				}
				alerts, rs = p.esqlSlices(ri, starts, parts, st, rs)
			} else if ri.r.ESQL.Aggregating {
				alerts, rs = p.esqlRuns(ri, cands, st, rs)
			} else {
				alerts, rs = p.capped(ri, cands, st, rs)
			}
		case "sigma_correlation":
			var raised []alert.Alert
			cands = withKeptInputs(st, cands)
			raised, rs = p.correlate(ri, cands, rs)
			keepInputs(st, cands, int64(ri.r.Correlation.Timespan))
			wrapped := make([]candidate, len(raised))
			for k := range raised {
				wrapped[k] = candidate{t: raised[k].Time.UnixNano(), alert: &raised[k]}
			}
			alerts, rs = p.capped(ri, wrapped, st, rs)
			p.chain(ri, alerts)
		default:
			alerts, rs = p.capped(ri, cands, st, rs)
		}
		if len(cands) > 0 && cands[len(cands)-1].t > st.Watermark {
			st.Watermark = cands[len(cands)-1].t
		}
		if lastSlice > st.Watermark {
			st.Watermark = lastSlice
		}
		var untimed []candidate
		for _, c := range collectors {
			untimed = append(untimed, c.untimed[i]...)
			rs.NoTime += c.noTime[i]
		}
		if len(untimed) > 0 {
			rs.Matches += len(untimed)
			alerts, rs = p.raiseUntimed(ri, untimed, st, alerts, rs)
			p.dirty[ri.r.Key()] = st
		}
		if ri.silent { // only correlations use these matches
			rs.Signals += len(alerts)
			alerts = nil
		}
		keep := time.Duration(ri.lookback + ri.interval)
		if sq := ri.r.Sequence; sq != nil {
			keep += sq.MaxSpan // a sequence alert's events span up to maxspan
		}
		if c := ri.r.Correlation; c != nil {
			keep += c.Timespan
		}
		pending := time.Duration(ri.lookback + ri.interval)
		if sq := ri.r.Sequence; sq != nil {
			pending += sq.MaxSpan
		}
		if c := ri.r.Correlation; c != nil {
			pending += c.Timespan
		}
		st.Expire(state.Retention{Terms: time.Duration(ri.history), Groups: time.Duration(ri.lookback), Alerted: keep, Pending: pending})
		if len(cands) > 0 || lastSlice != math.MinInt64 {
			p.dirty[ri.r.Key()] = st
		}
		rs.Alerts = len(alerts)
		if rs != (RuleStats{}) {
			stats[ri.r.Key()] = rs
		}
		all = append(all, alerts...)
	}
	alert.Sort(all)
	return all, stats, nil
}

// Commit saves the state changed by Finish. Call it after the alerts have
// been delivered: a hunt killed before then is replayed in full next time,
// with the same alert ids.
func (p *Processor) Commit() error {
	if len(p.dirty) == 0 {
		return nil
	}
	if err := p.store.Save(p.dirty); err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	p.dirty = map[string]*state.Rule{}
	return nil
}

// capped applies max_signals per run, cross-hunt de-duplication and
// suppression to candidates that each carry an alert.
func (p *Processor) capped(ri *ruleInfo, cands []candidate, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	// the same record can match twice (delivered twice): keep one
	uniq := cands[:0]
	seen := map[string]bool{}
	for _, c := range cands {
		if seen[c.alert.ID] {
			rs.Duplicates++
			continue
		}
		seen[c.alert.ID] = true
		uniq = append(uniq, c)
	}
	cands = uniq
	times := make([]int64, len(cands))
	pre := make([]bool, len(cands))
	for i, c := range cands {
		times[i] = c.t
		if _, ok := st.Alerted[c.alert.ID]; ok {
			pre[i] = true
			rs.Known++
		}
	}
	raised := capRuns(times, ri.interval, ri.lookback, ri.r.Schedule.MaxSignals, pre)
	var out []candidate
	for i, c := range cands {
		switch {
		case raised[i]:
			out = append(out, c)
		case !pre[i]:
			rs.Withheld++
		}
	}
	return p.suppress(ri, out, st, rs)
}

// suppress folds alerts of the same suppression group within the window
// into the first one, and records raised alerts in the state.
func (p *Processor) suppress(ri *ruleInfo, cands []candidate, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	var out []alert.Alert
	pos := map[string]int{} // alert id -> index in out
	for _, c := range cands {
		if s := ri.r.Suppression; s != nil && c.supp != "" {
			w, ok := st.Suppress[c.supp]
			if ok && c.t >= w.Start && c.t < w.End {
				rs.Suppressed++
				if i, ok := pos[w.AlertID]; ok {
					sp := out[i].Suppression
					sp.DocsCount++
					sp.End = time.Unix(0, c.t).UTC()
				}
				continue
			}
			end := c.t + int64(s.Duration)
			if s.Duration == 0 { // per rule execution: the run that raised it
				end = (floorDiv(c.t, ri.interval) + 1) * ri.interval
			}
			st.Suppress[c.supp] = state.Window{AlertID: c.alert.ID, Start: c.t, End: end}
			terms := map[string]any{}
			for j, f := range s.GroupBy {
				terms[f] = c.sv[j]
			}
			c.alert.Suppression = &alert.Suppression{Terms: terms, DocsCount: 0, Start: time.Unix(0, c.t).UTC(), End: time.Unix(0, c.t).UTC()}
		}
		st.Alerted[c.alert.ID] = c.t
		pos[c.alert.ID] = len(out)
		out = append(out, *c.alert)
	}
	return out, rs
}

// newTerms raises, for every term, its sightings that have no earlier
// sighting within the history window (in this hunt or, through the state,
// in earlier ones).
func (p *Processor) newTerms(ri *ruleInfo, cands []candidate, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	last := map[string]int64{}
	var firsts []candidate
	for _, c := range cands { // in time order
		prev, ok := last[c.term]
		if !ok {
			prev, ok = st.Terms[c.term]
		}
		if !ok || c.t-prev > ri.history {
			firsts = append(firsts, c)
		}
		if !ok || c.t > prev {
			last[c.term] = c.t
		}
	}
	for k, t := range last {
		if t > st.Terms[k] {
			st.Terms[k] = t
		}
	}
	return p.capped(ri, firsts, st, rs)
}

// threshold counts, run by run, the events of each group not already
// counted into an alert, and raises the groups that reach the threshold
// (and cardinality).
func (p *Processor) threshold(ri *ruleInfo, cands []candidate, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	th := ri.r.Threshold
	times := make([]int64, len(cands))
	for i, c := range cands {
		times[i] = c.t
	}
	var raised []candidate
	forEachRun(times, ri.interval, ri.lookback, func(end int64, lo, hi int) {
		type acc struct {
			vals        []string
			count       int
			first, last int64
			distinct    map[string]bool
			src         *source // the first event counted
		}
		groups := map[string]*acc{}
		var order []string
		for _, c := range cands[lo:hi] {
			key := strings.Join(c.group, "\x1f")
			if done, ok := st.Groups[key]; ok && c.t <= done {
				continue // already counted into an alert (signal history)
			}
			g := groups[key]
			if g == nil {
				g = &acc{vals: c.group, first: c.t, distinct: map[string]bool{}, src: c.src}
				groups[key] = g
				order = append(order, key)
			}
			g.count++
			g.last = c.t
			for _, v := range c.card {
				g.distinct[v] = true
			}
		}
		n := 0
		for _, key := range order {
			g := groups[key]
			if g.count < th.Value || (len(th.Cardinality) > 0 && len(g.distinct) < th.Cardinality[0].Value) {
				continue
			}
			if n >= ri.r.Schedule.MaxSignals {
				rs.Withheld++
				continue
			}
			n++
			st.Groups[key] = g.last
			a := thresholdAlert(ri.r, g.vals, g.count, len(g.distinct), g.first, g.last, g.src)
			raised = append(raised, candidate{t: g.last, alert: &a, supp: suppKeyFromGroup(ri.r, g.vals), sv: suppValsFromGroup(ri.r, g.vals)})
		}
	})
	return p.suppress(ri, raised, st, rs)
}

// Threshold suppression groups by threshold fields only (Elastic allows
// nothing else), so their values come from the group.
func suppKeyFromGroup(r *rule.Rule, vals []string) string {
	if r.Suppression == nil {
		return ""
	}
	var parts []string
	for _, f := range r.Suppression.GroupBy {
		v := ""
		for i, tf := range r.Threshold.Fields {
			if tf == f {
				v = vals[i]
			}
		}
		b, _ := json.Marshal([]string{v})
		parts = append(parts, f+"="+string(b))
	}
	return strings.Join(parts, "\x1f")
}

func suppValsFromGroup(r *rule.Rule, vals []string) []any {
	if r.Suppression == nil {
		return nil
	}
	var out []any
	for _, f := range r.Suppression.GroupBy {
		var v any
		for i, tf := range r.Threshold.Fields {
			if tf == f {
				v = vals[i]
			}
		}
		out = append(out, v)
	}
	return out
}

// thresholdAlert is the alert of a group that reached the threshold: its
// event and record are the first event counted (src).
func thresholdAlert(r *rule.Rule, vals []string, count, distinct int, first, last int64, src *source) alert.Alert {
	id := hashID("threshold", r.Key(), strings.Join(vals, "\x1f"), strconv.FormatInt(first, 10), strconv.FormatInt(last, 10))
	terms := make([]alert.Term, len(vals))
	fields := map[string]any{}
	for i, v := range vals {
		terms[i] = alert.Term{Field: r.Threshold.Fields[i], Value: v}
		fields[r.Threshold.Fields[i]] = v
	}
	res := &alert.ThresholdResult{Terms: terms, Count: count, From: time.Unix(0, first).UTC(), To: time.Unix(0, last).UTC()}
	if len(r.Threshold.Cardinality) > 0 {
		res.Cardinality = []alert.Term{{Field: r.Threshold.Cardinality[0].Field, Value: fmt.Sprint(distinct)}}
	}
	a := alert.FromRule(r)
	a.ID = id
	a.Time = time.Unix(0, last).UTC()
	a.Fields = fields
	a.Threshold = res
	a.Event, a.Record = src.ev, src.rec
	return a
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

// esqlRuns runs an aggregating ES|QL rule's tail over the rows of each run
// and raises one alert per result row, at most max_signals per run. The id
// hashes the rule and the row, so an overlapping run producing the same row
// raises nothing new.
func (p *Processor) esqlRuns(ri *ruleInfo, cands []candidate, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	times := make([]int64, len(cands))
	rows := make([]esql.Row, len(cands))
	for i, c := range cands {
		times[i], rows[i] = c.t, c.row
	}
	return p.esqlWindows(ri, times, func(end int64, lo, hi int) esql.Table {
		return ri.r.ESQL.Tail(rows[lo:hi], time.Unix(0, end).UTC())
	}, st, rs)
}

// esqlSlices is esqlRuns over aggregations kept per slice of time (slices
// sorted by start; every run window holds whole slices).
func (p *Processor) esqlSlices(ri *ruleInfo, starts []int64, parts []*esql.Partial, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	return p.esqlWindows(ri, starts, func(end int64, lo, hi int) esql.Table {
		return ri.r.ESQL.TailPartials(parts[lo:hi], time.Unix(0, end).UTC())
	}, st, rs)
}

// esqlWindows raises the result rows of every run window; table computes a
// window's result from the index range of its times.
func (p *Processor) esqlWindows(ri *ruleInfo, times []int64, table func(end int64, lo, hi int) esql.Table, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	var raised []candidate
	seen := map[string]bool{}
	forEachRun(times, ri.interval, ri.lookback, func(end int64, lo, hi int) {
		table := table(end, lo, hi)
		n := 0
		for _, vals := range table.Rows {
			row := esql.Row{Names: table.Columns, Values: vals}
			fields := rowFields(row)
			b, _ := json.Marshal(fields)
			id := hashID("esql", ri.r.Key(), string(b))
			if seen[id] {
				continue
			}
			if _, ok := st.Alerted[id]; ok {
				rs.Known++
				continue
			}
			if n >= ri.r.Schedule.MaxSignals {
				rs.Withheld++
				continue
			}
			n++
			seen[id] = true
			a := alert.FromRule(ri.r)
			a.ID, a.Time, a.Fields = id, time.Unix(0, end).UTC(), fields
			raised = append(raised, candidate{t: end, alert: &a})
		}
	})
	return p.suppress(ri, raised, st, rs)
}

// sequences finds the completed EQL sequences, in event time: per join key,
// each step's most recent partial sequence advances when an event of the
// next step arrives within maxspan of its first event; an until event drops
// the key's partial sequences. Each completed sequence raises one alert,
// followed by a building-block alert per event in it (Elastic's shell and
// building-block alerts).
func (p *Processor) sequences(ri *ruleInfo, cands []candidate, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	sq := ri.r.Sequence
	n := len(sq.Steps)
	partial := loadPending(st, n) // join key -> stage -> events so far
	var shells []candidate
	members := map[string][]candidate{}
	for start := 0; start < len(cands); {
		// events at the same instant: later steps first, so one event does
		// not advance a sequence twice
		end := start
		for end < len(cands) && cands[end].t == cands[start].t {
			end++
		}
		group := append([]candidate(nil), cands[start:end]...)
		sort.SliceStable(group, func(a, b int) bool { return group[a].step > group[b].step })
		for _, c := range group {
			stages := partial[c.join]
			if stages == nil {
				stages = make([][]candidate, n)
				partial[c.join] = stages
			}
			switch {
			case c.step == n: // until
				delete(partial, c.join)
			case c.step == 0:
				stages[0] = []candidate{c}
			default:
				prev := stages[c.step-1]
				// (a partial sequence from an earlier hunt may be later than
				// a replayed event: steps follow in time)
				if prev == nil || c.t < prev[len(prev)-1].t || (sq.MaxSpan > 0 && c.t-prev[0].t > int64(sq.MaxSpan)) {
					continue
				}
				seq := append(append([]candidate(nil), prev...), c)
				stages[c.step-1] = nil
				if c.step < n-1 {
					stages[c.step] = seq
					continue
				}
				parts := []string{"sequence", ri.r.Key()}
				var evs []alert.Event
				for _, m := range seq {
					parts = append(parts, m.alert.ID)
					evs = append(evs, m.alert.Event)
				}
				id := hashID(parts...)
				a := alert.FromRule(ri.r)
				a.ID, a.Time = id, time.Unix(0, c.t).UTC()
				a.Sequence = &alert.Sequence{Events: evs}
				a.Fields = map[string]any{}
				for k, f := range sq.By {
					a.Fields[f] = strings.Split(c.join, "\x1f")[k]
				}
				shells = append(shells, candidate{t: c.t, alert: &a})
				members[id] = seq
			}
		}
		start = end
	}
	savePending(st, partial)
	raised, rs := p.capped(ri, shells, st, rs)
	var out []alert.Alert
	for _, shell := range raised {
		out = append(out, shell)
		for k, m := range members[shell.ID] {
			bb := *m.alert
			bb.ID = hashID("building-block", shell.ID, m.alert.ID)
			bb.Rule.BuildingBlock = true
			bb.Sequence = &alert.Sequence{ID: shell.ID, Step: k + 1}
			out = append(out, bb)
		}
	}
	return out, rs
}

// hashID is the hex SHA-256 of parts joined by NUL: the id of an alert that
// is not one event's (sequences, aggregates, thresholds).
func hashID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

// dedup groups Panther matches as Panther does: the first match with a dedup
// key opens a window of the dedup period; the window's alert is raised when
// its Threshold-th match arrives, and later matches in the window are
// counted into it. Signal rules (CreateAlert: false) raise no alert.
func (p *Processor) dedup(ri *ruleInfo, cands []candidate, st *state.Rule, rs RuleStats) ([]alert.Alert, RuleStats) {
	d := ri.r.Dedup
	type window struct {
		start, end int64
		count      int
		out        int // index of the raised alert in out, or -1
	}
	open := map[string]*window{}
	var out []alert.Alert
	for _, c := range cands {
		key := "dedup\x1f" + c.term
		w := open[key]
		if w == nil || c.t >= w.end {
			w = &window{start: c.t, end: c.t + int64(d.Period), out: -1}
			if prev, ok := st.Suppress[key]; ok && c.t >= prev.Start && c.t < prev.End {
				// a window opened by an earlier hunt: its alert is out already
				w.start, w.end, w.count = prev.Start, prev.End, d.Threshold
			}
			open[key] = w
		}
		w.count++
		switch {
		case w.out >= 0:
			sp := out[w.out].Suppression
			sp.DocsCount++
			sp.End = time.Unix(0, c.t).UTC()
		case w.count > d.Threshold:
			rs.Known++ // counted into an alert raised by an earlier hunt
		case w.count == d.Threshold && d.Signal:
			rs.Signals++
		case w.count == d.Threshold:
			a := *c.alert
			a.ID = hashID("dedup", ri.r.Key(), c.term, strconv.FormatInt(w.start, 10))
			a.Suppression = &alert.Suppression{Terms: map[string]any{"dedup": c.term}, DocsCount: d.Threshold - 1,
				Start: time.Unix(0, w.start).UTC(), End: time.Unix(0, c.t).UTC()}
			st.Suppress[key] = state.Window{AlertID: a.ID, Start: w.start, End: w.end}
			st.Alerted[a.ID] = c.t
			w.out = len(out)
			out = append(out, a)
		}
	}
	return out, rs
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pendingEvent is one event of a partial sequence, as the state keeps it.
type pendingEvent struct {
	T     int64       `json:"t"`
	Step  int         `json:"step"`
	Alert alert.Alert `json:"alert"`
}

// loadPending restores the partial sequences an earlier hunt left open,
// so a sequence may span hunts.
func loadPending(st *state.Rule, steps int) map[string][][]candidate {
	out := map[string][][]candidate{}
	for k, p := range st.Pending {
		join, stage, ok := strings.Cut(k, "\x1d")
		i, err := strconv.Atoi(stage)
		var evs []pendingEvent
		if !ok || err != nil || i < 0 || i >= steps || json.Unmarshal(p.Data, &evs) != nil {
			continue // written by another version of the rule: dropped
		}
		if out[join] == nil {
			out[join] = make([][]candidate, steps)
		}
		for _, e := range evs {
			a := e.Alert
			out[join][i] = append(out[join][i], candidate{t: e.T, step: e.Step, join: join, alert: &a})
		}
	}
	return out
}

// savePending keeps the partial sequences still open for the next hunt.
func savePending(st *state.Rule, partial map[string][][]candidate) {
	clear(st.Pending)
	for join, stages := range partial {
		for i, seq := range stages {
			if len(seq) == 0 {
				continue
			}
			evs := make([]pendingEvent, len(seq))
			for k, c := range seq {
				evs[k] = pendingEvent{T: c.t, Step: c.step, Alert: *c.alert}
			}
			b, err := json.Marshal(evs)
			if err != nil {
				continue
			}
			st.Pending[join+"\x1d"+strconv.Itoa(i)] = state.Pending{Start: seq[0].t, Data: b}
		}
	}
}
