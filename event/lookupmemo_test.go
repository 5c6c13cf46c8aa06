package event

import (
	"reflect"
	"testing"
)

// Lookup reads through the Parser's memo: on each event of a Parser it
// gives that event's values, before or after a rule's getter read them, and
// the values it returns outlive the event.
func TestLookupMemo(t *testing.T) {
	view := ResolveView("aws.cloudtrail.user_identity.arn")
	var p Parser
	var kept []any
	for i, arn := range []string{"arn:aws:iam::1:user/a", "arn:aws:iam::1:user/b", ""} {
		rec := `{"eventTime":"2026-11-03T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"GetUser","userIdentity":{"type":"IAMUser","arn":"` + arn + `"},"requestParameters":{"n":[1,2]}}`
		ev, err := p.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			view(ev) // a rule read it first
		}
		got := Lookup(ev, "aws.cloudtrail.user_identity.arn")
		want := any(arn)
		if arn == "" {
			want = nil // dropped as empty
		}
		if got != want {
			t.Errorf("event %d: %v, want %v", i, got, want)
		}
		if n := Lookup(ev, "aws.cloudtrail.flattened.request_parameters.n"); !reflect.DeepEqual(n, []any{NumberString("1"), NumberString("2")}) {
			t.Errorf("event %d: n = %#v", i, n)
		}
		kept = append(kept, got)
	}
	if kept[0] != "arn:aws:iam::1:user/a" || kept[1] != "arn:aws:iam::1:user/b" {
		t.Errorf("values kept from earlier events changed: %v", kept)
	}
}
