package detect

import (
	"context"
	"testing"
	"time"

	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
	"github.com/trailhound/trailhound/state/redistest"
)

// stream is a processor over a store fed as serve feeds it: matches, then
// Advance and Commit.
type stream struct {
	t *testing.T
	r *rule.Rule
	p *Processor
	c *Collector
}

func newStream(t *testing.T, r *rule.Rule, store state.Store) *stream {
	t.Helper()
	p, err := New([]*rule.Rule{r}, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &stream{t: t, r: r, p: p, c: p.NewCollector()}
}

// step adds events, advances to w (from t0) and commits; it returns the
// alerts' event ids.
func (s *stream) step(w time.Duration, evs ...ev) string {
	s.t.Helper()
	for _, e := range evs {
		s.c.Add(s.r, e.parse(s.t))
	}
	as, err := s.p.Advance(t0.Add(w))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.p.Commit(); err != nil {
		s.t.Fatal(err)
	}
	return ids(as)
}

// Two processors sharing a Redis state, each with its own records (two
// serve instances): what one committed counts on the other from its next
// Commit on, for the state kinds that are shared.
func TestSharedStateLearned(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		name string
		mod  func(r *rule.Rule)
		a, b []ev // a's records (raising a1), then b's, later
		want string
	}{
		{"a term another instance saw is not new", func(r *rule.Rule) {
			r.Type = "new_terms"
			r.NewTerms = &rule.NewTerms{Fields: []string{"user.name"}, HistoryWindowStart: "now-10d"}
		}, []ev{{at: 0, id: "a1", user: "alice"}}, []ev{{at: time.Hour, id: "b1", user: "alice"}, {at: time.Hour, id: "b2", user: "bob"}}, "b2"},
		{"a suppression window another instance opened suppresses", func(r *rule.Rule) {
			r.Suppression = &rule.Suppression{GroupBy: []string{"source.address"}, Duration: 3 * time.Hour, MissingFieldsStrategy: "suppress"}
		}, []ev{{at: 0, id: "a1", ip: "192.0.2.1"}}, []ev{{at: time.Hour, id: "b1", ip: "192.0.2.1"}, {at: time.Hour, id: "b2", ip: "192.0.2.9"}}, "b2"},
		{"an alert id another instance raised is known", nil,
			[]ev{{at: 0, id: "a1"}}, []ev{{at: 0, id: "a1"}, {at: time.Minute, id: "b1"}}, "b1"},
	}
	for db, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open := func() state.Store {
				st, err := state.OpenRedis(context.Background(), srv.URL(db))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			r := mkRule(t, tc.mod)
			a, b := newStream(t, r, open()), newStream(t, r, open())
			// both start, loading the (empty) state
			a.step(-time.Hour)
			b.step(-time.Hour)
			// a raises its alert once no later match can change it (a
			// suppressed alert waits for its window's end), and commits
			if got := a.step(4*time.Hour, tc.a...); got != "a1" {
				t.Fatalf("a raised %q", got)
			}
			b.step(-time.Hour) // b commits: it learns what a committed
			if got := b.step(24*time.Hour, tc.b...); got != tc.want {
				t.Errorf("b raised %q, want %q", got, tc.want)
			}
		})
	}
}
