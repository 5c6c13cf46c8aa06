package event

import (
	"strings"
	"testing"
	"time"
)

// Records without a usable event time say why, and never yield a time that
// overflows Unix nanoseconds (issue 9, item 6: they came out as 1754-08-30).
func TestEventTime(t *testing.T) {
	const ct = `"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"x"`
	for _, tt := range []struct {
		name, rec string
		want      string // RFC 3339, or "" when unusable
		err       string
	}{
		{"eventTime", `{` + ct + `,"eventTime":"2024-01-02T03:04:05Z"}`, "2024-01-02T03:04:05Z", ""},
		{"offset to UTC", `{` + ct + `,"eventTime":"2024-01-02T05:04:05.5+02:00"}`, "2024-01-02T03:04:05.5Z", ""},
		{"1900 is in range", `{` + ct + `,"eventTime":"1900-01-01T00:00:00Z"}`, "1900-01-01T00:00:00Z", ""},
		{"2199 is in range", `{` + ct + `,"eventTime":"2199-12-31T23:59:59Z"}`, "2199-12-31T23:59:59Z", ""},
		{"1969 is in range", `{` + ct + `,"eventTime":"1969-12-31T23:59:59Z"}`, "1969-12-31T23:59:59Z", ""},
		{"1899 is not", `{` + ct + `,"eventTime":"1899-12-31T23:59:59Z"}`, "", "out of range (years 1900-2199)"},
		{"2200 is not", `{` + ct + `,"eventTime":"2200-01-01T00:00:00Z"}`, "", "out of range (years 1900-2199)"},
		{"1677: UnixNano holds it, a rule's window from it would not", `{` + ct + `,"eventTime":"1677-09-21T00:12:44Z"}`, "", "out of range"},
		{"missing", `{` + ct + `}`, "", "eventTime missing"},
		{"invalid", `{` + ct + `,"eventTime":"yesterday"}`, "", `eventTime "yesterday" is not an RFC 3339 time`},
		{"numeric", `{` + ct + `,"eventTime":1704164645}`, "", "eventTime 1704164645 is not an RFC 3339 time"},
		{"null", `{` + ct + `,"eventTime":null}`, "", "eventTime null is not an RFC 3339 time"},
		{"year 0001", `{` + ct + `,"eventTime":"0001-01-01T00:00:00Z"}`, "", "out of range"},
		{"year 9999", `{` + ct + `,"eventTime":"9999-12-31T23:59:59Z"}`, "", "out of range"},
		{"just past UnixNano", `{` + ct + `,"eventTime":"2262-04-12T00:00:00Z"}`, "", "out of range"},
		// Logstash-shipped records carry @timestamp (OTRF's data sets)
		{"@timestamp without eventTime", `{` + ct + `,"@timestamp":"2024-01-02T03:04:05.123Z"}`, "2024-01-02T03:04:05.123Z", ""},
		{"eventTime wins over @timestamp", `{` + ct + `,"eventTime":"2024-01-02T03:04:05Z","@timestamp":"2025-01-01T00:00:00Z"}`, "2024-01-02T03:04:05Z", ""},
		{"invalid eventTime, no fallback", `{` + ct + `,"eventTime":"x","@timestamp":"2025-01-01T00:00:00Z"}`, "", `eventTime "x"`},
		{"bad @timestamp", `{` + ct + `,"@timestamp":"0001-01-01T00:00:00Z"}`, "", "eventTime missing, @timestamp"},
		{"ECS", `{"@timestamp":"2024-01-02T03:04:05Z","event":{"provider":"s3.amazonaws.com","action":"GetObject"}}`, "2024-01-02T03:04:05Z", ""},
		{"ECS missing", `{"event":{"provider":"s3.amazonaws.com","action":"GetObject"}}`, "", "@timestamp missing"},
		{"ECS numeric", `{"@timestamp":17,"event":{"provider":"s3.amazonaws.com","action":"GetObject"}}`, "", "@timestamp 17 is not"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			ev, err := p.Parse([]byte(tt.rec))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ev.EventTime()
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !got.IsZero() || !ev.Time().IsZero() {
					t.Errorf("EventTime = %v, %v; want no time and an error with %q", got, err, tt.err)
				}
				return
			}
			want, _ := time.Parse(time.RFC3339Nano, tt.want)
			if err != nil || !got.Equal(want) || got.Location() != time.UTC || !ev.Time().Equal(want) {
				t.Errorf("EventTime = %v, %v; want %v", got, err, want)
			}
		})
	}
}

// parseZulu reads CloudTrail's form of time as time.Parse does, and leaves
// every other form, and values out of range, to it.
func TestParseZulu(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"2023-12-07T11:57:50Z", true}, {"1970-01-01T00:00:00Z", true}, {"0001-01-01T00:00:00Z", true},
		{"9999-12-31T23:59:59Z", true}, {"2000-02-29T12:00:00Z", true}, {"2024-02-29T00:00:00Z", true},
		{"1969-12-31T23:59:59Z", true}, {"1600-03-01T00:00:00Z", true}, {"2023-01-31T00:00:00Z", true},
		{"0000-01-01T00:00:00Z", false}, {"1900-02-29T00:00:00Z", false}, {"2023-02-29T00:00:00Z", false},
		{"2023-04-31T00:00:00Z", false}, {"2023-13-01T00:00:00Z", false}, {"2023-00-01T00:00:00Z", false},
		{"2023-01-00T00:00:00Z", false}, {"2023-01-01T24:00:00Z", false}, {"2023-01-01T00:60:00Z", false},
		{"2023-01-01T00:00:60Z", false}, {"2023-01-01T00:00:00.5Z", false}, {"2023-01-01T00:00:00+00:00", false},
		{"2023-01-01t00:00:00Z", false}, {"2023-01-01T00:00:00z", false}, {"2023-1-01T00:00:00Z", false},
		{"2023-01-01T0a:00:00Z", false}, {"2023-01-01T00:00:/0Z", false}, {"+023-01-01T00:00:00Z", false}, {"", false},
	} {
		got, ok := parseZulu(tc.s)
		if ok != tc.ok {
			t.Errorf("parseZulu(%q) ok = %v, want %v", tc.s, ok, tc.ok)
			continue
		}
		if want, err := time.Parse(time.RFC3339Nano, tc.s); ok && (err != nil || got != want.UTC()) {
			t.Errorf("parseZulu(%q) = %v, time.Parse %v, %v", tc.s, got, want, err)
		}
	}
}

// FuzzParseZulu: what parseZulu reads, time.Parse reads to the same time
// (the same value: ==); and it reads every time.Parse accepts in
// CloudTrail's form but year 0.
func FuzzParseZulu(f *testing.F) {
	for _, s := range []string{"2023-12-07T11:57:50Z", "2000-02-29T23:59:59Z", "0000-01-01T00:00:00Z", "2023-01-01T00:00:60Z", "2023-01-01T00:00:00.000Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseZulu(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		switch {
		case ok && (err != nil || got != want.UTC()):
			t.Fatalf("parseZulu(%q) = %v, time.Parse %v, %v", s, got, want, err)
		case !ok && err == nil && len(s) == 20 && s[19] == 'Z' && s[10] == 'T' && !strings.HasPrefix(s, "0000"):
			t.Fatalf("parseZulu(%q) leaves %v to time.Parse", s, want)
		}
	})
}
