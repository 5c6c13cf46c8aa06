package hunt

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/detect"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
	"github.com/trailhound/trailhound/synth"
)

// lateness is how far out of order the stream tests deliver records.
const lateness = 20 * time.Minute

// timedRecord is a record of the corpus with its place and event time.
type timedRecord struct {
	path   string
	line   int
	offset int64
	data   []byte
	t      time.Time // zero when the record has none
}

// readTimed reads every CloudTrail/ECS record under dir, as a hunt does.
func readTimed(t *testing.T, dir string) []timedRecord {
	t.Helper()
	var out []timedRecord
	var p event.Parser
	for _, in := range record.Walk([]string{dir}).Inputs {
		rc, err := record.OpenContext(context.Background(), in.Path, nil)
		if err != nil {
			continue
		}
		record.ForEach(rc, 0, func(rec record.Record) error {
			ev, err := p.Parse(rec.Data)
			if err != nil || (ev.Kind != event.KindCloudTrail && ev.Kind != event.KindECS) {
				return nil
			}
			out = append(out, timedRecord{path: in.Path, line: rec.Line, offset: rec.Offset, data: bytes.Clone(rec.Data), t: ev.Time()})
			return nil
		}, func(*record.PosError) {})
		rc.Close()
	}
	return out
}

// streamHunt feeds records, in the order given, to a processor through
// two collectors, advancing after each chunk to the chunk's latest event
// time minus the lateness; it returns every alert and the statistics.
func streamHunt(t *testing.T, eng *engine.Engine, recs []timedRecord, chunks int) ([]alert.Alert, map[string]detect.RuleStats) {
	t.Helper()
	proc, err := detect.New(eng.Rules(), state.NewMemory(), detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cols := []*detect.Collector{proc.NewCollector(), proc.NewCollector()}
	s := engine.NewScratch()
	var p event.Parser
	var all []alert.Alert
	size := (len(recs) + chunks - 1) / chunks
	var latest time.Time
	for k, rec := range recs {
		ev, err := p.Parse(rec.data)
		if err != nil {
			t.Fatal(err)
		}
		ev.File, ev.Line, ev.Offset = rec.path, rec.line, rec.offset
		if _, err := ev.EventTime(); err != nil {
			ft := fileTime(record.Input{Path: rec.path})
			ev.FileTime, ev.FileTimeFrom = ft.t, ft.from
		}
		col := cols[k%len(cols)]
		eng.Match(ev, s, func(r *rule.Rule) { col.Add(r, ev) })
		if rec.t.After(latest) {
			latest = rec.t
		}
		if (k+1)%size == 0 && k+1 < len(recs) {
			as, err := proc.Advance(latest.Add(-lateness))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, as...)
		}
	}
	rest, stats, err := proc.Finish()
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, rest...)
	alert.Sort(all)
	return all, stats
}

