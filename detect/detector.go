package detect

import (
	"github.com/trailhound/trailhound/esql"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/state"
)

// detector is one rule kind's way from matches to alerts, in event time.
// collect runs in the workers; advance, on the processor's goroutine, takes
// the rule's new candidates and, told that no match earlier than the
// watermark w will arrive any more (except late ones), returns the
// candidates that can no longer change, in the order they are raised, and
// forgets every entry that can no longer matter. The suppressor stage
// after it applies alert_suppression and records the alerts in the state.
type detector interface {
	// collect prepares a match of ev at event time cd.t as candidates of
	// rule i in c. It reads no detector state.
	collect(c *Collector, i int, ev *event.Event, cd candidate)
	// advance returns what the detector raises given watermark w, and the
	// lowest event time of a candidate it may still raise.
	advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64)
	// held counts the entries the detector keeps for later.
	held() int
}

// newDetector returns the detector of a rule's kind.
func newDetector(ri *ruleInfo) detector {
	r := ri.r
	switch {
	case r.Type == "new_terms":
		return &newTermsDetector{ri: ri, cap: newCapper(ri)}
	case r.Type == "threshold":
		return &thresholdDetector{ri: ri, sched: newSchedule(ri)}
	case r.Type == "eql" && r.Sequence != nil:
		return &sequenceDetector{ri: ri, cap: newCapper(ri)}
	case r.Type == "esql" && ri.slice > 0:
		return &esqlSlicesDetector{esqlWindows: newESQLWindows(ri), parts: map[int64]*esql.Partial{}}
	case r.Type == "esql" && r.ESQL.Aggregating:
		return &esqlRowsDetector{esqlWindows: newESQLWindows(ri)}
	case r.Type == "esql":
		return &esqlMatchDetector{matchDetector{cap: newCapper(ri)}}
	case r.Type == "sigma_correlation":
		return newCorrelationDetector(ri)
	case r.Type == "panther" && r.Dedup != nil:
		return &dedupDetector{ri: ri, open: map[string]*dedupWindow{}}
	}
	return &matchDetector{cap: newCapper(ri)}
}
