package rule

import (
	"slices"
	"strings"
	"testing"
)

func eq(field, v string) Cmp { return Cmp{Field: field, Op: OpEq, Values: []string{v}} }

func TestRuleFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Rule
		want []string
	}{
		{"condition with an exclusion", &Rule{Cond: And{[]Cond{eq("event.action", "GetSecretValue"),
			Not{eq("source.as.organization.name", "AMAZON-02")}}}},
			[]string{"event.action", "source.as.organization.name"}},
		{"new_terms", &Rule{Cond: eq("event.action", "AssumeRole"),
			NewTerms: &NewTerms{Fields: []string{"cloud.account.id", "source.geo.country_iso_code"}}},
			[]string{"cloud.account.id", "event.action", "source.geo.country_iso_code"}},
		{"threshold with cardinality", &Rule{Cond: eq("event.provider", "s3.amazonaws.com"),
			Threshold: &Threshold{Fields: []string{"user.name"}, Cardinality: []Cardinality{{Field: "source.as.number", Value: 3}}}},
			[]string{"event.provider", "source.as.number", "user.name"}},
		{"sequence", &Rule{Sequence: &Sequence{By: []string{"user.name"},
			Steps: []SeqStep{{Cond: eq("event.action", "A")}, {Cond: eq("source.geo.city_name", "X"), By: []string{"source.ip"}}},
			Until: &SeqStep{Cond: eq("event.action", "Z")}}},
			[]string{"event.action", "source.geo.city_name", "source.ip", "user.name"}},
		{"suppression and predicate", &Rule{Cond: Pred{Text: "a == b", Fields: []string{"a", "b"}},
			Suppression: &Suppression{GroupBy: []string{"source.as.number"}}},
			[]string{"a", "b", "source.as.number"}},
		{"correlation", &Rule{Correlation: &Correlation{GroupBy: []string{"g"}, Field: "f",
			Aliases: map[string]map[string]string{"g": {"r1": "source.geo.country_name"}}}},
			[]string{"f", "g", "source.geo.country_name"}},
	} {
		if got := tc.r.Fields(); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Fields() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRequireFields(t *testing.T) {
	geo := &Rule{ID: "geo", Cond: Not{eq("source.as.organization.name", "AMAZON-02")}}
	plain := &Rule{ID: "plain", Cond: eq("event.action", "A")}
	already := &Rule{ID: "already", Cond: eq("source.geo.city_name", "X"), Unsupported: "something else"}
	nt := &Rule{ID: "nt", Cond: eq("event.action", "A"), NewTerms: &NewTerms{Fields: []string{"source.as.number"}}}
	RequireFields([]*Rule{geo, plain, already, nt}, func(f string) string {
		if strings.HasPrefix(f, "source.as.") || strings.HasPrefix(f, "source.geo.") {
			return "needs GeoIP"
		}
		return ""
	})
	for _, tc := range []struct {
		r    *Rule
		want string
	}{{geo, "needs GeoIP"}, {plain, ""}, {already, "something else"}, {nt, "needs GeoIP"}} {
		if tc.r.Unsupported != tc.want {
			t.Errorf("%s: Unsupported = %q, want %q", tc.r.ID, tc.r.Unsupported, tc.want)
		}
	}
}
