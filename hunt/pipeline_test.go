package hunt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/detect"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/state"
	"github.com/trailhound/trailhound/synth"
)

// One input whose name says nothing streams when its records are in time
// order, and is decided when it ends when they are not; either way, with
// one worker or two (the second matching chunks the first gives it), the alerts are those of
// deciding everything at the end, and none is late.
func TestUnnamedInputOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 64 MB and hunts it six times; not in -short")
	}
	eng := builtinEngine(t)
	recs, err := synth.Load([]string{"../testdata/samples"})
	if err != nil {
		t.Fatal(err)
	}
	gen := t.TempDir()
	if _, err := synth.Generate(context.Background(), recs, synth.Options{Size: 64 << 20, OutDir: gen, Ordered: true}); err != nil {
		t.Fatal(err)
	}
	timed := readTimed(t, gen)
	slices.SortStableFunc(timed, func(a, b timedRecord) int { return a.t.Compare(b.t) })
	if len(timed) < 3*progressEvery {
		t.Fatalf("only %d records; want several progress points", len(timed))
	}
	write := func(name string, rs []timedRecord) string {
		var b []byte
		for _, r := range rs {
			b = append(append(b, r.data...), '\n')
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ordered := write("export.jsonl", timed)
	shuffled := slices.Clone(timed)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	unordered := write("shuffled.jsonl", shuffled)

	ids := func(as []alert.Alert) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name      string
		path      string
		unordered int
	}{{"ordered", ordered, 0}, {"shuffled", unordered, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			whole, err := Run(context.Background(), eng, Options{Paths: []string{tc.path}, Lateness: 1_000_000 * time.Hour, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			want := ids(whole.Alerts)
			if len(want) == 0 {
				t.Fatal("no alerts")
			}
			for _, w := range []int{1, 2} {
				var got []alert.Alert
				batches := 0
				res, err := Run(context.Background(), eng, Options{Paths: []string{tc.path}, Workers: w,
					Emit: func(as []alert.Alert) error { got = append(got, as...); batches++; return nil }})
				if err != nil {
					t.Fatal(err)
				}
				if res.Summary.Unordered != tc.unordered || res.Summary.Late != 0 {
					t.Errorf("-w %d: %d unordered inputs, %d late matches; want %d and 0", w, res.Summary.Unordered, res.Summary.Late, tc.unordered)
				}
				if tc.unordered == 0 && batches < 2 {
					t.Errorf("-w %d: alerts came in %d batch(es); an ordered input should stream", w, batches)
				}
				if g := ids(got); !slices.Equal(g, want) {
					t.Errorf("-w %d: %d alerts, deciding at the end %d", w, len(g), len(want))
				}
			}
		})
	}
}

// TestBatchesReused reads many small inputs one after another and checks
// that their batches come back from the pool: a batch is 256 KB, and a
// hunt over 200,000 delivery files once allocated (and cleared) one per
// file, because the batch opened after an input's last one was never
// returned.
func TestBatchesReused(t *testing.T) {
	if raceEnabled {
		t.Skip("under the race detector sync.Pool drops some of what is put back, on purpose")
	}
	path := filepath.Join(t.TempDir(), "one.json")
	rec := `{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e1"}`
	if err := os.WriteFile(path, []byte(`{"Records":[`+rec+","+rec+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var finished int
	pl := &pipeline{ctx: context.Background(), maxRecord: 1 << 20, prog: &Progress{},
		inputErr: func(e InputError) { t.Errorf("input error: %v", e.Err) },
		finished: func(*inputRun) { finished++ }}
	var batches int
	read := func() {
		in := &inputRun{path: path, src: record.Input{Path: path}}
		pl.read(in, nil, func() bool { return true }, func(b *batch) {
			batches++
			recycle(b)
			pl.done(in)
		})
	}
	read() // the pool's first batch
	const n = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		read()
	}
	runtime.ReadMemStats(&after)
	if finished != n+1 || batches != n+1 {
		t.Fatalf("%d inputs finished and %d batches matched, want %d each", finished, batches, n+1)
	}
	// A GC may empty the pool once or twice; a batch per input is n of them.
	if got := after.TotalAlloc - before.TotalAlloc; got > n*batchBytes/5 {
		t.Errorf("%d inputs allocated %d KB: %.1f batches of %d KB each", n, got>>10, float64(got)/batchBytes, batchBytes>>10)
	}
}

// TestReadHandsOffChunks reads one input whose chunks alternate between
// being matched in line and being given to another worker: every record is
// counted once, a given batch holds its chunk's records (with their lines),
// and the input finishes only once the given batches are matched too.
func TestReadHandsOffChunks(t *testing.T) {
	eng := builtinEngine(t)
	proc, err := detect.New(eng.Rules(), state.NewMemory(), detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*batchRecords + 7
	var data []byte
	for i := range n {
		data = fmt.Appendf(data, `{"eventVersion":"1.08","eventTime":"2024-01-01T00:%02d:%02dZ","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e%d"}`+"\n", i/60%60, i%60, i)
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	finished := 0
	pl := &pipeline{ctx: context.Background(), eng: eng, maxRecord: 1 << 20, prog: &Progress{}, lateness: int64(DefaultLateness),
		inputErr: func(e InputError) { t.Errorf("input error: %v", e) },
		progress: func(*inputRun, int64) {},
		finished: func(*inputRun) { finished++ }}
	m := &matcher{s: engine.NewScratch(), col: proc.NewCollector()}
	in := &inputRun{path: path, src: record.Input{Path: path}}
	chunk := 0
	var given []*batch
	pl.read(in, m, func() bool { chunk++; return chunk%2 == 0 }, func(b *batch) { given = append(given, b) })
	if finished != 0 {
		t.Fatalf("the input finished with %d chunks given away not matched yet", len(given))
	}
	if chunk != 4 || len(given) != 2 {
		t.Fatalf("%d chunks, %d given; want 4 and 2", chunk, len(given))
	}
	for k, b := range given {
		seq := 2*k + 1
		want := min(batchRecords, n-seq*batchRecords)
		if b.seq != seq || len(b.recs) != want || b.recs[0].line != seq*batchRecords+1 {
			t.Errorf("given batch %d: seq %d, %d records from line %d; want seq %d, %d records from line %d",
				k, b.seq, len(b.recs), b.recs[0].line, seq, want, seq*batchRecords+1)
		}
	}
	for _, b := range given {
		pl.match(m, b)
	}
	if finished != 1 || pl.prog.Records.Load() != n || pl.records.Load() != n || in.next != 4 {
		t.Errorf("finished %d times, %d records counted, %d evaluated, %d chunks in order; want 1, %d, %d, 4",
			finished, pl.prog.Records.Load(), pl.records.Load(), in.next, n, n)
	}
}
