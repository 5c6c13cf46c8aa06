package detect

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// lateness is how far out of order the stream tests deliver events.
const lateness = 20 * time.Minute

// kind is a rule set exercising one detector.
type kind struct {
	name string
	eng  func(t testing.TB) *engine.Engine
}

func oneRule(mod func(r *rule.Rule)) func(t testing.TB) *engine.Engine {
	return func(t testing.TB) *engine.Engine { return compile(t, mkRule(t, mod)) }
}

func compile(t testing.TB, rs ...*rule.Rule) *engine.Engine {
	eng, err := engine.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func correlation(corr string) func(t testing.TB) *engine.Engine {
	return func(t testing.TB) *engine.Engine {
		return sigmaEngine(t, baseRules+"---\ntitle: Many\nid: many\nlevel: high\ncorrelation:\n  "+corr+"\n")
	}
}

const esqlStats = `FROM logs-aws.cloudtrail-*
| WHERE event.action == "GetSecretValue"
| STATS Esql.count = COUNT(*), Esql.secrets = COUNT_DISTINCT(aws.cloudtrail.flattened.request_parameters.secretId) BY user.name
| WHERE Esql.secrets >= 3`

// kinds has a rule set per detector (and the suppression stage).
var kinds = []kind{
	{"match", oneRule(func(r *rule.Rule) { r.Schedule.MaxSignals = 2 })},
	{"suppression", oneRule(func(r *rule.Rule) {
		r.Schedule.Lookback = 60 * time.Minute
		r.Suppression = &rule.Suppression{GroupBy: []string{"source.address"}, Duration: 10 * time.Minute, MissingFieldsStrategy: "suppress"}
	})},
	{"suppression per run", oneRule(func(r *rule.Rule) {
		r.Suppression = &rule.Suppression{GroupBy: []string{"user.name"}, MissingFieldsStrategy: "suppress"}
	})},
	{"new_terms", oneRule(func(r *rule.Rule) {
		r.Type = "new_terms"
		r.NewTerms = &rule.NewTerms{Fields: []string{"user.name"}, HistoryWindowStart: "now-1h"}
	})},
	{"threshold", oneRule(func(r *rule.Rule) {
		r.Type = "threshold"
		r.Threshold = &rule.Threshold{Fields: []string{"source.address"}, Value: 3}
	})},
	{"threshold max_signals", oneRule(func(r *rule.Rule) {
		r.Type = "threshold"
		r.Threshold = &rule.Threshold{Fields: []string{"user.name"}, Value: 2}
		r.Schedule.MaxSignals = 1
	})},
	{"threshold cardinality", oneRule(func(r *rule.Rule) {
		r.Type = "threshold"
		r.Threshold = &rule.Threshold{Fields: []string{"user.name"}, Value: 2, Cardinality: []rule.Cardinality{{Field: "aws.cloudtrail.request_parameters", Value: 2}}}
		r.Schedule.MaxSignals = 2
	})},
	{"sequence", func(t testing.TB) *engine.Engine {
		return compile(t, parseRule(t, "eql", "eql", `sequence by user.name with maxspan=10m
  [any where event.action == "ListSecrets"]
  [any where event.action == "GetSecretValue"]
until [any where event.action == "DeleteAccessKey"]`, ""))
	}},
	{"esql slices", func(t testing.TB) *engine.Engine {
		return compile(t, parseRule(t, "esql", "esql", esqlStats, ""))
	}},
	{"esql rows", func(t testing.TB) *engine.Engine {
		// STATS reading NOW() cannot aggregate by slices: the rows are kept
		q := strings.Replace(esqlStats, "COUNT(*),", "COUNT(*) WHERE @timestamp <= NOW(),", 1)
		return compile(t, parseRule(t, "esql", "esql", q, ""))
	}},
	{"esql row alerts", func(t testing.TB) *engine.Engine {
		return compile(t, parseRule(t, "esql", "esql", `FROM logs-aws.cloudtrail-* METADATA _id
| WHERE event.action == "GetSecretValue"
| KEEP _id, user.name`, ""))
	}},
	{"correlation event_count", correlation(`type: event_count
  rules: [secret_read]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {gte: 3}`)},
	{"correlation value_count", correlation(`type: value_count
  rules: [secret-read]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {field: requestParameters.secretId, gte: 2}`)},
	{"correlation lt", correlation(`type: event_count
  rules: [secret_read]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {lt: 2}`)},
	{"correlation temporal", correlation(`type: temporal
  rules: [secret_read, secrets_listed]
  group-by: [userIdentity.userName]
  timespan: 5m`)},
	{"correlation temporal_ordered", correlation(`type: temporal_ordered
  rules: [secrets_listed, secret_read]
  group-by: [userIdentity.userName]
  timespan: 5m`)},
	{"panther dedup", func(t testing.TB) *engine.Engine { return compile(t, pantherRule(t, 2)) }},
}

// pantherRule reads secrets, deduplicated by user for 15 minutes.
func pantherRule(t testing.TB, threshold int) *rule.Rule {
	return mkRule(t, func(r *rule.Rule) {
		r.Type, r.Format = "panther", "panther"
		r.Dedup = &rule.Dedup{Period: 15 * time.Minute, Threshold: threshold, Key: func(ev *event.Event) string {
			s, _ := event.Lookup(ev, "userIdentity.userName").(string)
			return s
		}}
	})
}

// randomEvents are n events over span from t0: users, addresses, actions
// and secrets drawn at random, a few delivered twice.
func randomEvents(seed int64, n int, span time.Duration) []ev {
	rnd := rand.New(rand.NewSource(seed))
	users := []string{"alice", "bob", "carol", "dave", "erin", "mallory"}
	ips := []string{"192.0.2.1", "192.0.2.2", "198.51.100.7", "203.0.113.9"}
	var out []ev
	for i := range n {
		if i > 0 && rnd.Intn(30) == 0 {
			out = append(out, out[rnd.Intn(len(out))]) // delivered twice
			continue
		}
		name := "GetSecretValue"
		switch x := rnd.Intn(10); {
		case x < 3:
			name = "ListSecrets"
		case x == 3:
			name = "DeleteAccessKey"
		}
		out = append(out, ev{at: time.Duration(rnd.Int63n(int64(span))).Truncate(time.Second), id: fmt.Sprint("e", i),
			user: users[rnd.Intn(len(users))], ip: ips[rnd.Intn(len(ips))], name: name, param: fmt.Sprint("secret-", rnd.Intn(5))})
	}
	return out
}

// streamer feeds events to a processor and advances it.
type streamer struct {
	t   testing.TB
	eng *engine.Engine
	p   *Processor
	c   *Collector
	s   *engine.Scratch
}

func newStreamer(t testing.TB, eng *engine.Engine, store state.Store) *streamer {
	p, err := New(eng.Rules(), store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &streamer{t: t, eng: eng, p: p, c: p.NewCollector(), s: engine.NewScratch()}
}

func (s *streamer) add(evs ...ev) {
	for _, e := range evs {
		x := e.parse(s.t)
		s.eng.Match(x, s.s, func(r *rule.Rule) { s.c.Add(r, x) })
	}
}

func (s *streamer) advance(at time.Duration) []alert.Alert {
	as, err := s.p.Advance(t0.Add(at))
	if err != nil {
		s.t.Fatal(err)
	}
	return as
}

func (s *streamer) finish() ([]alert.Alert, map[string]RuleStats) {
	as, stats, err := s.p.Finish()
	if err != nil {
		s.t.Fatal(err)
	}
	return as, stats
}

// held counts the entries the processor keeps for each rule (detector and
// suppressor).
func (s *streamer) held() map[string]int {
	out := map[string]int{}
	for i, ri := range s.p.rules {
		out[ri.r.Key()] = ri.det.held() + len(s.p.runs[i].sup.held)
	}
	return out
}

// window is how far back from the watermark a rule's entries may matter.
func window(r *rule.Rule) time.Duration {
	d := r.Schedule.Lookback + 2*r.Schedule.Interval + 10*time.Minute
	if r.Sequence != nil {
		d += r.Sequence.MaxSpan
	}
	if r.Correlation != nil {
		d += r.Correlation.Timespan
	}
	if r.Dedup != nil {
		d += r.Dedup.Period
	}
	if r.Suppression != nil {
		d += r.Suppression.Duration
	}
	return d
}

// streamRun feeds events in chunks, advancing after each to wm(chunk,
// next chunk), and checks after each advance that what the processor holds
// is bounded by the rules' windows.
func streamRun(t *testing.T, eng *engine.Engine, chunks [][]ev, wm func(k int) time.Duration) ([]alert.Alert, map[string]RuleStats) {
	t.Helper()
	s := newStreamer(t, eng, state.NewMemory())
	var all []alert.Alert
	for k, chunk := range chunks {
		s.add(chunk...)
		if k == len(chunks)-1 {
			break
		}
		w := wm(k)
		all = append(all, s.advance(w)...)
		held := s.held()
		for _, r := range eng.Rules() {
			recent := 0 // events a window still open may read
			for _, c := range chunks[:k+1] {
				for _, e := range c {
					if e.at >= w-window(r) {
						recent++
					}
				}
			}
			if h := held[r.Key()]; h > 3*recent+3 {
				t.Errorf("after advancing to %v: rule %s holds %d entries, %d events are within its window", w, r.Name, h, recent)
			}
		}
	}
	rest, stats := s.finish()
	all = append(all, rest...)
	alert.Sort(all)
	return all, stats
}

func jsonLines(t *testing.T, as []alert.Alert) []string {
	t.Helper()
	out := make([]string, len(as))
	for i := range as {
		b, err := json.Marshal(&as[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// Feeding the same matches all at once and Finish, in time order in chunks
// with a watermark after each, or shuffled within the lateness, gives the
// same alerts (ids and JSON bytes) and statistics, for every kind.
func TestStreamEqualsBatch(t *testing.T) {
	evs := randomEvents(1, 600, 6*time.Hour)
	sorted := append([]ev(nil), evs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].at < sorted[j].at })
	chunk := func(evs []ev, n int) [][]ev {
		var out [][]ev
		size := (len(evs) + n - 1) / n
		for i := 0; i < len(evs); i += size {
			out = append(out, evs[i:min(i+size, len(evs))])
		}
		return out
	}
	latest := func(chunks [][]ev, k int) time.Duration {
		var m time.Duration
		for _, c := range chunks[:k+1] {
			for _, e := range c {
				m = max(m, e.at)
			}
		}
		return m
	}
	// shuffled: each event arrives up to the lateness after its time
	rnd := rand.New(rand.NewSource(2))
	arrival := make([]time.Duration, len(sorted))
	order := make([]int, len(sorted))
	for i := range sorted {
		arrival[i], order[i] = sorted[i].at+time.Duration(rnd.Int63n(int64(lateness))), i
	}
	sort.SliceStable(order, func(i, j int) bool { return arrival[order[i]] < arrival[order[j]] })
	shuffled := make([]ev, len(sorted))
	for i, k := range order {
		shuffled[i] = sorted[k]
	}
	inOrder, mixed := chunk(sorted, 12), chunk(shuffled, 12)
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			eng := k.eng(t)
			want, wantStats := huntEngine(t, eng, state.NewMemory(), evs...)
			if len(want) == 0 {
				t.Fatal("the batch raised no alert: the case tests nothing")
			}
			for _, mode := range []struct {
				name   string
				chunks [][]ev
				wm     func(k int) time.Duration
			}{
				{"chunks, latest minus lateness", inOrder, func(k int) time.Duration { return latest(inOrder, k) - lateness }},
				{"chunks, next chunk's first", inOrder, func(k int) time.Duration { return inOrder[k+1][0].at }},
				{"shuffled within the lateness", mixed, func(k int) time.Duration { return latest(mixed, k) - lateness }},
			} {
				got, stats := streamRun(t, eng, mode.chunks, mode.wm)
				if g, w := strings.Join(jsonLines(t, got), "\n"), strings.Join(jsonLines(t, want), "\n"); g != w {
					t.Errorf("%s: %d alerts, batch %d; first difference:\n%s", mode.name, len(got), len(want), firstDiff(g, w))
				}
				for id, rs := range stats {
					if rs.Late != 0 {
						t.Errorf("%s: rule %s: %d late matches", mode.name, id, rs.Late)
					}
					if rs != wantStats[id] {
						t.Errorf("%s: rule %s: stats %+v, batch %+v", mode.name, id, rs, wantStats[id])
					}
				}
				if len(stats) != len(wantStats) {
					t.Errorf("%s: stats of %d rules, batch %d", mode.name, len(stats), len(wantStats))
				}
			}
		})
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < min(len(a), len(b)) && a[i] == b[i] {
		i++
	}
	from := max(0, i-150)
	return fmt.Sprintf("stream …%.300s\nbatch  …%.300s", a[from:], b[from:])
}

// desc sums up an alert for the table tests: the event id (threshold: the
// first counted), "seq" and "bb-<event>" for sequences, "agg" for ES|QL
// rows and correlations, "+n" for the documents suppressed into it.
func desc(as []alert.Alert) string {
	var out []string
	for _, a := range as {
		s := a.Event.ID
		switch {
		case a.Rule.BuildingBlock:
			s = "bb-" + s
		case a.Sequence != nil:
			s = "seq"
		case s == "":
			s = "agg"
		}
		if a.Suppression != nil {
			s += fmt.Sprintf("+%d", a.Suppression.DocsCount)
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// Each detector emits an alert when the watermark passes the windows that
// can change it, not before; a late match is counted and used where its
// window survives; and once the watermark is past every window, nothing is
// held but what the state keeps for the next hunt.
func TestDetectorWatermarks(t *testing.T) {
	type step struct {
		add  []ev
		at   time.Duration // advance to t0+at
		want string        // desc of the alerts emitted
	}
	m, s := time.Minute, time.Second
	get := func(id string, at time.Duration, user, ip, param string) ev {
		return ev{at: at, id: id, user: user, ip: ip, param: param}
	}
	list := func(id string, at time.Duration, user string) ev {
		return ev{at: at, id: id, user: user, name: "ListSecrets"}
	}
	byName := map[string]kind{}
	for _, k := range kinds {
		byName[k.name] = k
	}
	tests := []struct {
		kind  string
		steps []step
		late  int
		held  int // entries held after advancing far past every event
	}{
		{"match", []step{
			{add: []ev{get("a", m, "u", "", "")}, at: 4 * m, want: ""}, // run 10:05 [09:59, 10:05) still open
			{at: 5 * m, want: "a"},
			{add: []ev{get("late", 2*m, "u", "", "")}, at: 6 * m, want: "late"}, // every run that could raise it is decided: raised on its own
		}, 1, 0},
		{"suppression", []step{
			{add: []ev{get("a", 0, "", "192.0.2.1", ""), get("b", 3*m, "", "192.0.2.1", "")}, at: 5 * m, want: ""}, // a is raised, its window open until 10:10
			{add: []ev{get("c", 9*m+30*s, "", "192.0.2.1", "")}, at: 9 * m, want: ""},
			{at: 10 * m, want: "a+2"},
		}, 0, 0},
		{"new_terms", []step{
			{add: []ev{get("a1", m, "alice", "", "")}, at: m, want: ""}, // a sighting at the watermark is not decided
			{at: 5 * m, want: "a1"},
			{add: []ev{get("a0", 30*s, "alice", "", ""), get("b1", 2*m, "bob", "", "")}, at: 6 * m, want: "b1"}, // late: alice is known by now, bob is new
		}, 2, 0},
		{"threshold", []step{
			{add: []ev{get("x1", m, "", "192.0.2.1", ""), get("x2", 2*m, "", "192.0.2.1", ""), get("x3", 3*m, "", "192.0.2.1", "")}, at: 4 * m, want: ""},
			{at: 5 * m, want: "x1"},
			{add: []ev{get("x0", 90*s, "", "192.0.2.1", "")}, at: 20 * m, want: ""}, // late, its runs decided: counted, nothing to raise
		}, 1, 0},
		{"sequence", []step{
			{add: []ev{list("l", 0, "alice"), get("g", 2*m, "alice", "", "")}, at: 2 * m, want: ""},
			{at: 3 * m, want: ""}, // complete, but run 10:05 is open
			{at: 5 * m, want: "bb-l,bb-g,seq"},
			{add: []ev{list("l2", m, "bob"), get("g2", 6*m, "bob", "", "")}, at: 10 * m, want: "bb-l2,bb-g2,seq"}, // late step 1, still within maxspan
		}, 1, 0},
		{"esql slices", []step{
			{add: []ev{get("m1", 0, "mallory", "", "s1"), get("m2", 10*s, "mallory", "", "s2"), get("m3", 20*s, "mallory", "", "s3")}, at: 4 * m, want: ""},
			{at: 5 * m, want: "agg"},
			{add: []ev{get("m4", 30*s, "mallory", "", "s4")}, at: 20 * m, want: ""}, // late, its slice forgotten
		}, 1, 0},
		{"esql rows", []step{
			{add: []ev{get("m1", 0, "mallory", "", "s1"), get("m2", 10*s, "mallory", "", "s2"), get("m3", 20*s, "mallory", "", "s3")}, at: 4 * m, want: ""},
			{at: 5 * m, want: "agg"},
		}, 0, 0},
		{"correlation event_count", []step{
			{add: []ev{get("r1", 0, "mallory", "", ""), get("r2", 30*s, "mallory", "", ""), get("r3", m, "mallory", "", "")}, at: 2 * m, want: ""},
			{at: 5 * m, want: "agg"},
		}, 0, 3},
		{"correlation lt", []step{
			{add: []ev{get("r1", 0, "bob", "", "")}, at: 5 * m, want: ""}, // the window [10:00, 10:05] may still grow
			{at: 5*m + s, want: "agg"},
		}, 0, 1},
		{"panther dedup", []step{
			{add: []ev{get("e1", 0, "mallory", "", ""), get("e2", m, "mallory", "", ""), get("e3", 2*m, "mallory", "", "")}, at: 10 * m, want: ""}, // raised at e2, window open
			{at: 15 * m, want: "e2+2"},
			{add: []ev{get("e4", 3*m, "mallory", "", "")}, at: 30 * m, want: ""}, // late, in the closed window: known
		}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			s := newStreamer(t, byName[tt.kind].eng(t), state.NewMemory())
			for i, st := range tt.steps {
				s.add(st.add...)
				if got := desc(s.advance(st.at)); got != st.want {
					t.Errorf("step %d, advance to %v: %q, want %q", i+1, st.at, got, st.want)
				}
			}
			s.advance(24 * time.Hour)
			held := 0
			for _, n := range s.held() {
				held += n
			}
			if held != tt.held {
				t.Errorf("holds %d entries a day later, want %d", held, tt.held)
			}
			rest, stats := s.finish()
			if len(rest) != 0 {
				t.Errorf("finish raised %s", desc(rest))
			}
			late := 0
			for _, rs := range stats {
				late += rs.Late
			}
			if late != tt.late {
				t.Errorf("%d late, want %d", late, tt.late)
			}
		})
	}
}

// Commit saves the state as of the last Advance: a second processor over
// the same store knows the alerts raised so far.
func TestCommitAfterAdvance(t *testing.T) {
	eng := byName("match")(t)
	store := state.NewMemory()
	s := newStreamer(t, eng, store)
	s.add(ev{at: time.Minute, id: "a"}, ev{at: 8 * time.Minute, id: "b"})
	if got := desc(s.advance(5 * time.Minute)); got != "a" {
		t.Fatalf("first advance: %q", got)
	}
	if err := s.p.Commit(); err != nil {
		t.Fatal(err)
	}
	again := newStreamer(t, eng, store) // a rerun after a crash: the same input
	again.add(ev{at: time.Minute, id: "a"}, ev{at: 8 * time.Minute, id: "b"})
	got, stats := again.finish()
	if desc(got) != "b" || stats[eng.Rules()[0].Key()].Known != 1 {
		t.Errorf("rerun: %q, stats %+v; want only b, a known", desc(got), stats)
	}
}

// Collectors may add while the processor advances (run with -race).
func TestAddWhileAdvancing(t *testing.T) {
	eng := byName("threshold")(t)
	p, err := New(eng.Rules(), state.NewMemory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs := randomEvents(3, 400, time.Hour)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, s := p.NewCollector(), engine.NewScratch()
			var ps event.Parser
			for _, e := range evs[w*200 : (w+1)*200] {
				x, err := ps.Parse([]byte(e.json()))
				if err != nil {
					t.Error(err)
					return
				}
				eng.Match(x, s, func(r *rule.Rule) { c.Add(r, x) })
			}
		}()
	}
	for i := range 20 {
		if _, err := p.Advance(t0.Add(time.Duration(i) * time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if _, _, err := p.Finish(); err != nil {
		t.Fatal(err)
	}
}

// An alert the processor has decided but not returned yet (its run is
// open, or a later match may still fold into it) is left out of what
// Commit saves: a processor killed then, replaying those matches over the
// saved state, raises it.
func TestCommitLeavesOutHeldAlerts(t *testing.T) {
	m := time.Minute
	get := func(id string, at time.Duration, user, ip string) ev { return ev{at: at, id: id, user: user, ip: ip} }
	tests := []struct {
		kind string
		eng  func(t testing.TB) *engine.Engine
		evs  []ev
		at   time.Duration // advance to t0+at, which returns nothing, then commit
		want string        // what the replay raises
	}{
		{"new_terms", byName("new_terms"), []ev{get("a1", m, "alice", "")}, 2 * m, "a1"}, // the sighting is in the history, its run open
		{"suppression", byName("suppression"), []ev{get("a", 0, "", "192.0.2.1"), get("b", 3*m, "", "192.0.2.1")}, 5 * m, "a+1"},
		{"threshold suppressed", oneRule(func(r *rule.Rule) {
			r.Type = "threshold"
			r.Threshold = &rule.Threshold{Fields: []string{"source.address"}, Value: 3}
			r.Suppression = &rule.Suppression{GroupBy: []string{"source.address"}, Duration: 30 * m}
		}), []ev{get("x1", m, "", "192.0.2.1"), get("x2", 2*m, "", "192.0.2.1"), get("x3", 3*m, "", "192.0.2.1")}, 5 * m, "x1+0"},
		{"panther dedup", byName("panther dedup"), []ev{get("e1", 0, "mallory", ""), get("e2", m, "mallory", ""), get("e3", 2*m, "mallory", "")}, 10 * m, "e2+2"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			eng := tt.eng(t)
			store := state.NewMemory()
			s := newStreamer(t, eng, store)
			s.add(tt.evs...)
			if got := desc(s.advance(tt.at)); got != "" {
				t.Fatalf("advance returned %q, want nothing yet", got)
			}
			if err := s.p.Commit(); err != nil {
				t.Fatal(err)
			}
			replay := newStreamer(t, eng, store)
			replay.add(tt.evs...)
			if got, _ := replay.finish(); desc(got) != tt.want {
				t.Errorf("replay raised %q, want %q", desc(got), tt.want)
			}
		})
	}
}

func byName(name string) func(t testing.TB) *engine.Engine {
	for _, k := range kinds {
		if k.name == name {
			return k.eng
		}
	}
	panic("no kind " + name)
}
