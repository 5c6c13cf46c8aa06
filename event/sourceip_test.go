package event

import "testing"

// source.ip is sourceIPAddress when it is an address, in canonical form;
// nothing for host names and zoned addresses.
func TestSourceIP(t *testing.T) {
	get := resolve("source.ip")
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:DB8:0::1", "2001:db8::1"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"fe80::1%eth0", ""},
		{"AWS Internal", ""},
		{"s3.amazonaws.com", ""},
		{"1.example.com", ""},
		{"192.0.2.300", ""},
		{"", ""},
	} {
		var p Parser
		ev, err := p.Parse([]byte(`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"` + tt.in + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, v := range get(ev, nil) {
			got += v.S
		}
		if got != tt.want {
			t.Errorf("sourceIPAddress %q: source.ip %q, want %q", tt.in, got, tt.want)
		}
	}
}
