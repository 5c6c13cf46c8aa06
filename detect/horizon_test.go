package detect

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/trailhound/trailhound/state"
)

// A live input acknowledges the batches whose events are all earlier than
// the horizon after each commit and holds the state for the earliest
// event of the others; after a crash at any commit, a new processor on the
// committed state, given every batch not acknowledged and the rest of the
// stream, raises with what was delivered before the crash exactly the
// alerts of the batch run (by id), for every detector kind: none lost and
// none extra. (A threshold with max_signals replayed from the start of the
// stream onto state committed mid-way once gave a run's budget, freed by
// the groups it had raised before the crash, to a group it had withheld.)
func TestReplayFromHorizon(t *testing.T) {
	evs := randomEvents(3, 400, 5*time.Hour)
	sorted := append([]ev(nil), evs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].at < sorted[j].at })
	var batches [][]ev // like delivery files: a few minutes each
	for i := 0; i < len(sorted); i += 7 {
		batches = append(batches, sorted[i:min(i+7, len(sorted))])
	}
	span := func(b []ev) (lo, hi time.Duration) {
		lo, hi = b[0].at, b[0].at
		for _, e := range b {
			lo, hi = min(lo, e.at), max(hi, e.at)
		}
		return lo, hi
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			eng := k.eng(t)
			want, _ := huntEngine(t, eng, state.NewMemory(), evs...)
			wantIDs := map[string]bool{}
			for _, a := range want {
				wantIDs[a.ID] = true
			}
			for _, crash := range []int{5, 17, 30, 44} {
				store := state.NewMemory()
				s := newStreamer(t, eng, store)
				got := map[string]bool{}
				acked := 0 // batches [0, acked) let go of (they are in order here)
				latest := time.Duration(math.MinInt64)
				for i, b := range batches {
					s.add(b...)
					_, hi := span(b)
					latest = max(latest, hi)
					lo, _ := span(batches[acked])
					s.p.Hold(t0.Add(lo))
					for _, a := range s.advance(latest - lateness) {
						got[a.ID] = true
					}
					if err := s.p.Commit(); err != nil {
						t.Fatal(err)
					}
					h := s.p.Horizon()
					for acked <= i {
						if _, hi := span(batches[acked]); !t0.Add(hi).Before(h) {
							break
						}
						acked++
					}
					if i == crash {
						break
					}
				}
				// the crash: what was not acknowledged comes again
				again := newStreamer(t, eng, store)
				for _, b := range batches[acked:] {
					again.add(b...)
				}
				rest, _ := again.finish()
				for _, a := range rest {
					got[a.ID] = true
				}
				var lost, extra []string
				for id := range wantIDs {
					if !got[id] {
						lost = append(lost, id)
					}
				}
				for id := range got {
					if !wantIDs[id] {
						extra = append(extra, id)
					}
				}
				if len(lost) > 0 || len(extra) > 0 {
					t.Errorf("crash after batch %d (%d of %d acknowledged): %d lost, %d extra of %d", crash, acked, len(batches), len(lost), len(extra), len(want))
				}
			}
		})
	}
}