// TestStreamEqualsBatch runs the Elastic and Sigma corpora over the real
// logs as one batch hunt and as a stream: records in time order, in
// chunks with a watermark after each, and shuffled within the lateness.
// The alerts (ids and JSON bytes) and the statistics must be the same.
func TestStreamEqualsBatch(t *testing.T) {
	eng, logsDir := elasticSigmaEngine(t)
	batch, err := Run(context.Background(), eng, Options{Paths: []string{logsDir}, Lateness: math.MaxInt64} /* nothing decided before the end: the batch */)
	if err != nil {
		t.Fatal(err)
	}
	want := alertJSON(t, batch.Alerts)
	recs := readTimed(t, logsDir)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].t.Before(recs[j].t) })
	// shuffled: each record arrives up to the lateness after its time
	rnd := rand.New(rand.NewSource(1))
	arrival := make([]time.Time, len(recs))
	order := make([]int, len(recs))
	for i := range recs {
		arrival[i], order[i] = recs[i].t.Add(time.Duration(rnd.Int63n(int64(lateness)))), i
	}
	sort.SliceStable(order, func(i, j int) bool { return arrival[order[i]].Before(arrival[order[j]]) })
	shuffled := make([]timedRecord, len(recs))
	for i, k := range order {
		shuffled[i] = recs[k]
	}
	for _, tc := range []struct {
		name   string
		recs   []timedRecord
		chunks int
	}{
		{"one chunk", recs, 1},
		{"8 chunks in time order", recs, 8},
		{"50 chunks in time order", recs, 50},
		{"50 chunks shuffled within the lateness", shuffled, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alerts, stats := streamHunt(t, eng, tc.recs, tc.chunks)
			got := alertJSON(t, alerts)
			if len(got) != len(want) {
				t.Errorf("%d alerts, batch %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if !bytes.Equal(got[i], want[i]) {
					at := 0
					for at < min(len(got[i]), len(want[i])) && got[i][at] == want[i][at] {
						at++
					}
					from := max(0, at-200)
					t.Fatalf("alert %d differs at byte %d:\nstream %.400s\nbatch  %.400s", i, at, got[i][from:], want[i][from:])
				}
			}
			late := 0
			for id, rs := range stats {
				late += rs.Late
				rs.Late = 0
				if rs != batch.Summary.Rules[id] {
					t.Errorf("rule %s: stream %+v, batch %+v", id, rs, batch.Summary.Rules[id])
				}
			}
			if len(stats) != len(batch.Summary.Rules) {
				t.Errorf("stats of %d rules, batch %d", len(stats), len(batch.Summary.Rules))
			}
			if late != 0 {
				t.Errorf("%d late matches, want none (the shuffle stays within the lateness)", late)
			}
		})
	}
}

// alertJSON is each alert's JSON, in order.
func alertJSON(t *testing.T, as []alert.Alert) [][]byte {
	t.Helper()
	out := make([][]byte, len(as))
	for i := range as {
		b, err := json.Marshal(&as[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestConsecutiveHunts splits time-ordered input into 5 consecutive hunts
// that share a state file, and compares their alerts with one hunt over it
// all. Rules that judge one event, and new_terms (whose history is in the
// state), give the same alert ids. Rules that decide over a window of time
// (threshold, ES|QL aggregations, sequences, correlations) may differ where
// a window spans the split: each hunt ends by deciding its last, partial
// windows, as Elastic's scheduler would have at that moment; the state only
// keeps a hunt from counting the same events twice, so the next hunt does
// not see the whole window either. The differences are logged per rule.
func TestConsecutiveHunts(t *testing.T) {
	if testing.Short() {
		t.Skip("hunts the whole corpus; run without -short (CI does, before the race pass)")
	}
	eng, logsDir := elasticSigmaEngine(t)
	recs, err := synth.Load([]string{logsDir})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gen, err := synth.Generate(context.Background(), recs, synth.Options{Size: 24 << 20, OutDir: dir, Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	type kinded map[string]string // alert id -> rule type
	ids := func(res *Result, into kinded) {
		for _, a := range res.Alerts {
			into[a.ID] = a.Rule.Type
		}
	}
	one := kinded{}
	res, err := Run(context.Background(), eng, Options{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	ids(res, one)

	files := gen.Files // in time order
	split := kinded{}
	store, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for k := range 5 {
		part := files[k*len(files)/5 : (k+1)*len(files)/5]
		res, err := Run(context.Background(), eng, Options{Paths: part, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Commit(); err != nil {
			t.Fatal(err)
		}
		ids(res, split)
	}
	diff := map[string][2]int{} // rule type -> only in one hunt, only in the five
	for id, typ := range one {
		if _, ok := split[id]; !ok {
			d := diff[typ]
			d[0]++
			diff[typ] = d
		}
	}
	for id, typ := range split {
		if _, ok := one[id]; !ok {
			d := diff[typ]
			d[1]++
			diff[typ] = d
		}
	}
	for typ, d := range diff {
		switch typ {
		case "query", "sigma", "new_terms":
			t.Errorf("%s: %d alerts only in one hunt, %d only in five consecutive ones", typ, d[0], d[1])
		default:
			t.Logf("%s (windows may span the split): %d alerts only in one hunt, %d only in five", typ, d[0], d[1])
		}
	}
	t.Logf("one hunt: %d alerts; five consecutive hunts: %d", len(one), len(split))
}
