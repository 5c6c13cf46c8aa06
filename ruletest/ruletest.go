// Package ruletest runs rule unit tests: each test's logs go through the
// rule as one hunt, and the test passes when the rule raises an alert
// exactly when it is expected to, with the expected title, severity and
// context when the test names them.
package ruletest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/detect"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// Result is the outcome of one test.
type Result struct {
	Rule   *rule.Rule
	Test   rule.Test
	Pass   bool
	NotRun string // why the test could not run (rule unsupported, mocks)
	Msg    string // what differed
}

// Options configure Run.
type Options struct {
	GeoIP           *geoip.DB // when not nil, events get source.geo and source.as
	NoEntityMapping bool      // no actor/target entity fields
	// Script, when set, runs the tests of the rules whose logic is in a
	// script it runs (Panther's Python rules, package pyrule), its own way.
	Script ScriptRunner
}

// ScriptRunner runs the tests of script-backed rules.
type ScriptRunner interface {
	// Runs reports whether it runs r's tests.
	Runs(r *rule.Rule) bool
	// Test runs one test and says whether it passed and, if not, why.
	Test(r *rule.Rule, t rule.Test) (bool, string)
}

// Run runs every test of the rules.
func Run(rules []*rule.Rule, opts Options) []Result {
	var out []Result
	for _, r := range rules {
		for _, t := range r.Tests {
			res := Result{Rule: r, Test: t}
			switch {
			case opts.Script != nil && opts.Script.Runs(r):
				res.Pass, res.Msg = opts.Script.Test(r, t)
			case !r.Runnable():
				res.NotRun = "rule not run: " + r.Unsupported
			case t.HasMocks:
				res.NotRun = "Mocks replace Python helpers, which trailhound does not run"
			default:
				res.Pass, res.Msg = runOne(withInputs(r, rules), t, opts)
			}
			out = append(out, res)
		}
	}
	return out
}

// withInputs is r and, for a correlation, the rules it reads (recursively),
// which must run with it for it to see their matches.
func withInputs(r *rule.Rule, all []*rule.Rule) []*rule.Rule {
	out := []*rule.Rule{r}
	for i := 0; i < len(out); i++ {
		c := out[i].Correlation
		if c == nil {
			continue
		}
		for _, ref := range c.Rules {
			for _, x := range all {
				if x != out[i] && !slices.Contains(out, x) && (x.ID == ref || x.Alias == ref || x.Name == ref) {
					out = append(out, x)
				}
			}
		}
	}
	return out
}

// runOne runs one test; rules[0] is the rule under test, the others the
// rules a correlation reads.
func runOne(rules []*rule.Rule, t rule.Test, opts Options) (bool, string) {
	r := rules[0]
	// Panther tests check whether the rule matches: dedup thresholds and
	// signal-only rules do not change that
	if r.Dedup != nil {
		cp, d := *r, *r.Dedup
		d.Threshold, d.Signal = 1, false
		cp.Dedup = &d
		r = &cp
	}
	rules = append([]*rule.Rule{r}, rules[1:]...)
	eng, err := engine.Compile(rules)
	if err != nil {
		return false, err.Error()
	}
	proc, err := detect.New(rules, state.NewMemory(), detect.Options{})
	if err != nil {
		return false, err.Error()
	}
	col := proc.NewCollector()
	s := engine.NewScratch()
	p := event.Parser{GeoIP: opts.GeoIP, NoEntityMapping: opts.NoEntityMapping}
	for i, log := range t.Logs {
		log = withTime(log, i)
		ev, err := p.Parse(log)
		if err != nil {
			return false, fmt.Sprintf("log %d: %v", i+1, err)
		}
		if ev.Kind != event.KindCloudTrail && ev.Kind != event.KindECS {
			return false, fmt.Sprintf("log %d is not a CloudTrail event", i+1)
		}
		// each log is its own event, also without an eventID (correlations
		// count an event once, by its id or else its place)
		ev.File, ev.Line, ev.Offset = t.Path, i+1, int64(i)
		eng.Match(ev, s, func(rr *rule.Rule) { col.Add(rr, ev) })
	}
	alerts, _, err := proc.Finish()
	if err != nil {
		return false, err.Error()
	}
	var raised []alert.Alert
	for _, a := range alerts {
		if a.Sequence != nil && a.Sequence.ID != "" {
			continue // a sequence's building blocks
		}
		if a.Rule.ID != r.ID {
			continue // a rule a correlation reads, with generate: true
		}
		raised = append(raised, a)
	}
	got := len(raised) > 0
	if got != t.Expected {
		if t.Expected {
			return false, "expected an alert, got none"
		}
		return false, fmt.Sprintf("expected no alert, got %d (%s)", len(raised), raised[0].Rule.Name)
	}
	if !got {
		return true, ""
	}
	a := raised[0]
	if t.ExpectedTitle != "" && a.Title != t.ExpectedTitle {
		return false, fmt.Sprintf("title %q, expected %q", a.Title, t.ExpectedTitle)
	}
	if t.ExpectedSeverity != "" && !sameSeverity(a.Rule.Severity, t.ExpectedSeverity) {
		return false, fmt.Sprintf("severity %q, expected %q", a.Rule.Severity, t.ExpectedSeverity)
	}
	if t.ExpectedContext != nil {
		if ok, msg := t.CheckContext(a.Context); !ok {
			return false, msg
		}
	}
	return true, ""
}

// sameSeverity compares trailhound's severity with a test's, which may use
// Panther's names (Info is low).
func sameSeverity(got, want string) bool {
	m := map[string]string{"info": "low", "informational": "low"}
	w := want
	if x, ok := m[strings.ToLower(want)]; ok {
		w = x
	}
	return strings.EqualFold(got, w)
}

// withTime gives a raw log without eventTime one (test logs are often
// trimmed): the i-th log at i seconds past 2020-01-01, in order.
func withTime(log json.RawMessage, i int) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(log, &m) != nil {
		return log
	}
	if _, ok := m["eventTime"]; ok {
		return log
	}
	if _, ok := m["@timestamp"]; ok {
		return log
	}
	m["eventTime"] = time.Date(2020, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339)
	b, err := json.Marshal(m)
	if err != nil {
		return log
	}
	return b
}
