package detect

import (
	"sort"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// needsNoTime reports whether a rule judges each event on its own, without
// its time: single-event Elastic query and EQL rules, Sigma rules, and
// Panther rules that alert on one match. Every other rule keeps state in
// event time (new_terms, threshold, sequences, ES|QL, correlations, dedup
// thresholds).
func needsNoTime(r *rule.Rule) bool {
	switch r.Type {
	case "query", "sigma":
		return true
	case "eql":
		return r.Sequence == nil
	case "panther":
		return r.Dedup == nil || r.Dedup.Threshold <= 1
	}
	return false
}

// addUntimed takes a match of a record without a usable event time. Rules
// that need no event time raise their alert at the file's time
// (ev.FileTime), marked as not the event's time; the others, and the
// correlations reading the rule, skip it and count it: a made-up time must
// not enter windows, histories or the state.
func (c *Collector) addUntimed(i int, ev *event.Event) {
	ri := c.p.rules[i]
	for _, f := range ri.feeds {
		c.noTime[f.corr]++
	}
	_, why := ev.EventTime()
	if ev.FileTime.IsZero() || why == nil || !needsNoTime(ri.r) {
		c.noTime[i]++
		return
	}
	a := matchAlert(ri.r, ri.key, ev)
	a.Time = ev.FileTime.UTC()
	a.TimeSubstitute = &alert.TimeSubstitute{From: ev.FileTimeFrom, Reason: why.Error()}
	c.untimed[i] = append(c.untimed[i], candidate{t: a.Time.UnixNano(), alert: &a})
}

// raiseUntimed raises the alerts on records without event time as they
// come, whatever the watermark: once per record (a record delivered twice
// alerts once; raised holds the ids seen so far), not again when an
// earlier hunt raised it (the state keeps its id at the rule's watermark,
// so it expires with the rule's window), outside max_signals runs and
// suppression, which need event time.
func raiseUntimed(ri *ruleInfo, cands []candidate, raised map[string]bool, st *state.Rule, rs *RuleStats) []alert.Alert {
	sort.Slice(cands, func(a, b int) bool {
		x, y := cands[a].alert, cands[b].alert
		if x.ID != y.ID {
			return x.ID < y.ID
		}
		return x.Event.File < y.Event.File || x.Event.File == y.Event.File && x.Event.Offset < y.Event.Offset
	})
	var alerts []alert.Alert
	for _, c := range cands {
		if raised[c.alert.ID] {
			rs.Duplicates++
			continue
		}
		raised[c.alert.ID] = true
		switch {
		case hasKey(st.Alerted, c.alert.ID):
			rs.Known++
		case ri.r.Dedup != nil && ri.r.Dedup.Signal:
			rs.Signals++
		default:
			st.Alerted[c.alert.ID] = st.Watermark
			alerts = append(alerts, *c.alert)
		}
	}
	return alerts
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
