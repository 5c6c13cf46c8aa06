package detect

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/state"
)

// sequenceDetector finds the completed EQL sequences, in event time: per
// join key, each step's most recent partial sequence advances when an event
// of the next step arrives within maxspan of its first event; an until
// event drops the key's partial sequences. Each completed sequence raises
// one alert (at most max_signals per run), followed by a building-block
// alert per event in it (Elastic's shell and building-block alerts).
// Events are decided in time order once the watermark passes them; the
// partial sequences are kept (and saved in the state, so a sequence may
// span hunts) as long as the state keeps them.
type sequenceDetector struct {
	ri      *ruleInfo
	pending []candidate // events not yet decided, sorted
	partial map[string][][]candidate
	cap     capper
}

func (d *sequenceDetector) collect(c *Collector, i int, ev *event.Event, cd candidate) {
	ri := c.p.rules[i]
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
		if j < len(ri.r.Sequence.Steps) {
			a := alert.New(ev, ri.r)
			a.Time = time.Unix(0, x.t).UTC()
			x.alert = &a
		}
		c.cands[i] = append(c.cands[i], x)
	}
}

func (d *sequenceDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	sq := d.ri.r.Sequence
	n := len(sq.Steps)
	if d.partial == nil {
		d.partial = loadPending(st, n) // join key -> stage -> events so far
	}
	if len(in) > 0 {
		d.pending = append(d.pending, in...)
		sortCandidates(d.pending)
	}
	cands := d.pending[:before(d.pending, w)]
	var shells []candidate
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
			stages := d.partial[c.join]
			if stages == nil {
				stages = make([][]candidate, n)
				d.partial[c.join] = stages
			}
			switch {
			case c.step == n: // until
				delete(d.partial, c.join)
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
				shells = append(shells, d.shell(c, seq))
			}
		}
		start = end
	}
	clear(cands)
	d.pending = d.pending[len(cands):]
	savePending(st, d.partial)
	return d.cap.advance(w, shells, st, rs)
}

// shell is the alert of a completed sequence, carrying its building blocks.
func (d *sequenceDetector) shell(c candidate, seq []candidate) candidate {
	parts := []string{"sequence", d.ri.r.Key()}
	var evs []alert.Event
	for _, m := range seq {
		parts = append(parts, m.alert.ID)
		evs = append(evs, m.alert.Event)
	}
	id := hashID(parts...)
	a := alert.FromRule(d.ri.r)
	a.ID, a.Time = id, time.Unix(0, c.t).UTC()
	a.Sequence = &alert.Sequence{Events: evs}
	a.Fields = map[string]any{}
	for k, f := range d.ri.r.Sequence.By {
		a.Fields[f] = strings.Split(c.join, "\x1f")[k]
	}
	x := candidate{t: c.t, alert: &a}
	for k, m := range seq {
		bb := *m.alert
		bb.ID = hashID("building-block", id, m.alert.ID)
		bb.Rule.BuildingBlock = true
		bb.Sequence = &alert.Sequence{ID: id, Step: k + 1}
		x.blocks = append(x.blocks, bb)
	}
	return x
}

// forget drops the partial sequences the state no longer keeps: started
// before from.
func (d *sequenceDetector) forget(from int64) {
	for join, stages := range d.partial {
		empty := true
		for i, seq := range stages {
			if len(seq) > 0 && seq[0].t < from {
				stages[i] = nil
			}
			empty = empty && len(stages[i]) == 0
		}
		if empty {
			delete(d.partial, join)
		}
	}
}

func (d *sequenceDetector) held() int {
	n := len(d.pending) + len(d.cap.held)
	for _, stages := range d.partial {
		for _, seq := range stages {
			n += len(seq)
		}
	}
	return n
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
