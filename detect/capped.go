package detect

import (
	"math"

	"github.com/trailhound/trailhound/state"
)

// capper applies max_signals per run to candidates that each carry an
// alert: each run raises the first max_signals candidates of its window
// (sorted by time) not raised already. Candidates raised by an earlier
// hunt (state) still use up the run's budget, as Elastic searches
// max_signals documents and then drops existing alerts; a record seen twice
// (delivered twice) counts once. Single-event rules use it directly; new
// terms, sequences and correlations for what they raise.
type capper struct {
	sched schedule
	max   int
	held  []candidate // sorted; each in a run not yet decided
}

func newCapper(ri *ruleInfo) capper {
	return capper{sched: newSchedule(ri), max: ri.r.Schedule.MaxSignals}
}

// advance takes new candidates (none earlier than an earlier h, unless
// late) and decides the runs ending at or before h. It returns the
// candidates raised, in time order, and the lowest time of a candidate it
// may raise later.
func (c *capper) advance(h int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	if len(in) > 0 {
		for i := range in {
			// late, after every run that could raise it: raised on its own
			in[i].alone = c.sched.next != math.MinInt64 && in[i].t < c.sched.next-c.sched.lookback
		}
		c.held = append(c.held, in...)
		sortCandidates(c.held)
		c.dedup(st, rs)
	}
	c.sched.decide(times(c.held), h, func(_ int64, lo, hi int) {
		for i := lo; i < hi && i-lo < c.max; i++ {
			c.held[i].raised = c.held[i].raised || !c.held[i].pre
		}
	})
	keep := c.sched.open(times(c.held))
	n := 0 // the candidates passed on, for an array of their number
	for i := range c.held {
		x := &c.held[i]
		if x.alone && !x.pre {
			x.raised = true
		}
		if x.raised && !x.passed {
			n++
		}
	}
	var out []candidate
	if n > 0 {
		out = make([]candidate, 0, n)
	}
	for i := range c.held {
		x := &c.held[i]
		switch {
		case x.raised && !x.passed:
			x.passed = true
			out = append(out, *x)
		case i < keep && !x.raised && !x.pre:
			rs.Withheld++
		}
	}
	clear(c.held[:keep])
	c.held = c.held[keep:]
	low := h
	for _, x := range c.held {
		if !x.raised && !x.pre {
			low = min(low, x.t)
			break
		}
	}
	return out, low
}

// dedup keeps one candidate per alert id (the one a run raised, else the
// first in order, as a batch does), counts the others, and marks the new
// ones an earlier hunt raised.
func (c *capper) dedup(st *state.Rule, rs *RuleStats) {
	kept := c.held[:0]
	at := make(map[string]int, len(c.held))
	for _, x := range c.held {
		if j, ok := at[x.alert.ID]; ok {
			rs.Duplicates++
			switch {
			case x.raised && !kept[j].raised: // a run raised it: it stays
				kept[j] = x
			case x.seen && !kept[j].seen: // counted against the state already
				kept[j].seen, kept[j].pre = true, x.pre
			}
			continue
		}
		at[x.alert.ID] = len(kept)
		kept = append(kept, x)
	}
	for i := range kept {
		if x := &kept[i]; !x.seen {
			x.seen = true
			if _, ok := st.Alerted[x.alert.ID]; ok {
				x.pre = true
				rs.Known++
			}
		}
	}
	clear(c.held[len(kept):])
	c.held = kept
}

// rollback adds the undos of the candidates not passed on yet.
func (c *capper) rollback(undos []undo) []undo {
	for _, x := range c.held {
		if !x.passed && x.undo != nil {
			undos = append(undos, undo{x.t, x.undo})
		}
	}
	return undos
}
