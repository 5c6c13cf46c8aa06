package detect

import (
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// matchDetector raises an alert per matching event, at most max_signals
// per run: Elastic query and single-event EQL rules, Sigma rules.
type matchDetector struct {
	cap capper
}

func (d *matchDetector) collect(c *Collector, i int, ev *event.Event, cd candidate) {
	ri := c.p.rules[i]
	var a alert.Alert
	if ri.silent {
		// only correlations read its matches and its alerts are never
		// written: the id and place are all the runs need, not a copy of
		// the record and its fields (which made every match of a broad
		// search rule build the ECS view)
		a = alert.FromRule(ri.r)
		a.ID = alert.ID(ev, ri.r.Key())
		a.Event = alert.Locate(ev)
	} else {
		a = matchAlert(ri.r, ev)
	}
	a.Time = time.Unix(0, cd.t).UTC()
	cd.alert = &a
	c.cands[i] = append(c.cands[i], cd)
}

// advance decides the runs up to w: a candidate is decided once every run
// whose window holds it is.
func (d *matchDetector) advance(w int64, in []candidate, st *state.Rule, rs *RuleStats) ([]candidate, int64) {
	return d.cap.advance(w, in, st, rs)
}

func (d *matchDetector) held() int { return len(d.cap.held) }

// matchAlert is the alert of a single-event rule on ev, with the rule's
// output (Panther: title, context, dynamic severity).
func matchAlert(r *rule.Rule, ev *event.Event) alert.Alert {
	a := alert.New(ev, r)
	if o := r.Output; o != nil {
		if o.Title != nil {
			a.Title = o.Title(ev)
		}
		if o.Context != nil {
			a.Context = o.Context(ev)
		}
		if o.Severity != nil {
			if s := o.Severity(ev); s != "" {
				a.Rule.Severity = s
			}
		}
		if o.Reference != nil {
			if s := o.Reference(ev); s != "" {
				a.Rule.References = []string{s}
			}
		}
		if o.Runbook != nil {
			if s := o.Runbook(ev); s != "" {
				a.Rule.Guide = s
			}
		}
		if o.Description != nil {
			a.Description = o.Description(ev)
		}
		if o.Destinations != nil {
			a.Destinations = o.Destinations(ev)
		}
	}
	return a
}
