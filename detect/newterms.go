package detect

import (
	"cmp"
	"math"
	"slices"
	"sort"
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
	pending []candidate // matches kept as candidates (those with an alert, and the few that lost it to an earlier match), not yet decided, sorted
	sights  []sighting  // matches without an alert when they came, not yet decided, sorted by time
	cap     capper
}

// sighting is a new_terms match that carries no alert: the earliest
// sighting of its term in its history-window bucket, in the same
// collector, has one (see collect), so it cannot be new; all it does is
// move its term's last sighting (state Terms). It is kept as its time and
// term alone: a rule matching a tenth of the records (the corpus's "AWS
// IAM Long-Term Access Key First Seen from Source IP") has as many, and a
// candidate is ten times larger.
type sighting struct {
	t    int64
	term string
}

// compactSightings keeps sightings without an alert as sightings, not
// candidates; the tests turn it off to compare with candidates alone.
var compactSightings = true

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
		// Buckets are rounded down: rounded toward zero, the one around
		// the Unix epoch was two windows wide, and of a term seen before
		// 1970 and again more than a window later, the second sighting,
		// new, had no alert (TestNewTermsAroundTheEpoch).
		key := termKey{i, x.term, floorDiv(x.t, max(ri.history, 1))}
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
		if x.alert == nil && compactSightings {
			c.sights[i] = append(c.sights[i], sighting{x.t, x.term})
			continue
		}
		c.cands[i] = append(c.cands[i], x)
	}
}

// see adds the taken collectors' sightings of rule i, to be decided with
// the next advance, and returns how many there were and the latest time
// of those not yet decided (math.MinInt64 when none).
func (d *newTermsDetector) see(i int, got []*Collector) (added int, latest int64) {
	n := len(d.sights)
	for _, c := range got {
		d.sights = append(d.sights, c.sights[i]...)
	}
	if added = len(d.sights) - n; added > 0 && !slices.IsSortedFunc(d.sights, bySightingTime) {
		slices.SortStableFunc(d.sights, bySightingTime)
	}
	if len(d.sights) == 0 {
		return added, math.MinInt64
	}
	return added, d.sights[len(d.sights)-1].t
}

func bySightingTime(a, b sighting) int { return cmp.Compare(a.t, b.t) }

func (d *newTermsDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	if len(in) > 0 {
		d.pending = append(d.pending, in...)
		sortCandidates(d.pending)
	}
	n := before(d.pending, w)
	m := sort.Search(len(d.sights), func(i int) bool { return d.sights[i].t >= w })
	var firsts []candidate
	j := 0
	// a sighting moves its term's last sighting, before any candidate
	// later than it (at the same time, candidates go first, as sorted
	// candidates have those with an alert first)
	seeUntil := func(t int64) {
		for ; j < m && d.sights[j].t < t; j++ {
			s := &d.sights[j]
			if prev, ok := st.Terms[s.term]; !ok || s.t > prev {
				st.Terms[s.term] = s.t
			}
		}
	}
	for k := range d.pending[:n] { // in time order
		c := &d.pending[k]
		seeUntil(c.t)
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
	seeUntil(w)
	clear(d.pending[:n])
	d.pending = d.pending[n:]
	clear(d.sights[:m])
	d.sights = d.sights[m:]
	return d.cap.advance(w, firsts, st, rs)
}

func (d *newTermsDetector) rollback(undos []undo) []undo { return d.cap.rollback(undos) }

func (d *newTermsDetector) held() int { return len(d.pending) + len(d.sights) + len(d.cap.held) }
