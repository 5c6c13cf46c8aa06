package serve

import (
	"strings"
	"testing"
)

func TestS3PollConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml, err string
	}{
		{"s3_poll:\n  url: s3://trail/logs\n  from: 2026-11-01\n  interval: 30s\n  settle: 20m\n", ""},
		{"s3_poll:\n  url: s3://trail\n", ""},
		{"s3_poll:\n  from: 2026-11-01\n", "s3_poll: url is needed"},
		{"s3_poll:\n  url: trail/logs\n", "not an s3:// URL"},
		{"s3_poll:\n  url: s3://trail\n  from: 1 Nov\n", "want YYYY-MM-DD"},
		{"s3_poll:\n  url: s3://trail\n  interval: -1s\n", "cannot be negative"},
		{"s3_poll:\n  url: s3://trail\n  prefix: x\n", "field prefix not found"},
	} {
		c, err := ParseConfig("serve.yaml", []byte(tc.yaml), env(nil))
		if tc.err == "" {
			if err != nil || c.S3Poll == nil {
				t.Errorf("%q: %v", tc.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.err)
		}
	}
}
