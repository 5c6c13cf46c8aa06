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
