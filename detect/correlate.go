package detect

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// feed sends a rule's matches to a correlation that references it.
type feed struct {
	corr  int            // the correlation's rule index
	step  int            // position of the rule in the correlation's rules
	group []event.Getter // the correlation's group-by fields, as this rule names them
	field event.Getter   // value_count: the counted field
}

// corrInfo is a correlation's resolved references.
type corrInfo struct {
	waits []int // correlations whose output this one reads
}

// refers reports whether ref names r (by id, Sigma name or title).
func refers(r *rule.Rule, ref string) bool {
	return ref != "" && (r.ID == ref || r.Alias == ref || r.Name == ref)
}

// linkCorrelations resolves every correlation's references into feeds from
// the rules (or correlations) it reads.
func (p *Processor) linkCorrelations() error {
	for ci, cri := range p.rules {
		c := cri.r.Correlation
		if c == nil {
			continue
		}
		cri.corr = &corrInfo{}
		for k, ref := range c.Rules {
			found := false
			for j, ri := range p.rules {
				if j == ci || !refers(ri.r, ref) {
					continue
				}
				found = true
				f := feed{corr: ci, step: k}
				for _, g := range c.GroupBy {
					name := g
					if a, ok := c.Aliases[g]; ok {
						for _, rname := range []string{ri.r.ID, ri.r.Alias, ri.r.Name, ref} {
							if fld, ok := a[rname]; ok {
								name = fld
								break
							}
						}
					}
					f.group = append(f.group, event.ResolveIndexed(name))
				}
				if c.Field != "" {
					f.field = event.ResolveIndexed(c.Field)
				}
				if ri.r.Correlation != nil {
					cri.corr.waits = append(cri.corr.waits, j)
					ri.chained = append(ri.chained, f)
				} else {
					ri.feeds = append(ri.feeds, f)
					if !c.Generate {
						ri.silent = true
					}
				}
			}
			if !found {
				return fmt.Errorf("correlation %s (%s) names rule %q, which is not loaded", cri.r.ID, cri.r.Name, ref)
			}
		}
	}
	return nil
}

// feedCorrelations records an event's match of rule ri for the
// correlations that read it.
func (c *Collector) feedCorrelations(ri *ruleInfo, ev *event.Event, t int64) {
	for _, f := range ri.feeds {
		var parts []string
		for _, g := range f.group {
			vals := c.values(g, ev)
			parts = append(parts, strings.Join(vals, "\x1e"))
		}
		x := candidate{t: t, step: f.step, join: strings.Join(parts, "\x1f"), term: eventKey(ev)}
		if f.field != nil {
			x.card = c.values(f.field, ev)
		}
		c.cands[f.corr] = append(c.cands[f.corr], x)
	}
}

// correlationDetector evaluates a Sigma correlation over its inputs (the
// matches of the rules it reads, or the alerts of the correlations it
// reads), group by group, in time order. Counting types with gt/gte use a
// sliding window and start over after an alert; the other comparisons are
// evaluated on windows of the timespan starting at a group's first event.
// temporal needs every rule within the timespan, temporal_ordered in the
// rules' order. Inputs are decided in time order once the watermark passes
// them; a group keeps only the events a later one may still be counted
// with (within the timespan), and the inputs within the timespan of the
// latest are saved in the state for the next hunt.
type correlationDetector struct {
	ri      *ruleInfo
	pending []candidate       // inputs not yet decided, by time
	recent  []candidate       // inputs a later hunt may need, by time
	seen    map[inputID]int64 // step and event of the inputs in recent -> time
	// done holds the inputs in recent (step and event) that a decided
	// window counted (raised, or closed below its condition): kept with
	// them, so that a replay onto the saved state (after a crash, or the
	// next hunt) does not count them into a window again, which could
	// raise one the first run had decided otherwise, under another id
	done map[inputID]bool
	// hold is the processor's Hold: inputs a replay from it may bring
	// again are kept (as known) until the window before it closes
	hold   *atomic.Int64
	span   int64 // the timespan, once advanced
	groups map[string]*corrGroup
	maxT   int64
	loaded bool
	cap    capper
}

