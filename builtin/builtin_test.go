package builtin

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/kql"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/ruletest"
)

func TestBuiltinMetadata(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	// Logic and metadata kept from the seed pages.
	want := map[string]struct {
		typ, sev     string
		risk         int
		interval     string
		from         string
		tactic, tech string
	}{
		"151d8f72-0747-11ef-a0c2-f661ea17fbcc": {"query", "medium", 47, "10m0s", "now-60m", "TA0003", "T1546"},
		"7d091a76-0737-11ef-8469-f661ea17fbcc": {"query", "low", 21, "10m0s", "now-60m", "TA0002", "T1648"},
		"30fbf4db-c502-4e68-a239-2e99af0f70da": {"new_terms", "medium", 47, "10m0s", "now-60m", "TA0007", "T1087"},
		"4182e486-fc61-11ee-a05d-f661ea17fbce": {"esql", "low", 21, "5m0s", "now-9m", "TA0010", "T1537"},
		"AWS.Potential.Backdoor.Lambda":        {"panther", "low", 1, "5m0s", "now-5m", "TA0007", "T1078"},
	}
	seen := 0
	for _, r := range rules {
		if r.Note == "" || r.Description == "" || len(r.InvestigationFields) == 0 || len(r.Threat) == 0 || len(r.Tests) == 0 {
			t.Errorf("%s: missing guide, description, investigation fields, ATT&CK or tests", r.Name)
		}
		w, ok := want[r.ID]
		if !ok {
			continue
		}
		seen++
		got := r.Threat[0]
		if r.Type != w.typ || r.Severity != w.sev || r.RiskScore != w.risk || r.Schedule.Interval.String() != w.interval ||
			r.Schedule.From != w.from || (r.Format == "elastic" && r.Schedule.MaxSignals != 100) || got.Tactic.ID != w.tactic || got.Techniques[0].ID != w.tech {
			t.Errorf("%s (%s): metadata differs from the seed: type %s severity %s risk %d schedule %+v threat %+v",
				r.ID, r.Name, r.Type, r.Severity, r.RiskScore, r.Schedule, r.Threat)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d seed rules found", seen, len(want))
	}
	for _, r := range rules {
		if r.ID == "30fbf4db-c502-4e68-a239-2e99af0f70da" {
			if r.NewTerms == nil || r.NewTerms.HistoryWindowStart != "now-15d" || r.NewTerms.Fields[0] != "aws.cloudtrail.user_identity.arn" {
				t.Errorf("new terms = %+v", r.NewTerms)
			}
			if r.Schedule.MaxSignals != 100 || !r.Runnable() {
				t.Errorf("GetCallerIdentity rule should run: %s", r.Unsupported)
			}
		}
	}
}

func parseEvent(t *testing.T, js string) *event.Event {
	t.Helper()
	var p event.Parser
	ev, err := p.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func condOf(t *testing.T, q string) rule.Cond {
	t.Helper()
	n, err := kql.Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	c, err := elastic.Lower(n)
	if err != nil {
		t.Fatal(err)
	}
	return rule.Simplify(c)
}

// The seed page's query for the layer rule names UpdateFunctionConfiguration
// exactly; CloudTrail writes UpdateFunctionConfiguration20150331v2, so the seed
// text misses every real update. Our built-in rule matches the versioned name.
func TestLayerRuleVersionedEventName(t *testing.T) {
	const seedQuery = `event.dataset: aws.cloudtrail and event.provider: lambda.amazonaws.com and event.outcome: success and event.action: (PublishLayerVersion* or UpdateFunctionConfiguration)`
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	var ours *rule.Rule
	for _, r := range rules {
		if r.ID == "7d091a76-0737-11ef-8469-f661ea17fbcc" {
			ours = r
		}
	}
	tests := []struct {
		action      string
		seed, ourss bool
	}{
		{"UpdateFunctionConfiguration20150331v2", false, true},
		{"UpdateFunctionConfiguration", true, true},
		{"PublishLayerVersion20181031", true, true},
		{"UpdateFunctionCode20150331v2", false, false},
	}
	for _, tt := range tests {
		ev := parseEvent(t, `{"eventSource":"lambda.amazonaws.com","eventName":"`+tt.action+`","eventTime":"2026-01-01T00:00:00Z"}`)
		seed, err := engine.Eval(condOf(t, seedQuery), ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := engine.Eval(ours.Cond, ev)
		if err != nil {
			t.Fatal(err)
		}
		if seed != tt.seed || got != tt.ourss {
			t.Errorf("%s: seed query %v (want %v), built-in %v (want %v)", tt.action, seed, tt.seed, got, tt.ourss)
		}
	}
}

// Every built-in rule runs, has tests, and passes them (what `trailhound
// test` checks), and none keys on Stratus Red Team's markers: real intruders
// do not carry its user agent or resource names.
func TestBuiltinRulesPassTheirTests(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(files, "rules/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range names {
		b, err := fs.ReadFile(files, f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".tests.yaml") {
			continue
		}
		if bytes.Contains(bytes.ToLower(b), []byte("stratus-red-team")) || bytes.Contains(bytes.ToLower(b), []byte("stratusredteam")) {
			t.Errorf("%s names a Stratus Red Team marker", f)
		}
	}
	var ran int
	for _, res := range ruletest.Run(rules, ruletest.Options{}) {
		if res.NotRun != "" {
			t.Errorf("%s / %s: not run: %s", res.Rule.Name, res.Test.Name, res.NotRun)
			continue
		}
		ran++
		if !res.Pass {
			t.Errorf("%s / %s: %s", res.Rule.Name, res.Test.Name, res.Msg)
		}
	}
	for _, r := range rules {
		if !r.Runnable() {
			t.Errorf("%s does not run: %s", r.Name, r.Unsupported)
		}
	}
	t.Logf("%d rules, %d tests passed", len(rules), ran)
}

// The built-in pack's ATT&CK coverage: every entry names a known tactic and
// technique, and its Navigator layer is valid.
func TestBuiltinCoverage(t *testing.T) {
	rules, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	cov := rule.Coverage(rules)
	if len(cov) < 30 {
		t.Errorf("%d tactic/technique pairs covered", len(cov))
	}
	for _, c := range cov {
		if c.Tactic.Name == "" || (c.Technique.ID != "" && c.Technique.Name == "") {
			t.Errorf("unknown ATT&CK id in %s %s (%v)", c.Tactic.ID, c.Technique.ID, c.Rules[0].Name)
		}
	}
	var b bytes.Buffer
	if err := rule.WriteNavigator(&b, rule.Navigator("built-in", cov)); err != nil {
		t.Fatal(err)
	}
	if err := rule.ValidateNavigatorJSON(b.Bytes()); err != nil {
		t.Error(err)
	}
}
