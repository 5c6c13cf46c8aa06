package detect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/trailhound/trailhound/alert"
)

// sortCandidates is a stable sort by compareCandidates: candidates that
// compare equal keep their order (told apart here by step).
func TestSortCandidatesStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 20, 21, 100, 1000} {
		cands := make([]candidate, n)
		for i := range cands {
			c := candidate{t: int64(rng.IntN(5)), step: i}
			switch rng.IntN(3) {
			case 0:
				c.alert = &alert.Alert{ID: fmt.Sprint(rng.IntN(3))}
			case 1:
				c.src = &source{ev: alert.Event{File: fmt.Sprint(rng.IntN(2)), Offset: int64(rng.IntN(2))}}
			}
			cands[i] = c
		}
		want := slices.Clone(cands)
		slices.SortStableFunc(want, func(a, b candidate) int { return compareCandidates(&a, &b) })
		sortCandidates(cands)
		for i := range cands {
			if cands[i].step != want[i].step {
				t.Fatalf("n=%d: position %d holds candidate %d, a stable sort puts %d there", n, i, cands[i].step, want[i].step)
			}
		}
	}
}

// sortByTime is the stable sort by time the correlations did with
// sort.SliceStable: candidates at one time keep their order (told apart
// here by step), whether the input is in order or not.
func TestSortByTimeAsSliceStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 200 {
		times := make([]byte, n%70)
		for i := range times {
			times[i] = byte(rng.IntN(256))
		}
		checkSortByTime(t, times)
	}
}

func FuzzSortByTime(f *testing.F) {
	f.Add([]byte{3, 1, 2, 1, 3, 0})
	f.Add([]byte{0, 0, 1, 1, 2})
	f.Fuzz(checkSortByTime)
}

// checkSortByTime sorts candidates at the times given (few distinct ones;
// at most 4096: a candidate is large).
func checkSortByTime(t *testing.T, times []byte) {
	times = times[:min(len(times), 4096)]
	cands := make([]candidate, len(times))
	for i, b := range times {
		cands[i] = candidate{t: int64(b % 7), step: i}
	}
	want := slices.Clone(cands)
	sort.SliceStable(want, func(a, b int) bool { return want[a].t < want[b].t })
	sortByTime(cands)
	for i := range cands {
		if cands[i].step != want[i].step {
			t.Fatalf("%v: position %d holds candidate %d, sort.SliceStable puts %d there", times, i, cands[i].step, want[i].step)
		}
	}
}
