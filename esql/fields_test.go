package esql

import (
	"slices"
	"testing"
)

func TestProgramFields(t *testing.T) {
	q, err := Parse(`FROM logs-aws.cloudtrail-* | WHERE event.provider == "sts.amazonaws.com" AND source.as.organization.name != "AMAZON-02" | STATS n = COUNT(*) BY user.name`)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(q)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"event.provider", "source.as.organization.name", "user.name"}
	if got := p.Fields(); !slices.Equal(got, want) {
		t.Errorf("Fields() = %q, want %q", got, want)
	}
}

func TestDecisionFields(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{`FROM logs-* | WHERE event.action == "A" | STATS n = COUNT(*), orgs = VALUES(source.as.organization.name) BY user.name | KEEP n, orgs`,
			[]string{"event.action", "user.name"}},
		{`FROM logs-* | STATS orgs = VALUES(source.as.organization.name) BY user.name | WHERE MV_COUNT(orgs) > 1`,
			[]string{"source.as.organization.name", "user.name"}},
		{`FROM logs-* | STATS n = COUNT_DISTINCT(source.geo.country_iso_code) BY user.name | WHERE n > 2`,
			[]string{"source.geo.country_iso_code", "user.name"}},
		{`FROM logs-* | KEEP source.geo.city_name, event.action | SORT event.action`, []string{"event.action"}},
	} {
		q, err := Parse(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.DecisionFields(); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n DecisionFields() = %q, want %q", tc.q, got, tc.want)
		}
	}
}
