package elastic

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/rule"
)

const corpusRules = "../../shared/corpus/elastic-rules"

func TestLoadCorpus(t *testing.T) {
	if _, err := os.Stat(corpusRules); err != nil {
		t.Skipf("shared corpus not found at %s: %v", corpusRules, err)
	}
	rules, errs := Load([]string{corpusRules})
	for _, err := range errs {
		t.Errorf("load: %v", err)
	}
	byType := map[string]int{}
	runnable := map[string]int{}
	for _, r := range rules {
		if r.Maturity == "deprecated" {
			byType["deprecated"]++
			continue
		}
		byType[r.Type]++
		if r.Runnable() {
			runnable[r.Type]++
		} else if r.Unsupported == "" {
			t.Errorf("%s: not runnable and no reason given", r.Path)
		}
		for _, w := range r.Warnings {
			t.Errorf("%s: %s", r.Path, w)
		}
	}
	want := map[string]int{"query": 90, "new_terms": 49, "eql": 28, "esql": 26, "threshold": 5, "machine_learning": 5, "deprecated": 12}
	for k, v := range want {
		if byType[k] != v {
			t.Errorf("%d rules of type %s, want %d", byType[k], k, v)
		}
	}
	if runnable["query"] != 90 {
		t.Errorf("%d runnable query rules, want 90", runnable["query"])
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, toml, want string
	}{
		{"bad toml", "[rule]\nname = \n", "x.toml:2:"},
		{"wrong type", "[rule]\nrule_id = \"r1\"\nrisk_score = \"high\"\n", "x.toml:3:14: TOML: rule.risk_score: a TOML string where a value of type int belongs"},
		{"wrong type in a list", "[rule]\nrule_id = \"r1\"\ntags = [\"a\", 2]\n", "x.toml:3:"},
		{"table twice", "[rule]\nrule_id = \"r1\"\n[rule]\nname = \"n\"\n", "x.toml:3:2:"},
		{"bad kql", "[rule]\nrule_id = \"r1\"\nname = \"n\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"a:(b or\"\n", "rule r1 (n): query KQL line 1 column 8"},
		{"no id", "[rule]\nname = \"n\"\n", "no rule_id"},
		{"bad kql in file", "[rule]\nrule_id = \"r1\"\nname = \"n\"\nlanguage = \"kuery\"\nquery = '''\nevent.action: A and\n  user.name: (x or\n'''\n", "x.toml:7:19: rule r1 (n): query KQL line 2 column 19: expected `)`"},
		{"bad from", "[rule]\nrule_id = \"r1\"\nfrom = \"yesterday\"\n", "from: unsupported date math"},
		// values with which a rule would silently never alert
		{"max_signals -1", "[rule]\nrule_id = \"r1\"\nmax_signals = -1\n", "x.toml: rule r1: max_signals = -1: must be at least 1"},
		{"max_signals 0", "[rule]\nrule_id = \"r1\"\nmax_signals = 0\n", "max_signals = 0: must be at least 1"},
		{"interval 0s", "[rule]\nrule_id = \"r1\"\ninterval = \"0s\"\n", `rule r1: interval "0s": must be longer than 0`},
		{"negative interval", "[rule]\nrule_id = \"r1\"\ninterval = \"-5m\"\n", `rule r1: interval: invalid duration "-5m"`},
		{"interval overflowing", "[rule]\nrule_id = \"r1\"\ninterval = \"9999999999999d\"\n", "interval: duration \"9999999999999d\" is too long"},
		{"negative look-back", "[rule]\nrule_id = \"r1\"\nfrom = \"now--6m\"\n", `rule r1: from: invalid duration "-6m"`},
		{"zero look-back", "[rule]\nrule_id = \"r1\"\nfrom = \"now-0m\"\n", `rule r1: from "now-0m": must look back more than 0`},
		{"negative suppression duration", "[rule]\nrule_id = \"r1\"\n[rule.alert_suppression]\ngroup_by = [\"a\"]\n[rule.alert_suppression.duration]\nunit = \"m\"\nvalue = -5\n", "rule r1: alert_suppression.duration: invalid duration"},
		{"zero suppression duration", "[rule]\nrule_id = \"r1\"\n[rule.alert_suppression]\ngroup_by = [\"a\"]\n[rule.alert_suppression.duration]\nunit = \"m\"\nvalue = 0\n", "rule r1: alert_suppression.duration: value 0: must be at least 1"},
		{"negative history window", "[rule]\nrule_id = \"r1\"\ntype = \"new_terms\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"a\"]\n[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now--7d\"\n", "rule r1: new_terms history_window_start: invalid duration \"-7d\""},
		{"zero history window", "[rule]\nrule_id = \"r1\"\ntype = \"new_terms\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"a\"]\n[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now\"\n", "rule r1: new_terms history_window_start: \"now\" must look back more than 0"},
	}
	for _, tt := range tests {
		_, err := Parse("x.toml", []byte(tt.toml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
		var e *Error
		if !errors.As(err, &e) || e.Path != "x.toml" {
			t.Errorf("%s: error does not name the file: %v", tt.name, err)
		}
	}
}

func TestParseRule(t *testing.T) {
	src := `
[metadata]
maturity = "production"
[rule]
rule_id = "r1"
name = "Test"
type = "query"
language = "kuery"
severity = "low"
risk_score = 21
interval = "10m"
from = "now-60m"
query = 'event.action: (A or B) and not user.name: x*'
unknown_key = 1
[[rule.threat]]
framework = "MITRE ATT&CK"
[rule.threat.tactic]
id = "TA0002"
name = "Execution"
reference = "https://attack.mitre.org/tactics/TA0002/"
[[rule.threat.technique]]
id = "T1648"
name = "Serverless Execution"
reference = "https://attack.mitre.org/techniques/T1648/"
`
	r, err := Parse("r.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Runnable() || r.Schedule.Interval.Minutes() != 10 || r.Schedule.Lookback.Minutes() != 60 || r.Schedule.MaxSignals != 100 {
		t.Errorf("rule = %+v", r)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "unknown_key") {
		t.Errorf("warnings = %v", r.Warnings)
	}
	if r.Threat[0].Techniques[0].ID != "T1648" {
		t.Errorf("threat = %+v", r.Threat)
	}
	and := r.Cond.(rule.And)
	if eq := and.Conds[0].(rule.Cmp); eq.Op != rule.OpEq || len(eq.Values) != 2 {
		t.Errorf("merged eq = %+v", eq)
	}
}

// Keys the format does not have are loaded with a warning each (a table's
// once), not an error; max_signals is 100 unless set.
func TestUnknownKeys(t *testing.T) {
	r, err := Parse("x.toml", []byte("[metadata]\nodd = 1\n[rule]\nrule_id = \"r1\"\nfoo = 1\n\"we ird\" = 2\nmax_signals = 7\n[rule.bar]\nx = 1\n[[rule.threat]]\nframework = \"MITRE ATT&CK\"\nextra = 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"unknown key metadata.odd ignored", "unknown key rule.foo ignored", `unknown key rule."we ird" ignored`, "unknown key rule.bar ignored", "unknown key rule.threat.extra ignored"}
	if !slices.Equal(r.Warnings, want) {
		t.Errorf("warnings %q, want %q", r.Warnings, want)
	}
	if r.Schedule.MaxSignals != 7 {
		t.Errorf("max_signals %d, want 7", r.Schedule.MaxSignals)
	}
	r, err = Parse("x.toml", []byte("[rule]\nrule_id = \"r1\"\n"))
	if err != nil || r.Schedule.MaxSignals != 100 || len(r.Warnings) > 0 {
		t.Errorf("max_signals %d, warnings %q, error %v: want 100, none, nil", r.Schedule.MaxSignals, r.Warnings, err)
	}
}

// Rule files may use TOML 1.1's additions (\x and \e escapes, inline
// tables over several lines with a trailing comma), as they could with the
// TOML decoder used before.
func TestTOML11(t *testing.T) {
	r, err := Parse("x.toml", []byte("[rule]\nrule_id = \"r1\"\nname = \"a\\x41\\e\"\n[rule.alert_suppression]\ngroup_by = [\"a\"]\nduration = {\n  value = 5,\n  unit = \"m\",\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "aA\x1b" || r.Suppression == nil || r.Suppression.Duration != 5*time.Minute {
		t.Errorf("name %q, suppression %+v; want \"aA\\x1b\", 5m", r.Name, r.Suppression)
	}
}
