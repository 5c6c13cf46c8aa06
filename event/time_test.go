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
		{"1700 is in range", `{` + ct + `,"eventTime":"1700-01-01T00:00:00Z"}`, "1700-01-01T00:00:00Z", ""},
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
