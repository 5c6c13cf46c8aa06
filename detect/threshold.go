package detect

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// thresholdDetector counts, run by run, the events of each group not
// already counted into an alert, and raises the groups that reach the
// threshold (and cardinality), at most max_signals per run. A run is
// decided when the watermark reaches its end; events are kept while a run
// not yet decided may read them.
type thresholdDetector struct {
	ri    *ruleInfo
	sched schedule
	cands []candidate // sorted
}

func (d *thresholdDetector) collect(c *Collector, i int, ev *event.Event, cd candidate) {
	ri := c.p.rules[i]
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
}

func (d *thresholdDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	if len(in) > 0 {
		d.cands = append(d.cands, in...)
		sortCandidates(d.cands)
	}
	th := d.ri.r.Threshold
	var raised []candidate
	d.sched.decide(times(d.cands), w, func(end int64, lo, hi int) {
		type acc struct {
			vals        []string
			count       int
			first, last int64
			distinct    map[string]bool
			src         *source // the first event counted
		}
		groups := map[string]*acc{}
		var order []string
		n := 0 // the run's budget used: by groups it raised before a crash, then by new ones
		marked := map[string]bool{}
		for _, c := range d.cands[lo:hi] {
			key := strings.Join(c.group, "\x1f")
			if _, ok := marked[key]; !ok {
				_, raisedHere := st.Alerted[runMark(end, key)]
				marked[key] = raisedHere
				if raisedHere {
					n++ // raised by this very run before: a replay counts it, as the batch run did
					rs.Known++
				}
			}
			if marked[key] {
				continue
			}
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
		for _, key := range order {
			g := groups[key]
			if g.count < th.Value || (len(th.Cardinality) > 0 && len(g.distinct) < th.Cardinality[0].Value) {
				continue
			}
			if n >= d.ri.r.Schedule.MaxSignals {
				rs.Withheld++
				continue
			}
			n++
			prev, had := st.Groups[key]
			st.Groups[key] = g.last
			mark := runMark(end, key)
			st.Alerted[mark] = g.last
			a := thresholdAlert(d.ri.r, g.vals, g.count, len(g.distinct), g.first, g.last, g.src)
			raised = append(raised, candidate{t: g.last, alert: &a, supp: suppKeyFromGroup(d.ri.r, g.vals), sv: suppValsFromGroup(d.ri.r, g.vals),
				undo: func(st *state.Rule) {
					delete(st.Alerted, mark)
					if had {
						st.Groups[key] = prev
					} else {
						delete(st.Groups, key)
					}
				}})
		}
	})
	keep := d.sched.open(times(d.cands))
	clear(d.cands[:keep])
	d.cands = d.cands[keep:]
	low := w
	if len(d.cands) > 0 {
		low = min(low, d.cands[0].t) // an alert's time is its group's last event
	}
	return raised, low
}

func (d *thresholdDetector) held() int { return len(d.cands) }

// runMark is the state entry (among the alert ids, which are hex and never
// hold a colon) saying that the run ending at end raised the group key. The
// group's time in state.Rule.Groups is overwritten by later alerts, so a
// replay of that run after a crash could not tell on its own that the group
// used up part of the run's max_signals budget; without it, the budget
// would go to a group the run withheld, an alert the batch run never raises.
func runMark(end int64, key string) string {
	return state.RunMarkPrefix + strconv.FormatInt(end, 10) + ":" + key
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
