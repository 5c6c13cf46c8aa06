package detect

import (
	"flag"
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

var benchRecords = flag.Int("bench-records", 1_000_000, "records BenchmarkRetained streams per rule kind")

// BenchmarkRetained streams records (one every 100ms of event time, users,
// addresses and secrets at random) through each kind's rules, advancing
// every 10,000 records to the latest event time minus the lateness, and
// reports the heap the processor retains after the last Advance
// (retained-B; by default after a million records). Bounded by the rules'
// windows and the lateness, it stays flat as the input grows: compare
// -bench-records 100000.
func BenchmarkRetained(b *testing.B) {
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			eng := k.eng(b)
			for range b.N {
				retained := streamRetained(b, eng, *benchRecords)
				b.ReportMetric(float64(retained), "retained-B")
			}
		})
	}
}

// streamRetained streams n records and returns the bytes of heap the
// processor holds afterwards.
func streamRetained(b *testing.B, eng *engine.Engine, n int) int64 {
	before := heap()
	p, err := New(eng.Rules(), state.NewMemory(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	c, s := p.NewCollector(), engine.NewScratch()
	rnd := rand.New(rand.NewSource(1))
	users := []string{"alice", "bob", "carol", "dave", "erin", "mallory"}
	names := []string{"GetSecretValue", "GetSecretValue", "GetSecretValue", "ListSecrets", "DeleteAccessKey"}
	var ps event.Parser
	for i := range n {
		at := time.Duration(i) * 100 * time.Millisecond
		e := ev{at: at, id: fmt.Sprint("e", i), user: users[rnd.Intn(len(users))], ip: fmt.Sprint("192.0.2.", rnd.Intn(8)),
			name: names[rnd.Intn(len(names))], param: fmt.Sprint("secret-", rnd.Intn(5))}
		x, err := ps.Parse([]byte(e.json()))
		if err != nil {
			b.Fatal(err)
		}
		eng.Match(x, s, func(r *rule.Rule) { c.Add(r, x) })
		if (i+1)%10_000 == 0 {
			if _, err := p.Advance(t0.Add(at - lateness)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := p.Advance(t0.Add(time.Duration(n)*100*time.Millisecond - lateness)); err != nil {
		b.Fatal(err)
	}
	after := heap()
	runtime.KeepAlive(p)
	runtime.KeepAlive(c)
	return after - before
}

func heap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
