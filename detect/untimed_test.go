package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// A record without a usable event time raises the alerts of rules that
// need no event time, at its file's time and marked so; rules that keep
// state in event time skip it and count it; no made-up time enters the
// state (issue 9, item 6). A second hunt knows the alert.
func TestUntimedRecords(t *testing.T) {
	fileT := t0.Add(48 * time.Hour) // later than the timed event: must not move the watermark
	for _, tt := range []struct {
		name    string
		mod     func(r *rule.Rule)
		alerts  int // alerts on the untimed record
		skipped int
	}{
		{"query", nil, 1, 0},
		{"eql single event", func(r *rule.Rule) { r.Type = "eql" }, 1, 0},
		{"sigma", func(r *rule.Rule) { r.Type, r.Format = "sigma", "sigma" }, 1, 0},
		{"panther", func(r *rule.Rule) {
			r.Type, r.Format, r.Dedup = "panther", "panther", &rule.Dedup{Period: time.Hour, Threshold: 1}
		}, 1, 0},
		{"query with suppression", func(r *rule.Rule) {
			r.Suppression = &rule.Suppression{GroupBy: []string{"user.name"}, Duration: time.Hour}
		}, 1, 0},
		{"panther signal", func(r *rule.Rule) {
			r.Type, r.Format, r.Dedup = "panther", "panther", &rule.Dedup{Period: time.Hour, Threshold: 1, Signal: true}
		}, 0, 0},
		{"panther dedup threshold", func(r *rule.Rule) {
			r.Type, r.Format, r.Dedup = "panther", "panther", &rule.Dedup{Period: time.Hour, Threshold: 2}
		}, 0, 1},
		{"new_terms", func(r *rule.Rule) {
			r.Type, r.NewTerms = "new_terms", &rule.NewTerms{Fields: []string{"user.name"}, HistoryWindowStart: "now-10d"}
		}, 0, 1},
		{"threshold", func(r *rule.Rule) {
			r.Type, r.Threshold = "threshold", &rule.Threshold{Fields: []string{"user.name"}, Value: 1}
		}, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mkRule(t, tt.mod)
			store := state.NewMemory()
			timed := ev{id: "timed", user: "a"}.json()
			untimed := strings.Replace(ev{id: "untimed", user: "a"}.json(), `"eventTime"`, `"notTheTime"`, 1)
			run := func() ([]alert.Alert, RuleStats) {
				p, err := New([]*rule.Rule{r}, store, Options{})
				if err != nil {
					t.Fatal(err)
				}
				c := p.NewCollector()
				for _, rec := range []string{timed, untimed} {
					var ps event.Parser
					x, err := ps.Parse([]byte(rec))
					if err != nil {
						t.Fatal(err)
					}
					x.File, x.FileTime, x.FileTimeFrom = "f.json", fileT, "file_name"
					c.Add(r, x)
				}
				alerts, stats, err := p.Finish()
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Commit(); err != nil {
					t.Fatal(err)
				}
				return alerts, stats[r.Key()]
			}
			alerts, rs := run()
			n := 0
			for _, a := range alerts {
				if a.Time.Year() < 2000 {
					t.Errorf("alert at %v", a.Time)
				}
				if a.Event.ID != "untimed" {
					if a.TimeSubstitute != nil {
						t.Errorf("timed alert marked %+v", a.TimeSubstitute)
					}
					continue
				}
				n++
				if !a.Time.Equal(fileT) || a.TimeSubstitute == nil || a.TimeSubstitute.From != "file_name" || a.TimeSubstitute.Reason != "eventTime missing" {
					t.Errorf("untimed alert at %v, %+v", a.Time, a.TimeSubstitute)
				}
			}
			if n != tt.alerts || rs.NoTime != tt.skipped {
				t.Errorf("%d alerts on the untimed record, %d skipped; want %d, %d (stats %+v)", n, rs.NoTime, tt.alerts, tt.skipped, rs)
			}
			stats, _ := store.Stats()
			for _, s := range stats {
				if s.Watermark.After(t0) {
					t.Errorf("watermark %v: the file's time entered the state", s.Watermark)
				}
			}
			again, rs := run()
			for _, a := range again {
				if a.Event.ID == "untimed" {
					t.Errorf("second hunt raised the untimed alert again")
				}
			}
			if tt.alerts > 0 && rs.Known < 1 {
				t.Errorf("second hunt: stats %+v, want the untimed alert known", rs)
			}
		})
	}
}
