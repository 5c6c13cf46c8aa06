package event

import (
	"fmt"
	"testing"
)

// A field read from one event is never another event's: one Parser, many
// records, getters and views read in varying order; and what a caller
// appends to a view or a getter's result does not change the event's values.
func TestFieldMemoPerEvent(t *testing.T) {
	get := Resolve("aws.cloudtrail.user_identity.type")
	view := ResolveView("userIdentity.type")
	src := ResolveView("source.ip")
	var p Parser
	for i := range 50 {
		typ, ip := fmt.Sprintf("T%d", i), fmt.Sprintf("10.0.0.%d", i)
		rec := fmt.Sprintf(`{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":%q},"sourceIPAddress":%q}`, typ, ip)
		if i%5 == 4 { // no userIdentity at all
			rec = `{"eventVersion":"1.08","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z"}`
			typ, ip = "", ""
		}
		ev, err := p.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		for round := range 3 { // the first read fills the memo, the others read it
			var got []Value
			if (i+round)%2 == 0 {
				got = get(ev, []Value{{"x", String}})[1:]
			} else {
				got = view(ev)
			}
			if want := valuesOf(typ); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("record %d round %d: user type %v, want %v", i, round, got, want)
			}
			if s := src(ev); fmt.Sprint(s) != fmt.Sprint(valuesOf(ip)) {
				t.Fatalf("record %d round %d: source.ip %v, want %q", i, round, s, ip)
			}
			_ = append(view(ev), Value{"appended", String}) // copies: cap is len
		}
	}
}

func valuesOf(s string) []Value {
	if s == "" {
		return nil
	}
	return []Value{{s, String}}
}
