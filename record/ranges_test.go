package record

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rangesOf writes data to a file and opens it by ranges of chunk bytes.
func rangesOf(t *testing.T, data string, chunk int64) *Ranges {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	rr := OpenRanges(path, chunk, MinRanges)
	if rr == nil {
		t.Fatal("not opened by ranges")
	}
	t.Cleanup(func() { rr.Close() })
	return rr
}

// A speculative scan reads at most a range past its end, and gives up
// after speculativeErrors errors: a guess inside an array, followed by
// lines the true scan skips at once, saw an error on every line to the end
// of the file from every range (quadratic: 7 s for 6 MB).
func TestSpeculativeScanBounded(t *testing.T) {
	const rec = `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"a"}`
	const chunk = 4 << 10
	for _, tc := range []struct{ name, tail string }{
		{"values that are no records", strings.Repeat("7\n", 64<<10)},
		{"long lines of them", strings.Repeat(strings.Repeat("7", 8<<10)+"\n", 32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr := rangesOf(t, "[\n"+rec+",\n"+rec+"]\n"+tc.tail, chunk)
			for k := 1; k < rr.Len(); k++ {
				from, to, err := rr.Bounds(k)
				if err != nil || from >= to {
					continue
				}
				errs := 0
				s := rr.Scan(context.Background(), rr.Guess(from), to, true, 0, func(Record) bool { return true }, func(*PosError) { errs++ })
				if limit := to - from + chunk + pastEnd; s.Read > limit {
					t.Errorf("range %d (%d bytes): read %d bytes, more than %d", k, to-from, s.Read, limit)
				}
				if errs > speculativeErrors {
					t.Errorf("range %d: %d errors kept", k, errs)
				}
			}
		})
	}
}

// Guesses take the level of the latest start told: a file whose records
// are first in an array, then on lines of their own, is guessed at the
// array's level only until a range says otherwise.
func TestGuessLearnsLevel(t *testing.T) {
	rec := `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"a"}` + "\n"
	rr := rangesOf(t, "[\n"+strings.TrimSuffix(strings.Repeat(rec[:len(rec)-1]+",\n", 10), ",\n")+"]\n"+strings.Repeat(rec, 100), 1<<10)
	if g := rr.Guess(0).Level; g != InArray {
		t.Fatalf("first guess at level %d, want InArray", g)
	}
	if rr.Known(2) {
		t.Fatal("range 2 known before it was told")
	}
	rr.Tell(2, RangeStart{At: Place{Offset: 2000, Line: 30, Level: Top}})
	if !rr.Known(2) || rr.Guess(3000).Level != Top {
		t.Errorf("after a start at the top level: known %v, guess at level %d", rr.Known(2), rr.Guess(3000).Level)
	}
	rr.Tell(3, RangeStart{Stop: true}) // a stop says nothing about levels
	if rr.Guess(3000).Level != Top {
		t.Error("a stop changed the guess")
	}
}