// corrGroup is what a group keeps of its inputs.
type corrGroup struct {
	win  []candidate // the window (temporal: the events since the earliest latest one)
	last map[int]int // temporal: rule position -> index in win of its latest event
}

func newCorrelationDetector(ri *ruleInfo) *correlationDetector {
	return &correlationDetector{ri: ri, seen: map[inputID]int64{}, done: map[inputID]bool{}, groups: map[string]*corrGroup{}, maxT: math.MinInt64, cap: newCapper(ri)}
}

// collect is never called: correlations take their inputs from the rules
// they read (feedCorrelations, chain).
func (d *correlationDetector) collect(*Collector, int, *event.Event, candidate) {}

func (d *correlationDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	c := d.ri.r.Correlation
	span := int64(c.Timespan)
	if !d.loaded { // the inputs an earlier hunt kept
		d.loaded = true
		kept, done := keptInputs(st)
		rs.Matches += len(kept)
		for _, x := range done { // decided already: known, not counted again
			id := inputKey(x)
			d.seen[id], d.done[id] = x.t, true
			d.recent = append(d.recent, x)
		}
		in = append(kept, in...)
	}
	// in time order first: of one event seen twice at different times (a
	// contradictory redelivery), the earlier counts, whichever worker's
	// collector brought it first
	sortByTime(in)
	for _, x := range in {
		if x.term != "" {
			id := inputKey(x)
			if _, ok := d.seen[id]; ok {
				rs.Matches-- // the same event seen again (a hunt reads the same files)
				continue
			}
			d.seen[id] = x.t
		}
		d.pending = append(d.pending, x)
		d.recent = append(d.recent, x)
		d.maxT = max(d.maxT, x.t)
	}
	sortByTime(d.pending)
	sortByTime(d.recent)
	n := before(d.pending, w)
	var raised []candidate
	raise := func(key string, win []candidate, n int) {
		d.decided(win)
		first, last := win[0].t, win[len(win)-1].t
		a := alert.FromRule(d.ri.r)
		a.ID = hashID("correlation", d.ri.r.Key(), key, strconv.FormatInt(first, 10))
		a.Time = time.Unix(0, last).UTC()
		a.Fields = map[string]any{"correlation.type": c.Type, "correlation.events": len(win)}
		if c.Type == "value_count" {
			a.Fields["correlation.distinct"] = n
		}
		vals := strings.Split(key, "\x1f")
		for i, g := range c.GroupBy {
			if i < len(vals) {
				a.Fields[g] = vals[i]
			}
		}
		a.Threshold = &alert.ThresholdResult{Count: len(win), From: time.Unix(0, first).UTC(), To: time.Unix(0, last).UTC()}
		var keys []inputID
		for _, x := range win {
			if x.term != "" {
				keys = append(keys, inputKey(x))
			}
		}
		// until the alert is passed on, a state saved must let a replay count its inputs again
		raised = append(raised, candidate{t: last, alert: &a, undo: func(st *state.Rule) { undecide(st, keys) }})
	}
	sliding := (c.Type == "event_count" || c.Type == "value_count") && (c.Op == "gt" || c.Op == "gte")
	for _, x := range d.pending[:n] {
		key := x.join
		g := d.groups[key]
		if g == nil {
			g = &corrGroup{}
			d.groups[key] = g
		}
		switch c.Type {
		case "event_count", "value_count":
			if sliding {
				g.win = append(g.win, x)
				for len(g.win) > 0 && x.t-g.win[0].t > span {
					g.win = g.win[1:]
				}
				if n := d.measure(g.win); compare(c.Op, n, c.Value) {
					raise(key, g.win, n)
					g.win = nil
				}
				continue
			}
			if len(g.win) > 0 && x.t-g.win[0].t > span {
				if n := d.measure(g.win); compare(c.Op, n, c.Value) {
					raise(key, g.win, n)
				}
				d.decided(g.win)
				g.win = nil
			}
			g.win = append(g.win, x)
		case "temporal":
			if g.last == nil {
				g.last = map[int]int{}
			}
			g.win = append(g.win, x)
			i := len(g.win) - 1
			g.last[x.step] = i
			earliest := i
			complete := len(g.last) == len(c.Rules)
			for _, j := range g.last {
				if x.t-g.win[j].t > span {
					complete = false
				}
				earliest = min(earliest, j)
			}
			if complete {
				raise(key, g.win[earliest:i+1], len(c.Rules))
				d.decided(g.win[:earliest]) // superseded: no set can use them any more
				clear(g.last)
			}
		case "temporal_ordered":
			switch {
			case x.step == 0:
				d.decided(g.win) // a sequence begun earlier is given up
				g.win = []candidate{x}
			case len(g.win) == x.step && x.t-g.win[0].t <= span:
				g.win = append(g.win, x)
			default:
				continue
			}
			if len(g.win) == len(c.Rules) {
				raise(key, g.win, len(c.Rules))
				g.win = nil
			}
		}
	}
	clear(d.pending[:n])
	d.pending = d.pending[n:]
	h := d.forget(w, span, sliding, raise)
	d.span = span
	// the alerts of one advance come group by group: in time order for the runs
	sortCandidates(raised)
	return d.cap.advance(h, raised, st, rs)
}

