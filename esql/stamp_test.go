package esql

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/trailhound/trailhound/event"
)

// slowStamp is what a row reads for @timestamp without eventStamp: the
// event's getter's text, parsed back.
func slowStamp(ev *event.Event) Value {
	return fieldValue(true, event.ViewIndexed("@timestamp")(ev))
}

// checkStamp fails unless eventStamp gives, when it gives anything, the
// value the getter's text gives; it returns whether it gave one.
func checkStamp(t *testing.T, p *event.Parser, rec string) bool {
	t.Helper()
	ev, err := p.Parse([]byte(rec))
	if err != nil {
		return false
	}
	got, ok := eventStamp(ev)
	if !ok {
		return false
	}
	want := slowStamp(ev)
	if w, isTime := want.(time.Time); !isTime || w != got {
		t.Errorf("%s: eventStamp %v (%s), the getter's text %#v", rec, got, got.Location(), want)
	}
	return true
}

func TestEventStamp(t *testing.T) {
	const ct = `{"eventSource":"s3.amazonaws.com","eventName":"GetObject",`
	for _, tc := range []struct {
		name string
		rec  string
		ok   bool // eventStamp decides it (else the getter does)
	}{
		{"milliseconds", ct + `"eventTime":"2026-11-01T10:00:00.123Z"}`, true},
		{"seconds", ct + `"eventTime":"2026-11-01T10:00:00Z"}`, true},
		{"nanoseconds truncated", ct + `"eventTime":"2026-11-01T10:00:00.123999999Z"}`, true},
		{"offset", ct + `"eventTime":"2026-11-01T23:59:59.9996+05:30"}`, true},
		{"before 1970", ct + `"eventTime":"1969-12-31T23:59:59.9999Z"}`, true},
		{"oldest", ct + `"eventTime":"1900-01-01T00:00:00.5Z"}`, true},
		{"before 1900", ct + `"eventTime":"1899-12-31T23:59:59Z"}`, false},
		{"nanoseconds hold it, the windows would not", ct + `"eventTime":"1677-09-21T00:12:44Z"}`, false},
		{"out of range", ct + `"eventTime":"0001-01-01T00:00:00Z"}`, false},
		{"not a time", ct + `"eventTime":"yesterday"}`, false},
		{"a number", ct + `"eventTime":1700000000}`, false},
		{"null", ct + `"eventTime":null}`, false},
		{"only @timestamp", ct + `"@timestamp":"2026-11-01T10:00:00.123Z"}`, false},
		{"future", ct + `"eventTime":"2027-11-01T10:00:00.123Z"}`, false},
		{"ECS document", `{"@timestamp":"2026-11-01T10:00:00.123Z","event":{"provider":"s3.amazonaws.com"}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := event.Parser{NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
			if got := checkStamp(t, &p, tc.rec); got != tc.ok {
				t.Errorf("eventStamp ok = %v, want %v", got, tc.ok)
			}
		})
	}
}

// FuzzEventStamp holds eventStamp to the getter's text for any eventTime.
func FuzzEventStamp(f *testing.F) {
	for _, s := range []string{"2026-11-01T10:00:00.123Z", "2026-11-01T10:00:00Z", "2026-11-01T10:00:00.1234567-07:00", "1700-02-29T00:00:00Z", "2262-04-11T23:47:16.854775807Z", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		text, _ := json.Marshal(s) // a string always encodes
		var p event.Parser
		checkStamp(t, &p, `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":`+string(text)+`}`)
	})
}
