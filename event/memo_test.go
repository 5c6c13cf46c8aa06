package event

import (
	"fmt"
	"sync"
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

// A name is resolved to one view (and one memo slot) however many callers
// ask for it, at once too; its values are the field's.
func TestResolveViewOncePerName(t *testing.T) {
	names := []string{"test.once.a", "userIdentity.arn", "aws.cloudtrail.user_identity.arn", "source.ip"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for _, n := range names {
				ResolveView(n)
				Resolve(n)
			}
		})
	}
	wg.Wait()
	fieldSlotsMu.Lock()
	for _, n := range names {
		if fieldViews[n] == nil {
			t.Errorf("%s: no view kept", n)
		}
	}
	slots := len(fieldSlots)
	fieldSlotsMu.Unlock()
	var p Parser
	ev, err := p.Parse([]byte(`{"eventVersion":"1.08","eventSource":"s","eventName":"X","userIdentity":{"arn":"a"},"sourceIPAddress":"1.2.3.4"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names[1:] {
		if got, again := ResolveView(n)(ev), Resolve(n)(ev, nil); len(got) != 1 || fmt.Sprint(got) != fmt.Sprint(again) {
			t.Errorf("%s: %v, %v", n, got, again)
		}
	}
	fieldSlotsMu.Lock()
	defer fieldSlotsMu.Unlock()
	if len(fieldSlots) != slots {
		t.Errorf("asking again took %d more slots", len(fieldSlots)-slots)
	}
}
