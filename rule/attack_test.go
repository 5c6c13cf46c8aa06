package rule

import "testing"

func TestAttackNames(t *testing.T) {
	for _, tt := range []struct{ id, want string }{
		{"TA0005", "Defense Evasion"},
		{"TA0040", "Impact"},
		{"T1078", "Valid Accounts"},
		{"T1078.004", "Cloud Accounts"},
		{"t1562.008", "Disable or Modify Cloud Logs"},
		{" T1530 ", "Data from Cloud Storage"},
		{"T1651", "Cloud Administration Command"},
		{"T9999", ""},
		{"", ""},
	} {
		if got := AttackName(tt.id); got != tt.want {
			t.Errorf("AttackName(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
	ts := []Threat{{Tactic: Ref{ID: "TA0003"}, Techniques: []Technique{
		{Ref: Ref{ID: "T1098", Name: "Named by the rule"}, Subtechniques: []Ref{{ID: "T1098.001"}, {ID: "T1098.999"}}},
	}}}
	FillAttackNames(ts)
	tech := ts[0].Techniques[0]
	if ts[0].Tactic.Name != "Persistence" || tech.Name != "Named by the rule" || tech.Subtechniques[0].Name != "Additional Cloud Credentials" || tech.Subtechniques[1].Name != "" {
		t.Errorf("filled: %+v", ts)
	}
}
