package sigma

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/rule"
)

// Sigma 1 aggregations become the v2 correlations they mean, reading hidden
// rules made of their searches; those without an equivalent stay unsupported
// with the reason.
func TestLegacyAggregations(t *testing.T) {
	const head = "title: Legacy\nid: L1\nstatus: test\nlevel: medium\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n" +
		"  a: {eventName: DescribeInstanceAttribute}\n  b: {eventName: StopInstances}\n  c: {eventName: StartInstances}\n"
	tests := []struct {
		detection string
		want      rule.Correlation // Rules compared as a count, Legacy as the condition
		rules     int
		err       string
	}{
		{"  timeframe: 30m\n  condition: a | count() > 10\n", rule.Correlation{Type: "event_count", Timespan: 30 * time.Minute, Op: "gt", Value: 10}, 1, ""},
		{"  timeframe: 10m\n  condition: a | count() by sourceIPAddress >= 5\n", rule.Correlation{Type: "event_count", Timespan: 10 * time.Minute, Op: "gte", Value: 5, GroupBy: []string{"sourceIPAddress"}}, 1, ""},
		{"  timeframe: 1h\n  condition: a | count(requestParameters.instanceId) by userIdentity.arn > 3\n", rule.Correlation{Type: "value_count", Timespan: time.Hour, Op: "gt", Value: 3, Field: "requestParameters.instanceId", GroupBy: []string{"userIdentity.arn"}}, 1, ""},
		{"  timeframe: 5m\n  condition: a | count() < 2\n", rule.Correlation{Type: "event_count", Timespan: 5 * time.Minute, Op: "lt", Value: 2}, 1, ""},
		{"  timeframe: 15m\n  condition: b | near a and c\n", rule.Correlation{Type: "temporal", Timespan: 15 * time.Minute}, 3, ""},
		{"  timeframe: 15m\n  condition: b near c\n", rule.Correlation{Type: "temporal", Timespan: 15 * time.Minute}, 2, ""},
		{"  condition: a | count() > 10\n", rule.Correlation{}, 0, "without timeframe"},
		{"  timeframe: 5m\n  condition: a | max(x) > 10\n", rule.Correlation{}, 0, "only count()"},
		{"  timeframe: 5m\n  condition: b | near a and not c\n", rule.Correlation{}, 0, "absence"},
		{"  timeframe: 5m\n  condition: a and b\n", rule.Correlation{}, 0, "without an aggregation"},
	}
	for _, tt := range tests {
		rs, err := Parse("l.yml", []byte(head+tt.detection), Options{})
		if err != nil {
			t.Fatalf("%q: %v", tt.detection, err)
		}
		r := rs[0]
		if tt.err != "" {
			if r.Runnable() || !strings.Contains(r.Unsupported, tt.err) || len(rs) != 1 {
				t.Errorf("%q: unsupported %q, want %q", tt.detection, r.Unsupported, tt.err)
			}
			continue
		}
		c := r.Correlation
		if c == nil || !r.Runnable() || r.ID != "L1" || r.Type != "sigma_correlation" {
			t.Fatalf("%q: not a runnable correlation: %+v (%s)", tt.detection, r, r.Unsupported)
		}
		if c.Type != tt.want.Type || c.Timespan != tt.want.Timespan || c.Op != tt.want.Op || c.Value != tt.want.Value ||
			c.Field != tt.want.Field || strings.Join(c.GroupBy, ",") != strings.Join(tt.want.GroupBy, ",") ||
			len(c.Rules) != tt.rules || len(rs) != 1+tt.rules || c.Generate || c.Legacy == "" {
			t.Errorf("%q: correlation %+v, want %+v with %d rules", tt.detection, *c, tt.want, tt.rules)
		}
		for i, h := range rs[1:] {
			if h.ID != c.Rules[i] || h.Cond == nil || !h.Runnable() || h.Correlation != nil {
				t.Errorf("%q: hidden rule %d: %+v", tt.detection, i, h)
			}
		}
	}
}
