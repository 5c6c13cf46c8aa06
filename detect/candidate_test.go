package detect

import (
	"fmt"
	"math/rand/v2"
	"slices"
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