// measure is what a window counts: events, or distinct values.
func (d *correlationDetector) measure(win []candidate) int {
	if d.ri.r.Correlation.Type == "event_count" {
		return len(win)
	}
	set := map[string]bool{}
	for _, x := range win {
		for _, v := range x.card {
			set[v] = true
		}
	}
	return len(set)
}

func (d *correlationDetector) held() int {
	n := len(d.pending) + len(d.recent) + len(d.cap.held)
	for _, g := range d.groups {
		n += len(g.win)
	}
	return n
}

// forget closes the windows no input can reach any more (none earlier than
// w will come) and drops what no window can count; it returns the lowest
// time of an alert a window still open may raise.
func (d *correlationDetector) forget(w, span int64, sliding bool, raise func(string, []candidate, int)) int64 {
	c := d.ri.r.Correlation
	h := w
	for key, g := range d.groups {
		stale := func(t int64) bool { return w == never || t < w-span }
		switch {
		case c.Type == "temporal":
			low := len(g.win)
			for step, j := range g.last {
				if stale(g.win[j].t) {
					delete(g.last, step) // too old to complete a set
				} else {
					low = min(low, j)
				}
			}
			g.win = g.win[low:]
			for step := range g.last {
				g.last[step] -= low
			}
		case sliding || c.Type == "temporal_ordered":
			for len(g.win) > 0 && stale(g.win[0].t) {
				g.win = g.win[1:]
			}
		default: // a window of the timespan from the group's first event
			if len(g.win) > 0 && (w == never || w-g.win[0].t > span) {
				if n := d.measure(g.win); compare(c.Op, n, c.Value) {
					raise(key, g.win, n)
				}
				d.decided(g.win)
				g.win = nil
			}
			if len(g.win) > 0 {
				h = min(h, g.win[len(g.win)-1].t)
			}
		}
		if len(g.win) == 0 {
			delete(d.groups, key)
		}
	}
	if d.maxT == math.MinInt64 {
		return h
	}
	low := min(d.maxT, w, d.holdAt())
	if low != never {
		low -= span
	}
	k := before(d.recent, low)
	for _, x := range d.recent[:k] {
		if x.term != "" {
			delete(d.seen, inputKey(x))
			delete(d.done, inputKey(x))
		}
	}
	clear(d.recent[:k])
	d.recent = d.recent[k:]
	return h
}

// rollback adds the undos of the alerts not passed on yet.
func (d *correlationDetector) rollback(undos []undo) []undo { return d.cap.rollback(undos) }

// undecide marks the saved inputs keys (see inputKey) as not decided, in a
// copy of the state.
func undecide(st *state.Rule, keys []inputID) {
	p, ok := st.Pending[corrInputs]
	if !ok {
		return
	}
	var kept []corrInput
	if json.Unmarshal(p.Data, &kept) != nil {
		return
	}
	undo := map[inputID]bool{}
	for _, k := range keys {
		undo[k] = true
	}
	for i, k := range kept {
		if k.Done && undo[inputKey(candidate{step: k.Step, term: k.Event})] {
			kept[i].Done = false
		}
	}
	if b, err := json.Marshal(kept); err == nil {
		st.Pending[corrInputs] = state.Pending{Start: p.Start, Data: b} // p.Data may be the live state's
	}
}

