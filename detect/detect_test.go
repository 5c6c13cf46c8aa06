package detect

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/kql"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

var t0 = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

// ev is a CloudTrail record at t0+offset.
type ev struct {
	at                 time.Duration
	id, user, ip, name string
	param              string
}

// parse parses the event as a hunt does, with a parser of its own (what a
// collector keeps of it is not shared with the next).
func (e ev) parse(t testing.TB) *event.Event {
	t.Helper()
	var ps event.Parser
	x, err := ps.Parse([]byte(e.json()))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func (e ev) json() string {
	name := e.name
	if name == "" {
		name = "GetSecretValue"
	}
	return fmt.Sprintf(`{"eventSource":"secretsmanager.amazonaws.com","eventName":%q,"eventID":%q,"eventTime":%q,
		"userIdentity":{"type":"IAMUser","principalId":%q,"userName":%q,"arn":"arn:aws:iam::1:user/%s"},
		"sourceIPAddress":%q,"requestParameters":{"secretId":%q}}`,
		name, e.id, t0.Add(e.at).Format(time.RFC3339), e.user, e.user, e.user, e.ip, e.param)
}

func mkRule(t testing.TB, mod func(r *rule.Rule)) *rule.Rule {
	t.Helper()
	n, err := kql.Parse(`event.provider: secretsmanager.amazonaws.com and event.action: GetSecretValue`)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := elastic.Lower(n)
	r := &rule.Rule{ID: "r", Name: "R", Type: "query", Cond: rule.Simplify(c),
		Schedule: rule.Schedule{Interval: 5 * time.Minute, Lookback: 6 * time.Minute, From: "now-6m", MaxSignals: 100}}
	if mod != nil {
		mod(r)
	}
	return r
}

// hunt feeds events matching r through a processor over store.
func hunt(t *testing.T, r *rule.Rule, store state.Store, evs ...ev) ([]alert.Alert, RuleStats) {
	t.Helper()
	p, err := New([]*rule.Rule{r}, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewCollector()
	for _, e := range evs {
		c.Add(r, e.parse(t))
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

func ids(as []alert.Alert) string {
	s := ""
	for _, a := range as {
		if s != "" {
			s += ","
		}
		s += a.Event.ID
	}
	return s
}

func TestMaxSignalsWithheld(t *testing.T) {
	r := mkRule(t, func(r *rule.Rule) { r.Schedule.MaxSignals = 2 })
	// five events in the first minute: only run 10:05 [09:59, 10:05) holds them
	var evs []ev
	for i := 1; i <= 5; i++ {
		evs = append(evs, ev{at: time.Duration(i) * time.Second, id: fmt.Sprint("e", i)})
	}
	// at 10:04:30 an event is in runs 10:05 and 10:10; run 10:05 is full, so
	// run 10:10 raises it.
	evs = append(evs, ev{at: 4*time.Minute + 30*time.Second, id: "late"})
	alerts, st := hunt(t, r, state.NewMemory(), evs...)
	if got := ids(alerts); got != "e1,e2,late" {
		t.Errorf("alerts %s, want e1,e2,late", got)
	}
	if st.Withheld != 3 {
		t.Errorf("withheld %d, want 3", st.Withheld)
	}
}

func TestOverlappingWindowsNoDuplicates(t *testing.T) {
	r := mkRule(t, func(r *rule.Rule) { r.Schedule.Lookback = 60 * time.Minute }) // every 5m over 60m: 12 overlapping runs
	alerts, _ := hunt(t, r, state.NewMemory(), ev{at: 7 * time.Minute, id: "a"}, ev{at: 7 * time.Minute, id: "a"}, ev{at: 31 * time.Minute, id: "b"})
	if got := ids(alerts); got != "a,b" {
		t.Errorf("alerts %s, want a,b", got)
	}
}

func TestNewTermsAcrossHunts(t *testing.T) {
	r := mkRule(t, func(r *rule.Rule) {
		r.Type = "new_terms"
		r.NewTerms = &rule.NewTerms{Fields: []string{"user.name"}, HistoryWindowStart: "now-10d"}
	})
	store, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	day := 24 * time.Hour
	// hunt 1: alice twice, bob once: two new terms, at their first sightings
	a1, _ := hunt(t, r, store, ev{at: 0, id: "a1", user: "alice"}, ev{at: time.Hour, id: "a2", user: "alice"}, ev{at: 2 * time.Hour, id: "b1", user: "bob"})
	if got := ids(a1); got != "a1,b1" {
		t.Errorf("hunt 1: %s, want a1,b1", got)
	}
	if a1[0].NewTerms[0] != "alice" {
		t.Errorf("new terms = %v", a1[0].NewTerms)
	}
	// hunt 2, newer files: alice again (seen 3 days ago: not new), carol new
	a2, _ := hunt(t, r, store, ev{at: 3 * day, id: "a3", user: "alice"}, ev{at: 3 * day, id: "c1", user: "carol"})
	if got := ids(a2); got != "c1" {
		t.Errorf("hunt 2: %s, want c1", got)
	}
	// hunt 3: bob after 12 days of silence is new again; alice after 9 days is not
	a3, _ := hunt(t, r, store, ev{at: 12 * day, id: "a4", user: "alice"}, ev{at: 14 * day, id: "b2", user: "bob"})
	if got := ids(a3); got != "b2" {
		t.Errorf("hunt 3: %s, want b2", got)
	}
	// re-hunting hunt 1's files raises nothing new
	a4, _ := hunt(t, r, store, ev{at: 0, id: "a1", user: "alice"}, ev{at: 2 * time.Hour, id: "b1", user: "bob"})
	if len(a4) != 0 {
		t.Errorf("re-hunt raised %s", ids(a4))
	}
	stats, _ := store.Stats()
	// carol, last seen on day 3, expired with the 10-day window (watermark day 14)
	if len(stats) != 1 || stats[0].Terms != 2 {
		t.Errorf("state = %+v", stats)
	}
}

func TestThresholdCardinality(t *testing.T) {
	r := mkRule(t, func(r *rule.Rule) {
		r.Type = "threshold"
		r.Threshold = &rule.Threshold{Fields: []string{"user.id"}, Value: 1, Cardinality: []rule.Cardinality{{Field: "aws.cloudtrail.request_parameters", Value: 3}}}
	})
	var evs []ev
	for i := 0; i < 4; i++ { // x reads 4 different secrets within two minutes
		evs = append(evs, ev{at: time.Duration(i) * 30 * time.Second, id: fmt.Sprint("x", i), user: "x", param: fmt.Sprint("s", i)})
	}
	for i := 0; i < 6; i++ { // y reads one secret six times
		evs = append(evs, ev{at: time.Duration(i) * 20 * time.Second, id: fmt.Sprint("y", i), user: "y", param: "s0"})
	}
	alerts, _ := hunt(t, r, state.NewMemory(), evs...)
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1 (x only, once although two runs see its events)", len(alerts))
	}
	th := alerts[0].Threshold
	if th.Terms[0].Value != "x" || th.Count != 4 || th.Cardinality[0].Value != "4" || !th.From.Equal(t0) || !th.To.Equal(t0.Add(90*time.Second)) {
		t.Errorf("threshold result = %+v", th)
	}
}

func TestThresholdCount(t *testing.T) {
	r := mkRule(t, func(r *rule.Rule) {
		r.Type = "threshold"
		r.Threshold = &rule.Threshold{Fields: []string{"source.address"}, Value: 3}
	})
	var evs []ev
	for i := 0; i < 5; i++ { // 5 from one address in one run: one alert counting 5
		evs = append(evs, ev{at: time.Duration(i) * time.Second, id: fmt.Sprint("a", i), ip: "192.0.2.1"})
	}
	for i := 0; i < 2; i++ { // two more in the next run: not enough on their own
		evs = append(evs, ev{at: 5*time.Minute + time.Duration(i)*time.Second, id: fmt.Sprint("b", i), ip: "192.0.2.1"})
	}
	evs = append(evs, ev{at: 0, id: "c", ip: "198.51.100.1"})
	alerts, _ := hunt(t, r, state.NewMemory(), evs...)
	if len(alerts) != 1 || alerts[0].Threshold.Count != 5 {
		t.Fatalf("alerts = %+v", alerts)
	}
}

func TestSuppression(t *testing.T) {
	r := mkRule(t, func(r *rule.Rule) {
		r.Schedule.Lookback = 60 * time.Minute
		r.Suppression = &rule.Suppression{GroupBy: []string{"source.address"}, Duration: 10 * time.Minute, MissingFieldsStrategy: "suppress"}
	})
	alerts, st := hunt(t, r, state.NewMemory(),
		ev{at: 0, id: "a", ip: "192.0.2.1"},
		ev{at: 3 * time.Minute, id: "b", ip: "192.0.2.1"},
		ev{at: 9 * time.Minute, id: "c", ip: "192.0.2.1"},
		ev{at: 4 * time.Minute, id: "d", ip: "198.51.100.7"},
		ev{at: 11 * time.Minute, id: "e", ip: "192.0.2.1"}, // window of a is over
		ev{at: 12 * time.Minute, id: "f"},                  // no address: suppressed as a group of its own
		ev{at: 13 * time.Minute, id: "g"},
	)
	if got := ids(alerts); got != "a,d,e,f" {
		t.Errorf("alerts %s, want a,d,e,f", got)
	}
	if s := alerts[0].Suppression; s == nil || s.DocsCount != 2 || !s.End.Equal(t0.Add(9*time.Minute)) {
		t.Errorf("suppression of a = %+v", s)
	}
	if st.Suppressed != 3 {
		t.Errorf("suppressed %d, want 3", st.Suppressed)
	}
	// doNotSuppress: events missing the field each alert
	r.Suppression.MissingFieldsStrategy = "doNotSuppress"
	alerts, _ = hunt(t, r, state.NewMemory(), ev{at: 0, id: "f"}, ev{at: time.Minute, id: "g"})
	if got := ids(alerts); got != "f,g" {
		t.Errorf("doNotSuppress: %s", got)
	}
}

func TestForEachRun(t *testing.T) {
	min := int64(time.Minute)
	times := []int64{1 * min, 2 * min, 30 * min, 31 * min, 200 * min}
	var got []string
	forEachRun(times, 5*min, 6*min, func(end int64, lo, hi int) { got = append(got, fmt.Sprintf("%d:%d-%d", end/min, lo, hi)) })
	want := "[5:0-2 35:2-4 205:4-5]" // run 10 covers [4m, 10m): empty, skipped
	if fmt.Sprint(got) != want {
		t.Errorf("runs %v, want %s", got, want)
	}
}

func parseRule(t testing.TB, typ, lang, query string, extra string) *rule.Rule {
	t.Helper()
	r, err := elastic.Parse("r.toml", []byte(fmt.Sprintf("[rule]\nrule_id = \"r\"\nname = \"R\"\ntype = %q\nlanguage = %q\nfrom = \"now-6m\"\ninterval = \"5m\"\nquery = '''\n%s\n'''\n%s", typ, lang, query, extra)))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Runnable() {
		t.Fatalf("not runnable: %s", r.Unsupported)
	}
	return r
}

// An EQL sequence alerts once per completed sequence, with a
// building-block alert per step; out of order, beyond maxspan or broken by
// the until step, nothing.
func TestSequence(t *testing.T) {
	r := parseRule(t, "eql", "eql", `sequence by user.name with maxspan=10m
  [any where event.action == "ListSecrets"]
  [any where event.action == "GetSecretValue"]
until [any where event.action == "DeleteAccessKey"]`, "")
	evs := []ev{
		{at: 0, id: "a1", user: "alice", name: "ListSecrets"},
		{at: 2 * time.Minute, id: "a2", user: "alice", name: "GetSecretValue"},
		{at: 0, id: "b1", user: "bob", name: "ListSecrets"},
		{at: 12 * time.Minute, id: "b2", user: "bob", name: "GetSecretValue"}, // beyond maxspan
		{at: time.Minute, id: "c1", user: "carol", name: "GetSecretValue"},    // wrong order
		{at: 3 * time.Minute, id: "c2", user: "carol", name: "ListSecrets"},
		{at: 0, id: "d1", user: "dave", name: "ListSecrets"},
		{at: time.Minute, id: "d2", user: "dave", name: "DeleteAccessKey"}, // until
		{at: 2 * time.Minute, id: "d3", user: "dave", name: "GetSecretValue"},
	}
	st := state.NewMemory()
	alerts, _ := hunt(t, r, st, evs...)
	if len(alerts) != 3 {
		t.Fatalf("%d alerts, want the sequence and its 2 building blocks: %+v", len(alerts), alerts)
	}
	var shell alert.Alert
	var bbs []alert.Alert
	for _, a := range alerts {
		if a.Rule.BuildingBlock {
			bbs = append(bbs, a)
		} else {
			shell = a
		}
	}
	if shell.Sequence == nil || len(shell.Sequence.Events) != 2 || shell.Fields["user.name"] != "alice" || shell.Rule.BuildingBlock {
		t.Errorf("sequence alert %+v", shell)
	}
	for k, bb := range bbs {
		if !bb.Rule.BuildingBlock || bb.Sequence.ID != shell.ID || bb.Sequence.Step != k+1 || bb.Event.ID != []string{"a1", "a2"}[k] {
			t.Errorf("building block %d: %+v %+v", k, bb.Rule, bb.Sequence)
		}
	}
	if again, rs := hunt(t, r, st, evs...); len(again) != 0 || rs.Known != 1 {
		t.Errorf("second hunt over the same events: %d alerts, %d known", len(again), rs.Known)
	}
}

// An aggregating ES|QL rule raises one alert per result row and run; the
// same row from an overlapping run is the same alert.
func TestESQLAggregate(t *testing.T) {
	r := parseRule(t, "esql", "esql", `FROM logs-aws.cloudtrail-*
| WHERE event.action == "GetSecretValue"
| STATS Esql.count = COUNT(*), Esql.secrets = COUNT_DISTINCT(aws.cloudtrail.flattened.request_parameters.secretId) BY user.name
| WHERE Esql.secrets >= 3`, "")
	var evs []ev
	for i := range 4 {
		evs = append(evs, ev{at: time.Duration(i) * 10 * time.Second, id: fmt.Sprint("m", i), user: "mallory", param: fmt.Sprint("secret-", i)})
	}
	evs = append(evs, ev{at: 0, id: "x", user: "alice", param: "secret-0"})
	alerts, _ := hunt(t, r, state.NewMemory(), evs...)
	// runs end every 5m over 6m: the events (in the first minute) fall in two
	// runs, which produce the same row
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(alerts), alerts)
	}
	f := alerts[0].Fields
	if f["user.name"] != "mallory" || f["Esql.count"] != int64(4) || f["Esql.secrets"] != int64(4) {
		t.Errorf("fields %v", f)
	}
}

// An aggregating ES|QL rule's alert_suppression groups its result rows by
// their columns: two runs of mallory with different counts raise one alert
// within the duration, alice her own; without suppression, each row alerts.
func TestESQLAggregateSuppression(t *testing.T) {
	const query = `FROM logs-aws.cloudtrail-*
| WHERE event.action == "GetSecretValue"
| STATS Esql.count = COUNT(*) BY user.name`
	evs := []ev{
		{at: 0, id: "m1", user: "mallory"},
		{at: 10 * time.Second, id: "m2", user: "mallory"}, // run 5m: count 2
		{at: 6 * time.Minute, id: "m3", user: "mallory"},  // run 10m: count 1, another row
		{at: 7 * time.Minute, id: "a1", user: "alice"},
	}
	plain, _ := hunt(t, parseRule(t, "esql", "esql", query, ""), state.NewMemory(), evs...)
	if len(plain) != 3 {
		t.Fatalf("without suppression: %d alerts, want 3", len(plain))
	}
	for _, strategy := range []string{"suppress", "doNotSuppress"} {
		r := parseRule(t, "esql", "esql", query, fmt.Sprintf(`[rule.alert_suppression]
group_by = ["user.name"]
missing_fields_strategy = %q
[rule.alert_suppression.duration]
unit = "m"
value = 30`, strategy))
		alerts, st := hunt(t, r, state.NewMemory(), evs...)
		var users []string
		for _, a := range alerts {
			users = append(users, fmt.Sprint(a.Fields["user.name"]))
		}
		if got := strings.Join(users, ","); got != "mallory,alice" {
			t.Fatalf("%s: alerts of %s, want mallory,alice", strategy, got)
		}
		if s := alerts[0].Suppression; s == nil || s.DocsCount != 1 || fmt.Sprint(s.Terms) == "" {
			t.Errorf("%s: suppression of mallory's alert = %+v", strategy, s)
		}
		if st.Suppressed != 1 {
			t.Errorf("%s: suppressed %d, want 1", strategy, st.Suppressed)
		}
	}
}

// A sequence may span hunts: the partial sequence is kept in the state
// file and completed by the next hunt's events.
func TestSequenceAcrossHunts(t *testing.T) {
	r := parseRule(t, "eql", "eql", `sequence by user.name with maxspan=10m
  [any where event.action == "ListSecrets"]
  [any where event.action == "GetSecretValue"]`, "")
	path := filepath.Join(t.TempDir(), "state.db")
	run := func(evs ...ev) []alert.Alert {
		st, err := state.OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		alerts, _ := hunt(t, r, st, evs...)
		return alerts
	}
	if a := run(ev{at: 0, id: "e1", user: "erin", name: "ListSecrets"}); len(a) != 0 {
		t.Fatalf("first hunt: %d alerts", len(a))
	}
	alerts := run(ev{at: 2 * time.Minute, id: "e2", user: "erin", name: "GetSecretValue"},
		ev{at: 30 * time.Minute, id: "e3", user: "erin", name: "GetSecretValue"}) // beyond maxspan of e1
	var steps []string
	for _, a := range alerts {
		if a.Rule.BuildingBlock {
			steps = append(steps, a.Event.ID)
		}
	}
	if len(alerts) != 3 || strings.Join(steps, ",") != "e1,e2" {
		t.Errorf("second hunt: %d alerts, building blocks %v", len(alerts), steps)
	}
}

// A threshold alert carries the first event it counted: its id, provider,
// action and place, and its record (issue 9, item 9: event.id was null and
// record held the threshold result).
func TestThresholdAlertCarriesFirstEvent(t *testing.T) {
	for _, tt := range []struct {
		name  string
		evs   []ev
		first []string // event ids of the alerts' first events
	}{
		{"one run", []ev{{at: 3 * time.Second, id: "b", ip: "192.0.2.1"}, {at: time.Second, id: "a", ip: "192.0.2.1"}, {at: 2 * time.Second, id: "c", ip: "192.0.2.1"}},
			[]string{"a"}},
		{"two groups", []ev{{at: time.Second, id: "a", ip: "192.0.2.1"}, {at: 2 * time.Second, id: "x", ip: "192.0.2.9"}, {at: 3 * time.Second, id: "b", ip: "192.0.2.1"},
			{at: 4 * time.Second, id: "y", ip: "192.0.2.9"}, {at: 5 * time.Second, id: "c", ip: "192.0.2.1"}, {at: 6 * time.Second, id: "z", ip: "192.0.2.9"}},
			[]string{"a", "x"}},
		// the second run counts only events after those of the first alert
		{"after signal history", []ev{{at: time.Second, id: "a", ip: "192.0.2.1"}, {at: 2 * time.Second, id: "b", ip: "192.0.2.1"}, {at: 3 * time.Second, id: "c", ip: "192.0.2.1"},
			{at: 5*time.Minute + time.Second, id: "d", ip: "192.0.2.1"}, {at: 5*time.Minute + 2*time.Second, id: "e", ip: "192.0.2.1"}, {at: 5*time.Minute + 3*time.Second, id: "f", ip: "192.0.2.1"}},
			[]string{"a", "d"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mkRule(t, func(r *rule.Rule) {
				r.Type = "threshold"
				r.Threshold = &rule.Threshold{Fields: []string{"source.address"}, Value: 3}
			})
			alerts, _ := hunt(t, r, state.NewMemory(), tt.evs...)
			if got := ids(alerts); got != strings.Join(tt.first, ",") {
				t.Fatalf("alerts' events %q, want %q", got, strings.Join(tt.first, ","))
			}
			for _, a := range alerts {
				var rec struct{ EventID, EventName string }
				if err := json.Unmarshal(a.Record, &rec); err != nil || rec.EventID != a.Event.ID {
					t.Errorf("record %s (%v), want the event %s", a.Record, err, a.Event.ID)
				}
				if a.Event.Provider != "secretsmanager.amazonaws.com" || a.Event.Action != "GetSecretValue" || a.Threshold == nil || a.Threshold.Count != 3 {
					t.Errorf("alert event %+v, threshold %+v", a.Event, a.Threshold)
				}
			}
		})
	}
}

// An event with more values of its new_terms fields than
// maxTermCombinations sights that many terms, with one field or with
// several.
func TestNewTermsValueCap(t *testing.T) {
	vals := make([]string, maxTermCombinations+50)
	for i := range vals {
		vals[i] = fmt.Sprintf("%q", fmt.Sprint("v", i))
	}
	rec := `{"eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","eventID":"e","eventTime":"` + t0.Format(time.RFC3339) +
		`","userIdentity":{"type":"IAMUser","userName":"u"},"requestParameters":{"secretId":[` + strings.Join(vals, ",") + `]}}`
	for _, fields := range [][]string{{"requestParameters.secretId"}, {"requestParameters.secretId", "user.name"}} {
		r := mkRule(t, func(r *rule.Rule) {
			r.Type = "new_terms"
			r.NewTerms = &rule.NewTerms{Fields: fields, HistoryWindowStart: "now-10d"}
			r.Schedule.MaxSignals = 1000
		})
		p, err := New([]*rule.Rule{r}, state.NewMemory(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var ps event.Parser
		x, err := ps.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		p.NewCollector().Add(r, x)
		alerts, _, err := p.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if len(alerts) != maxTermCombinations {
			t.Errorf("%v: %d alerts, want %d", fields, len(alerts), maxTermCombinations)
		}
		if len(alerts) > 0 && len(alerts[0].NewTerms) != len(fields) {
			t.Errorf("%v: new terms %v", fields, alerts[0].NewTerms)
		}
	}
}
