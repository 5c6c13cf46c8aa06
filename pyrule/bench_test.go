package pyrule

import (
	"testing"

	"github.com/trailhound/trailhound/event"
)

// BenchmarkRoundTrip is one event through one Python rule that returns
// False: the fixed cost of an event that reaches Python.
func BenchmarkRoundTrip(b *testing.B) {
	if _, _, err := FindPython(""); err != nil {
		b.Skip(err)
	}
	t := &testing.T{}
	rules, rt := load(t, "testdata/checkout", Options{Workers: 1, CacheDir: b.TempDir()})
	defer rt.Close()
	pr := rt.byRule[byID(rules)["Test.KeyCreated"]]
	raw := []byte(rec("CreateAccessKey", 0, `,"errorCode":"AccessDenied","requestParameters":{"userName":"bob","tags":[{"key":"a","value":"b"}]}`))
	var p event.Parser
	b.ReportAllocs()
	for b.Loop() {
		ev, err := p.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		// straight to the worker: the prefilter keeps this event out, and
		// Go would decide it (rule() is exact)
		res, err := rt.call(header(ev, []*pyRule{pr}), ev.Raw, 1)
		if err != nil || len(res) != 1 || res[0].M || res[0].E != "" {
			b.Fatalf("result %+v, %v", res, err)
		}
	}
}
