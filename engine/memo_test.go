package engine

import (
	"testing"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
)

// Matchers compiled apart (a sequence step's, an ad hoc query's) number
// their memo slots from 0: sharing a Scratch, each still decides every
// event as its condition says, the memo of one never taken for the other's.
func TestMemoSlotsShared(t *testing.T) {
	conds := []rule.Cond{
		rule.Cmp{Field: "userAgent", Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{"", "kali", ""}}}},
		rule.Cmp{Field: "userAgent", Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{"", "arm", ""}}}},
		rule.Cmp{Field: "userAgent", Op: rule.OpRegex, Values: []string{`.*amd64.*`}},
		rule.Not{Cond: rule.Cmp{Field: "userAgent", Op: rule.OpRegex, Values: []string{`(?i)kali.*`}}},
	}
	var ms []Matcher
	for _, c := range conds {
		m, err := CompileCond(c)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	records := []string{
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":"kali-amd64"}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":"kali-amd64"}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":"kali-arm64"}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":"Kali-arm64"}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":["kali-arm64","x"]}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":null}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z"}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":"kali-arm64"}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":"aws-cli/2 amd64"}`,
	}
	s := NewScratch()
	outcomes := map[bool]int{}
	for _, js := range records {
		var p event.Parser
		ev, err := p.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			want, err := Eval(conds[i], ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := m(ev, s); got != want {
				t.Errorf("%s on %s: %v, want %v", rule.Format(conds[i]), js, got, want)
			}
			outcomes[want]++
		}
	}
	if outcomes[true] == 0 || outcomes[false] == 0 {
		t.Errorf("outcomes %v: the records should both match and not", outcomes)
	}
}

// A value longer than a memo keeps is decided each time, and decided right.
func TestMemoLongValues(t *testing.T) {
	c := rule.Cmp{Field: "userAgent", Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{"", "kali", ""}}}}
	m, err := CompileCond(c)
	if err != nil {
		t.Fatal(err)
	}
	long := make([]byte, maxMemo+10)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct {
		ua   string
		want bool
	}{
		{string(long), false},
		{string(long) + "kali", true},
		{string(long) + "kali", true},
		{"kali", true},
		{string(long), false},
	}
	s := NewScratch()
	for _, tt := range tests {
		var p event.Parser
		ev, err := p.Parse([]byte(`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userAgent":"` + tt.ua + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := m(ev, s); got != tt.want {
			t.Errorf("%d bytes: %v, want %v", len(tt.ua), got, tt.want)
		}
	}
}
