package event

import (
	"errors"
	"fmt"
	"testing"
)

// Every raw object whose leaves are read from the record has its place in
// the per-event size cache (flatIndex panics otherwise, when a rule's
// getter is built).
func TestFlatObjectsCovered(t *testing.T) {
	var raws []string
	for _, raw := range flattenedRaw {
		raws = append(raws, raw)
	}
	for _, keys := range fromFlattened {
		raws = append(raws, keys[0])
	}
	for _, raw := range raws {
		if i := flatIndex(raw); flatObjects[i] != raw {
			t.Errorf("flatIndex(%q) = %d (%q)", raw, i, flatObjects[i])
		}
	}
}

// Parse refuses a record that is not UTF-8, naming its first bad byte;
// ParseUTF8, for records the scanner validated, parses the same records
// to the same events.
func TestParseUTF8(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		bad        int // the first bad byte (-1: UTF-8)
	}{
		{"ascii", `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2026-01-02T03:04:05Z"}`, -1},
		{"multi-byte", `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"é☃😀"}`, -1},
		{"0xff", "{\"eventSource\":\"s3\",\"eventName\":\"x\xff\"}", 34},
		{"cut sequence", "{\"eventSource\":\"s3\",\"eventName\":\"\xe2\x98\"}", 33},
		{"surrogate", "{\"eventSource\":\"\xed\xa0\x80\",\"eventName\":\"x\"}", 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p, q Parser
			ev, err := p.Parse([]byte(tc.data))
			if tc.bad >= 0 {
				want := fmt.Sprintf("invalid UTF-8 at byte %d of the record", tc.bad)
				if !errors.Is(err, ErrInvalidUTF8) || err.Error() != want {
					t.Fatalf("Parse error %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ev2, err := q.ParseUTF8([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != ev2.Kind || ev.Provider() != ev2.Provider() || ev.Action() != ev2.Action() ||
				string(ev.ECS().MarshalTo(nil)) != string(ev2.ECS().MarshalTo(nil)) {
				t.Errorf("Parse and ParseUTF8 differ: %v %q %q, %v %q %q", ev.Kind, ev.Provider(), ev.Action(), ev2.Kind, ev2.Provider(), ev2.Action())
			}
		})
	}
}
