package detect

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
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

// correlate evaluates a correlation over its inputs, group by group, in
// time order. Counting types with gt/gte use a sliding window and start
// over after an alert; the other comparisons are evaluated on windows of
// the timespan starting at a group's first event. temporal needs every
// rule within the timespan, temporal_ordered in the rules' order.
func (p *Processor) correlate(ri *ruleInfo, cands []candidate, rs RuleStats) ([]alert.Alert, RuleStats) {
	c := ri.r.Correlation
	span := int64(c.Timespan)
	byGroup := map[string][]candidate{}
	var order []string
	for _, x := range cands {
		if _, ok := byGroup[x.join]; !ok {
			order = append(order, x.join)
		}
		byGroup[x.join] = append(byGroup[x.join], x)
	}
	sort.Strings(order)
	var out []alert.Alert
	raise := func(key string, win []candidate, n int) {
		first, last := win[0].t, win[len(win)-1].t
		a := alert.FromRule(ri.r)
		a.ID = hashID("correlation", ri.r.Key(), key, strconv.FormatInt(first, 10))
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
		out = append(out, a)
	}
	measure := func(win []candidate) int {
		if c.Type == "event_count" {
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
	for _, key := range order {
		xs := byGroup[key]
		switch c.Type {
		case "event_count", "value_count":
			if c.Op == "gt" || c.Op == "gte" {
				var win []candidate
				for _, x := range xs {
					win = append(win, x)
					for len(win) > 0 && x.t-win[0].t > span {
						win = win[1:]
					}
					if n := measure(win); compare(c.Op, n, c.Value) {
						raise(key, win, n)
						win = nil
					}
				}
				continue
			}
			for start := 0; start < len(xs); {
				end := start
				for end < len(xs) && xs[end].t-xs[start].t <= span {
					end++
				}
				if n := measure(xs[start:end]); compare(c.Op, n, c.Value) {
					raise(key, xs[start:end], n)
				}
				start = end
			}
		case "temporal":
			last := map[int]int{} // rule position -> index of its latest event
			for i, x := range xs {
				last[x.step] = i
				earliest := i
				complete := len(last) == len(c.Rules)
				for _, j := range last {
					if x.t-xs[j].t > span {
						complete = false
					}
					earliest = min(earliest, j)
				}
				if complete {
					raise(key, xs[earliest:i+1], len(c.Rules))
					clear(last)
				}
			}
		case "temporal_ordered":
			var seq []candidate
			for _, x := range xs {
				switch {
				case x.step == 0:
					seq = []candidate{x}
				case len(seq) == x.step && x.t-seq[0].t <= span:
					seq = append(seq, x)
				default:
					continue
				}
				if len(seq) == len(c.Rules) {
					raise(key, seq, len(c.Rules))
					seq = nil
				}
			}
		}
	}
	rs.Matches = len(cands)
	return out, rs
}

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
}

const corrInputs = "inputs"

// withKeptInputs adds the inputs an earlier hunt kept and drops repeats
// (the same event seen again when a hunt reads the same files).
func withKeptInputs(st *state.Rule, cands []candidate) []candidate {
	var kept []corrInput
	if p, ok := st.Pending[corrInputs]; ok {
		json.Unmarshal(p.Data, &kept)
	}
	out := make([]candidate, 0, len(kept)+len(cands))
	for _, k := range kept {
		out = append(out, candidate{t: k.T, step: k.Step, join: k.Join, term: k.Event, card: k.Vals})
	}
	out = append(out, cands...)
	seen := map[string]bool{}
	uniq := out[:0]
	for _, c := range out {
		id := strconv.Itoa(c.step) + "\x00" + c.term
		if c.term != "" && seen[id] {
			continue
		}
		seen[id] = true
		uniq = append(uniq, c)
	}
	sort.SliceStable(uniq, func(a, b int) bool { return uniq[a].t < uniq[b].t })
	return uniq
}

// keepInputs saves the inputs a later hunt may still need: those within the
// timespan of the latest one.
func keepInputs(st *state.Rule, cands []candidate, span int64) {
	delete(st.Pending, corrInputs)
	if len(cands) == 0 {
		return
	}
	last := cands[len(cands)-1].t
	var kept []corrInput
	for _, c := range cands {
		if c.t >= last-span {
			kept = append(kept, corrInput{T: c.t, Step: c.step, Join: c.join, Event: c.term, Vals: c.card})
		}
	}
	if b, err := json.Marshal(kept); err == nil && len(kept) > 0 {
		st.Pending[corrInputs] = state.Pending{Start: kept[0].T, Data: b}
	}
}
