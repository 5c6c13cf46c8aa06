package detect

import (
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/state"
)

// suppressor is the stage after every detector: alert_suppression folds
// alerts of the same suppression group within the window into the first
// one, and every raised alert is recorded in the state. An alert that a
// later one may still be folded into (its docs_count and end change) is
// held until its window closes.
type suppressor struct {
	ri   *ruleInfo
	held []heldAlert
	pos  map[string]int // alert id -> index in held (alert_suppression only: no other rule reads it)
}

type heldAlert struct {
	a    *alert.Alert      // the candidate's, not a copy
	end  int64             // the suppression window's end: released once nothing earlier can come
	t    int64             // the candidate's time
	supp string            // the suppression window it opened
	undo func(*state.Rule) // the detector's undo
	// replaced is the group's window in the state before the one it
	// opened (rollback restores it)
	replaced *state.Window
}

func newSuppressor(ri *ruleInfo) *suppressor {
	return &suppressor{ri: ri, pos: map[string]int{}}
}

// add takes raised candidates, in the order they were raised, and returns
// the alerts they raise (not folded into an earlier one) when correlations
// read them (chained).
func (s *suppressor) add(cands []candidate, st *state.Rule, rs *RuleStats, chained bool) []alert.Alert {
	var out []alert.Alert
	for _, c := range cands {
		end := int64(0) // nothing can be folded into it
		var replaced *state.Window
		if sp := s.ri.r.Suppression; sp != nil && c.supp != "" {
			w, ok := st.Suppress[c.supp]
			if ok && c.t < w.Start {
				// older than the group's latest window: a replay of a
				// record decided before, or a late one; its window closed
				// before that one opened
				rs.Suppressed++
				continue
			}
			if ok && c.t >= w.Start && c.t < w.End {
				rs.Suppressed++
				if i, ok := s.pos[w.AlertID]; ok {
					sp := s.held[i].a.Suppression
					sp.DocsCount++
					sp.End = time.Unix(0, c.t).UTC()
				}
				continue
			}
			end = c.t + int64(sp.Duration)
			if sp.Duration == 0 { // per rule execution: the run that raised it
				end = (floorDiv(c.t, s.ri.interval) + 1) * s.ri.interval
			}
			if ok {
				replaced = &w
			}
			st.Suppress[c.supp] = state.Window{AlertID: c.alert.ID, Start: c.t, End: end}
			terms := map[string]any{}
			for j, f := range sp.GroupBy {
				terms[f] = c.sv[j]
			}
			c.alert.Suppression = &alert.Suppression{Terms: terms, DocsCount: 0, Start: time.Unix(0, c.t).UTC(), End: time.Unix(0, c.t).UTC()}
		}
		st.Alerted[c.alert.ID] = c.t
		if chained {
			out = append(out, *c.alert)
		}
		if s.ri.r.Suppression != nil {
			s.pos[c.alert.ID] = len(s.held)
		}
		s.held = append(s.held, heldAlert{a: c.alert, end: end, t: c.t, supp: c.supp, undo: c.undo, replaced: replaced})
		for k := range c.blocks {
			s.held = append(s.held, heldAlert{a: &c.blocks[k], end: end, t: c.t})
		}
	}
	return out
}

// release returns the alerts no candidate can be folded into any more,
// given that none earlier than h will be raised.
func (s *suppressor) release(h int64) []alert.Alert {
	n := 0
	for _, x := range s.held {
		if x.end <= h {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]alert.Alert, 0, n)
	kept := s.held[:0]
	for _, x := range s.held {
		if x.end <= h {
			out = append(out, *x.a)
			continue
		}
		kept = append(kept, x)
	}
	clear(s.held[len(kept):])
	s.held = kept
	if s.ri.r.Suppression == nil {
		return out
	}
	clear(s.pos)
	for i, x := range s.held {
		if x.end > 0 {
			s.pos[x.a.ID] = i
		}
	}
	return out
}

// rollback adds the undos of the alerts held: the state must not say they
// were raised.
func (s *suppressor) rollback(undos []undo) []undo {
	for _, x := range s.held {
		id, supp, then, replaced := x.a.ID, x.supp, x.undo, x.replaced
		undos = append(undos, undo{x.t, func(st *state.Rule) {
			delete(st.Alerted, id)
			if w, ok := st.Suppress[supp]; ok && w.AlertID == id {
				delete(st.Suppress, supp)
				if replaced != nil { // the window before it, closed: a replay must find it
					st.Suppress[supp] = *replaced
				}
			}
			if then != nil {
				then(st)
			}
		}})
	}
	return undos
}