// saveState writes the inputs a replay may need into the rule's state; it
// is called when the state is saved (encoding them at every advance cost
// more than the correlation itself).
func (d *correlationDetector) saveState(st *state.Rule) {
	keepInputs(st, d.recent, d.done, d.span, d.holdAt())
}

// holdAt is the processor's Hold (never when there is none).
func (d *correlationDetector) holdAt() int64 {
	if d.hold == nil {
		return never
	}
	return d.hold.Load()
}

// decided marks the inputs of a window decided (see done).
func (d *correlationDetector) decided(win []candidate) {
	for _, x := range win {
		if x.term != "" {
			d.done[inputKey(x)] = true
		}
	}
}

// inputID identifies an input of a correlation: the step (rule) it
// matched and its event.
type inputID struct {
	step int
	term string
}

// inputKey is the inputID of x (a struct: a string joining the two was an
// allocation at each look-up).
func inputKey(x candidate) inputID { return inputID{x.step, x.term} }

func compare(op string, n, v int) bool {
	switch op {
	case "gt":
		return n > v
	case "gte":
		return n >= v
	case "lt":
		return n < v
	case "lte":
		return n <= v
	case "eq":
		return n == v
	}
	return n != v
}

// chain passes a correlation's alerts to the correlations that read it, as
// matches grouped by their group-by values.
func (p *Processor) chain(ri *ruleInfo, alerts []alert.Alert) {
	for _, f := range ri.chained {
		parent := p.rules[f.corr].r.Correlation
		for _, a := range alerts {
			var parts []string
			for _, g := range parent.GroupBy {
				parts = append(parts, fmt.Sprint(a.Fields[g]))
			}
			p.pending[f.corr] = append(p.pending[f.corr], candidate{t: a.Time.UnixNano(), step: f.step, join: strings.Join(parts, "\x1f")})
		}
	}
}

// eventKey identifies an event across hunts: its eventID, else its place.
func eventKey(ev *event.Event) string {
	if id := ev.ID(); id != "" {
		return strings.Clone(id)
	}
	return fmt.Sprintf("%s:%d", ev.File, ev.Offset)
}

// corrInput is a correlation input kept in the state between hunts.
type corrInput struct {
	T     int64    `json:"t"`
	Step  int      `json:"step"`
	Join  string   `json:"join"`
	Event string   `json:"event,omitempty"`
	Vals  []string `json:"vals,omitempty"`
	Done  bool     `json:"done,omitempty"` // counted by a decided window
}

const corrInputs = "inputs"

// keptInputs returns the inputs an earlier hunt kept: those still to be
// counted, and those a decided window counted.
func keptInputs(st *state.Rule) (todo, done []candidate) {
	var kept []corrInput
	if p, ok := st.Pending[corrInputs]; ok {
		json.Unmarshal(p.Data, &kept)
	}
	for _, k := range kept {
		x := candidate{t: k.T, step: k.Step, join: k.Join, term: k.Event, card: k.Vals}
		if k.Done && k.Event != "" {
			done = append(done, x)
		} else {
			todo = append(todo, x)
		}
	}
	return todo, done
}

// keepInputs saves the inputs a later hunt may still need: those within the
// timespan of the latest one.
func keepInputs(st *state.Rule, cands []candidate, done map[inputID]bool, span, hold int64) {
	delete(st.Pending, corrInputs)
	if len(cands) == 0 {
		return
	}
	from := min(cands[len(cands)-1].t, hold) - span
	var kept []corrInput
	for _, c := range cands {
		if c.t >= from {
			kept = append(kept, corrInput{T: c.t, Step: c.step, Join: c.join, Event: c.term, Vals: c.card, Done: c.term != "" && done[inputKey(c)]})
		}
	}
	if b, err := json.Marshal(kept); err == nil && len(kept) > 0 {
		st.Pending[corrInputs] = state.Pending{Start: kept[0].T, Data: b}
	}
}
