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
		a.ID = alert.ID(ev, ri.key)
		a.Event = alert.Locate(ev)
	} else {
		a = matchAlert(ri.r, ri.key, ev)
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
// output (Panther: title, context, dynamic severity); key is r.Key().
func matchAlert(r *rule.Rule, key string, ev *event.Event) alert.Alert {
	a, later := matchAlertLater(r, key, ev)
	if later != nil {
		later(&a)
	}
	return a
}

// matchAlertLater is matchAlert but for the fields the rule's
// Output.Later gives, which the function it returns (nil when the rule
// has no Later) fills in the alert: called only for a match that raises
// an alert.
func matchAlertLater(r *rule.Rule, key string, ev *event.Event) (alert.Alert, func(*alert.Alert)) {
	a := alert.NewWithID(ev, r, alert.ID(ev, key)) // alert.New, with the key kept
	o := r.Output
	if o == nil {
		return a, nil
	}
	if o.Title != nil {
		a.Title = o.Title(ev)
	}
	if o.Later != nil {
		get := o.Later(ev)
		return a, func(a *alert.Alert) { applyLater(a, get(a.Record)) }
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
	return a, nil
}

// applyLater sets an alert's fields as matchAlertLater would from the
// Output functions Later stands for.
func applyLater(a *alert.Alert, l rule.Later) {
	a.Context = l.Context
	if l.Severity != "" {
		a.Rule.Severity = l.Severity
	}
	if l.Reference != "" {
		a.Rule.References = []string{l.Reference}
	}
	if l.Runbook != "" {
		a.Rule.Guide = l.Runbook
	}
	a.Description = l.Description
	a.Destinations = l.Destinations
}
