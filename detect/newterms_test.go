package detect

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// newTermsRun feeds a new_terms rule (two term fields, a 3-day history)
// the events ops describes (from t0, or across the Unix epoch for ops of
// odd length), over two collectors and with watermarks passed
// between them, and returns its alerts, stats and saved state. Each op is
// three bytes: the user and source address (the term), the event's hour,
// and the collector; an op whose first byte is 0xff passes a watermark at
// its hour instead (events after it may be late).
func newTermsRun(t *testing.T, ops []byte) (string, map[string]RuleStats, *state.Rule) {
	t.Helper()
	r := mkRule(t, func(r *rule.Rule) {
		r.Type = "new_terms"
		r.NewTerms = &rule.NewTerms{Fields: []string{"user.name", "source.ip"}, HistoryWindowStart: "now-3d"}
	})
	store := state.NewMemory()
	p, err := New([]*rule.Rule{r}, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cols := [2]*Collector{p.NewCollector(), p.NewCollector()}
	var out []alert.Alert
	base := time.Duration(0) // from t0; for inputs of odd length, from 16 days before 1970
	if len(ops)%2 == 1 {
		base = time.Unix(0, 0).Add(-16 * 24 * time.Hour).Sub(t0)
	}
	for k := 0; k+2 < len(ops); k += 3 {
		at := base + time.Duration(ops[k+1])*3*time.Hour // up to 32 days
		if ops[k] == 0xff {
			as, err := p.Advance(t0.Add(at))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, as...)
			continue
		}
		e := ev{at: at, id: fmt.Sprint("e", k), user: fmt.Sprint("u", ops[k]%3), ip: fmt.Sprintf("192.0.2.%d", ops[k]/3%2)}
		cols[ops[k+2]%2].Add(r, e.parse(t))
	}
	as, stats, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, as...)
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Load(r.Key())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := alert.WriteJSONL(&b, out); err != nil {
		t.Fatal(err)
	}
	return b.String(), stats, st
}

// FuzzSightingsAsCandidates: keeping a new_terms rule's sightings without
// an alert as sightings (compactSightings) raises the same alerts, counts
// the same and saves the same state as keeping them as candidates, in
// any order, over several collectors, with late events.
func FuzzSightingsAsCandidates(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 40, 0, 0xff, 30, 0, 0, 2, 1, 4, 50, 0})
	f.Add([]byte{3, 10, 0, 3, 9, 1, 3, 10, 1, 0xff, 12, 0, 3, 11, 0, 3, 40, 1, 3, 39, 0})
	f.Add([]byte{1, 200, 0, 1, 0, 1, 1, 100, 0, 0xff, 150, 0, 1, 120, 1, 1, 255, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 3*300 {
			ops = ops[:3*300]
		}
		want, wantStats, wantState := func() (string, map[string]RuleStats, *state.Rule) {
			compactSightings = false
			defer func() { compactSightings = true }()
			return newTermsRun(t, ops)
		}()
		got, stats, st := newTermsRun(t, ops)
		if got != want {
			t.Errorf("alerts differ:\n%s\nwant (as candidates)\n%s", got, want)
		}
		if !maps.Equal(stats, wantStats) {
			t.Errorf("stats %v, want %v", stats, wantStats)
		}
		if !reflect.DeepEqual(st, wantState) {
			t.Errorf("saved state %+v, want %+v", st, wantState)
		}
	})
}

// TestSightingsKeptSmall: on repeated sightings only the first of each
// term carries an alert and becomes a candidate; the rest are sightings.
func TestSightingsKeptSmall(t *testing.T) {
	r := mkRule(t, func(r *rule.Rule) {
		r.Type = "new_terms"
		r.NewTerms = &rule.NewTerms{Fields: []string{"user.name"}, HistoryWindowStart: "now-3d"}
	})
	p, err := New([]*rule.Rule{r}, state.NewMemory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewCollector()
	for k := range 10 {
		c.Add(r, ev{at: time.Duration(k) * time.Minute, id: fmt.Sprint("e", k), user: fmt.Sprint("u", k%2)}.parse(t))
	}
	if len(c.cands[0]) != 2 || len(c.sights[0]) != 8 {
		t.Errorf("%d candidates and %d sightings, want 2 and 8", len(c.cands[0]), len(c.sights[0]))
	}
	alerts, stats, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(alerts); got != "e0,e1" {
		t.Errorf("alerts %s, want e0,e1", got)
	}
	if st := stats[r.Key()]; st.Matches != 10 {
		t.Errorf("%d matches, want 10", st.Matches)
	}
}

// Around the Unix epoch, a term seen again more than a history window
// later is new again: its buckets are rounded down, not toward zero (which
// made the bucket around 1970 two windows wide: the second sighting had no
// alert, and as a candidate crashed the capper).
func TestNewTermsAroundTheEpoch(t *testing.T) {
	r := mkRule(t, func(r *rule.Rule) {
		r.Type = "new_terms"
		r.NewTerms = &rule.NewTerms{Fields: []string{"user.name"}, HistoryWindowStart: "now-3d"}
	})
	epoch := time.Unix(0, 0).Sub(t0)
	for _, compact := range []bool{true, false} {
		compactSightings = compact
		alerts, _ := hunt(t, r, state.NewMemory(), ev{at: epoch - 48*time.Hour, id: "a", user: "u"}, ev{at: epoch + 48*time.Hour, id: "b", user: "u"})
		if got := ids(alerts); got != "a,b" {
			t.Errorf("compactSightings %v: alerts %s, want a,b (four days apart, a 3-day history)", compact, got)
		}
	}
	compactSightings = true
}
