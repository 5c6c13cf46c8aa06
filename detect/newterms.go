package detect

import (
	"strings"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/state"
)

// newTermsDetector raises, for every term, its sightings that have no
// earlier sighting within the history window (in this hunt or, through the
// state, in earlier ones), at most max_signals per run. Sightings are
// decided in time order once the watermark passes them; the state's Terms
// (last sighting per term, expiring with the history window) is all it
// remembers of them.
type newTermsDetector struct {
	ri      *ruleInfo
	pending []candidate // sightings not yet decided, sorted
	cap     capper
}

// termKey is a new_terms term in one history-window-long bucket of time.
type termKey struct {
	rule   int
	term   string
	bucket int64
}

func (d *newTermsDetector) collect(c *Collector, i int, ev *event.Event, cd candidate) {
	ri := c.p.rules[i]
	r := ri.r
	// the values are the event's (views): a term is a copy, and so are the
	// values of the few sightings that carry an alert
	if len(c.terms) < len(ri.termGetters) {
		c.terms = make([][]string, len(ri.termGetters))
	}
	lists := c.terms[:len(ri.termGetters)]
	single := true
	for j, g := range ri.termGetters {
		lists[j] = c.views(g, ev, lists[j][:0])
		single = single && len(lists[j]) == 1
	}
	var one [1][]string
	var vals [4]string
	var combos [][]string
	if single { // the usual case: one value per field, one term
		combo := vals[:0]
		for _, l := range lists {
			combo = append(combo, l[0])
		}
		one[0] = combo
		combos = one[:]
	} else {
		combos = cross(lists)
	}
	for _, combo := range combos {
		x := cd
		x.term = strings.Join(combo, "\x1f") // copies, but for one value
		if len(combo) == 1 {
			x.term = strings.Clone(x.term)
		}
		// Only the earliest sighting of a term in each history-window
		// bucket can be new (any other has one less than a window
		// before it), so only it carries an alert; the rest are times.
		key := termKey{i, x.term, x.t / max(ri.history, 1)}
		j, held := c.firstSeen[key]
		id := ""
		if held && x.t == c.cands[i][j].t {
			id = alert.IDWith(ev, ri.key, x.term)
		}
		if !held || x.t < c.cands[i][j].t || (id != "" && id < c.cands[i][j].alert.ID) {
			if id == "" {
				id = alert.IDWith(ev, ri.key, x.term)
			}
			a := alert.NewWithID(ev, r, id)
			a.NewTerms = make([]string, len(combo))
			for k, v := range combo {
				a.NewTerms[k] = strings.Clone(v)
			}
			a.Time = time.Unix(0, x.t).UTC()
			x.alert = &a
			if held {
				c.cands[i][j].alert = nil
			}
			c.firstSeen[key] = len(c.cands[i])
		}
		c.cands[i] = append(c.cands[i], x)
	}
}

func (d *newTermsDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	if len(in) > 0 {
		d.pending = append(d.pending, in...)
		sortCandidates(d.pending)
	}
	n := before(d.pending, w)
	var firsts []candidate
	for k := range d.pending[:n] { // in time order
		c := &d.pending[k]
		prev, ok := st.Terms[c.term]
		if !ok || c.t-prev > d.ri.history {
			first, term := *c, c.term
			first.undo = func(st *state.Rule) { // until its alert is returned
				if ok {
					st.Terms[term] = prev
				} else {
					delete(st.Terms, term)
				}
			}
			firsts = append(firsts, first)
		}
		if !ok || c.t > prev {
			st.Terms[c.term] = c.t
		}
	}
	clear(d.pending[:n])
	d.pending = d.pending[n:]
	return d.cap.advance(w, firsts, st, rs)
}

func (d *newTermsDetector) rollback(undos []undo) []undo { return d.cap.rollback(undos) }

func (d *newTermsDetector) held() int { return len(d.pending) + len(d.cap.held) }
