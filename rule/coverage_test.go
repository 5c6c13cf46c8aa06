package rule

import (
	"bytes"
	"strings"
	"testing"
)

func threatOf(tactic string, techs ...string) []Threat {
	th := Threat{Framework: "MITRE ATT&CK", Tactic: Ref{ID: tactic}}
	for _, t := range techs {
		if p, _, sub := strings.Cut(t, "."); sub {
			th.Techniques = append(th.Techniques, Technique{Ref: Ref{ID: p}, Subtechniques: []Ref{{ID: t}}})
		} else {
			th.Techniques = append(th.Techniques, Technique{Ref: Ref{ID: t}})
		}
	}
	return []Threat{th}
}

func TestCoverage(t *testing.T) {
	runs := Or{}
	rules := []*Rule{
		{ID: "a", Name: "A", Format: "elastic", Cond: runs, Threat: threatOf("TA0005", "T1562.008")},
		{ID: "b", Name: "B", Format: "sigma", Cond: runs, Threat: append(threatOf("TA0005", "T1562.008"), threatOf("TA0040", "T1485")...)},
		{ID: "c", Name: "C (does not run)", Format: "elastic", Cond: runs, Unsupported: "needs ML", Threat: threatOf("TA0005", "T1562.008")},
		{ID: "s", Name: "S (read silently)", Format: "sigma", Cond: runs, Threat: threatOf("TA0007", "T1580")},
		{ID: "k", Name: "K", Format: "sigma", Correlation: &Correlation{Type: "event_count", Rules: []string{"s"}}, Threat: threatOf("TA0007", "T1580")},
		{ID: "t", Name: "T", Format: "panther", Cond: runs, Threat: threatOf("TA0001")},
	}
	got := Coverage(rules)
	want := []struct {
		tactic, tech, names, formats string
	}{
		{"TA0001", "", "T", "panther 1"},
		{"TA0005", "T1562.008", "A; B", "elastic 1, sigma 1"},
		{"TA0007", "T1580", "K", "sigma 1"},
		{"TA0040", "T1485", "B", "sigma 1"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		var names []string
		for _, r := range got[i].Rules {
			names = append(names, r.Name)
		}
		if got[i].Tactic.ID != w.tactic || got[i].Technique.ID != w.tech || strings.Join(names, "; ") != w.names || got[i].ByFormat() != w.formats {
			t.Errorf("entry %d: %s %s %v (%s), want %+v", i, got[i].Tactic.ID, got[i].Technique.ID, names, got[i].ByFormat(), w)
		}
	}
	if got[1].Tactic.Name != "Defense Evasion" || got[1].Technique.Name != "Disable or Modify Cloud Logs" {
		t.Errorf("names not filled: %+v", got[1])
	}
	var b bytes.Buffer
	if err := WriteCoverageTable(&b, got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| TA0005 Defense Evasion | T1562.008 Disable or Modify Cloud Logs | 2 | elastic 1, sigma 1 | A; B |") ||
		!strings.Contains(b.String(), "| TA0001 Initial Access | (tactic only) | 1 |") {
		t.Errorf("table:\n%s", b.String())
	}
	layer := Navigator("test layer", got)
	if len(layer.Techniques) != 3 || layer.Techniques[0].Score != 2 || layer.Techniques[0].Tactic != "defense-evasion" || layer.Gradient.MaxValue != 2 {
		t.Errorf("layer techniques %+v gradient %+v", layer.Techniques, layer.Gradient)
	}
	var b2 bytes.Buffer
	if err := WriteNavigator(&b2, layer); err != nil {
		t.Fatal(err)
	}
	if err := ValidateNavigatorJSON(b2.Bytes()); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{
		`{"domain": "enterprise-attack", "versions": {"layer": "4.5"}, "techniques": []}`,
		`{"name": "x", "domain": "enterprise", "versions": {"layer": "4.5"}, "techniques": []}`,
		`{"name": "x", "domain": "enterprise-attack", "versions": {"layer": "4.5"}, "techniques": [{"techniqueID": "1562", "score": 1}]}`,
		`{"name": "x", "domain": "enterprise-attack", "versions": {"layer": "4.5"}, "techniques": [{"techniqueID": "T1562", "tactic": "evasion", "score": 1}]}`,
		`{"name": "x", "domain": "enterprise-attack", "versions": {"layer": "4.5"}, "techniques": [{"techniqueID": "T1562", "score": "1"}]}`,
	} {
		if ValidateNavigatorJSON([]byte(bad)) == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
