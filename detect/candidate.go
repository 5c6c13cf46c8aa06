package detect

import (
	"cmp"
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/esql"
	"github.com/trailhound/trailhound/state"
)

// candidate is one match prepared for its rule's kind.
type candidate struct {
	t      int64
	alert  *alert.Alert       // query, new_terms
	term   string             // new_terms: the term (values joined by \x1f)
	group  []string           // threshold: group values
	card   []string           // threshold: values of the (first) cardinality field
	supp   string             // suppression key; "" when the event is not suppressed
	sv     []any              // suppression terms, for the alert
	row    esql.Row           // aggregating ES|QL: the head row for the tail
	part   *esql.Partial      // aggregating ES|QL by slices: the slice starting at t
	step   int                // EQL sequence: the step matched (len(Steps) = until)
	join   string             // EQL sequence: the join key
	src    *source            // threshold: the event (an alert carries its group's first)
	blocks []alert.Alert      // EQL sequence: the building-block alerts that follow the shell
	seen   bool               // max_signals: de-duplicated and checked against the state
	pre    bool               // max_signals: raised by an earlier hunt (state)
	raised bool               // max_signals: raised by a run
	passed bool               // max_signals: raised and passed on
	alone  bool               // max_signals: late, after every run that could raise it
	undo   func(*state.Rule)  // reverts what raising it did to the state (new_terms, threshold)
	later  func(*alert.Alert) // Panther dedup: fills the alert fields given only to an alert (Output.Later)
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

// sortCandidates sorts a rule's candidates in time order, so that the
// result does not depend on the order in which the input was read. Most
// arrive in order: those are only checked.
//
// A candidate is large (256 bytes): a stable sort moves its elements
// O(n log² n) times, so the sort orders their indices and then moves each
// candidate once, in place.
func sortCandidates(cands []candidate) {
	sorted := true
	for i := 1; i < len(cands) && sorted; i++ {
		sorted = compareCandidates(&cands[i-1], &cands[i]) <= 0
	}
	if sorted {
		return
	}
	order := make([]int32, len(cands))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return compareCandidates(&cands[a], &cands[b]) })
	permute(cands, order)
}

// sortByTime sorts candidates by time alone, stably, as sortCandidates
// does: checked first, else their indices sorted and each moved once.
func sortByTime(cands []candidate) {
	sorted := true
	for i := 1; i < len(cands) && sorted; i++ {
		sorted = cands[i-1].t <= cands[i].t
	}
	if sorted {
		return
	}
	order := make([]int32, len(cands))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(cands[a].t, cands[b].t) })
	permute(cands, order)
}

// permute sets cands[i] = cands[order[i]] in place, a cycle at a time (a
// place done is marked order[i] = i).
func permute(cands []candidate, order []int32) {
	for i := range cands {
		if int(order[i]) == i {
			continue
		}
		tmp := cands[i]
		j := i
		for {
			k := int(order[j])
			order[j] = int32(j)
			if k == i {
				cands[j] = tmp
				break
			}
			cands[j] = cands[k]
			j = k
		}
	}
}

// compareCandidates orders candidates by time, then alert id, the one
// with an alert first (new_terms: the sighting that carries it), then
// place: the same record in two files (delivered twice), or threshold
// events at one instant, by place, whatever order the workers read them in.
func compareCandidates(a, b *candidate) int {
	if a.t != b.t {
		return cmp.Compare(a.t, b.t)
	}
	x, y := a.alert, b.alert
	if x != nil && y != nil && x.ID != y.ID {
		return strings.Compare(x.ID, y.ID)
	}
	if (x == nil) != (y == nil) {
		if x != nil {
			return -1
		}
		return 1
	}
	fa, oa := a.place()
	fb, ob := b.place()
	if fa != fb {
		return strings.Compare(fa, fb)
	}
	return cmp.Compare(oa, ob)
}

// before returns the number of sorted candidates earlier than w.
func before(cands []candidate, w int64) int {
	return sort.Search(len(cands), func(i int) bool { return cands[i].t >= w })
}

// times returns the candidates' times.
func times(cands []candidate) []int64 {
	out := make([]int64, len(cands))
	for i, c := range cands {
		out[i] = c.t
	}
	return out
}
