package detect

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/panther"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/sigma"
	"github.com/trailhound/trailhound/state"
)

const baseRules = `title: Secret read
id: secret-read
name: secret_read
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: GetSecretValue}
  condition: sel
---
title: Secrets listed
id: secrets-listed
name: secrets_listed
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: ListSecrets}
  condition: sel
`

// burstChain is a correlation over secret_read (three reads in five
// minutes by one actor) and a correlation over it (a listing, then a burst).
const burstChain = `---
title: Burst
id: burst
name: burst
correlation:
  type: event_count
  rules: [secret_read]
  group-by: [actor]
  aliases:
    actor: {secret_read: userIdentity.userName}
  timespan: 5m
  condition: {gte: 3}
  generate: true
---
title: Listing then burst
id: chain
correlation:
  type: temporal_ordered
  rules: [secrets_listed, burst]
  group-by: [actor]
  aliases:
    actor: {secrets_listed: userIdentity.userName}
  timespan: 10m
`

// huntSigma loads Sigma documents and feeds the events through every rule
// whose condition matches, as a hunt does.
func huntSigma(t *testing.T, docs string, evs ...ev) ([]alert.Alert, map[string]RuleStats) {
	t.Helper()
	return huntEngine(t, sigmaEngine(t, docs), state.NewMemory(), evs...)
}

// sigmaEngine compiles Sigma documents (separated by "\n===\n" when they
// are separate files).
func sigmaEngine(t testing.TB, docs string) *engine.Engine {
	t.Helper()
	var rules []*rule.Rule
	for _, d := range strings.Split(docs, "\n===\n") {
		rs, err := sigma.Parse("c.yml", []byte(d), sigma.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rs...)
	}
	if errs := sigma.ApplyFilters(rules); len(errs) > 0 {
		t.Fatal(errs)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// huntEngine runs one hunt of the events over store and commits it.
func huntEngine(t *testing.T, eng *engine.Engine, store state.Store, evs ...ev) ([]alert.Alert, map[string]RuleStats) {
	t.Helper()
	return huntEngineWith(t, eng, store, Options{}, evs...)
}

// huntEngineWith is huntEngine with the processor's options.
func huntEngineWith(t *testing.T, eng *engine.Engine, store state.Store, opts Options, evs ...ev) ([]alert.Alert, map[string]RuleStats) {
	t.Helper()
	return huntCollectors(t, eng, store, opts, evs)
}

// huntCollectors is huntEngineWith with each batch of events matched into
// a collector of its own (as a worker's), the collectors made in order.
func huntCollectors(t *testing.T, eng *engine.Engine, store state.Store, opts Options, batches ...[]ev) ([]alert.Alert, map[string]RuleStats) {
	t.Helper()
	p, err := New(eng.Rules(), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewScratch()
	for _, evs := range batches {
		c := p.NewCollector()
		for _, e := range evs {
			x := e.parse(t)
			eng.Match(x, s, func(r *rule.Rule) { c.Add(r, x) })
		}
	}
	alerts, stats, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	return alerts, stats
}

func names(as []alert.Alert) string {
	var out []string
	for _, a := range as {
		if a.Rule.ID != "many" {
			continue // the base rules the correlation does not read still alert
		}
		s := a.Rule.Name
		if u, ok := a.Fields["userIdentity.userName"]; ok {
			s += "/" + u.(string)
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

func TestCorrelations(t *testing.T) {
	reads := func(user string, n int, start time.Duration, gap time.Duration) []ev {
		var out []ev
		for i := range n {
			out = append(out, ev{at: start + time.Duration(i)*gap, id: user + "-read-" + string(rune('a'+i)), user: user, name: "GetSecretValue", param: "secret-" + string(rune('a'+i%2))})
		}
		return out
	}
	evs := append(reads("mallory", 4, 0, 30*time.Second), reads("alice", 2, 0, time.Minute)...)
	evs = append(evs, reads("bob", 4, 0, 10*time.Minute)...) // too spread out
	evs = append(evs,
		ev{at: 20 * time.Minute, id: "m-list", user: "mallory", name: "ListSecrets"},
		ev{at: 30 * time.Second, id: "a-list", user: "alice", name: "ListSecrets"},
	)
	tests := []struct {
		name, corr string
		want       string
	}{
		{"event_count", `type: event_count
  rules: [secret_read]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {gte: 3}`, "Many/mallory"},
		{"value_count", `type: value_count
  rules: [secret-read]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {field: requestParameters.secretId, gte: 2}`, "Many/mallory,Many/alice,Many/mallory"},
		{"temporal, any order", `type: temporal
  rules: [secret_read, secrets_listed]
  group-by: [userIdentity.userName]
  timespan: 5m`, "Many/alice"},
		{"temporal_ordered", `type: temporal_ordered
  rules: [secrets_listed, secret_read]
  group-by: [userIdentity.userName]
  timespan: 5m`, "Many/alice"},
		{"temporal_ordered, beyond the timespan", `type: temporal_ordered
  rules: [secrets_listed, secret_read]
  group-by: [userIdentity.userName]
  timespan: 10s`, ""},
		{"lt on windows", `type: event_count
  rules: [secret_read]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {lt: 2}`, "Many/bob,Many/bob,Many/bob,Many/bob"},
	}
	for _, tt := range tests {
		doc := baseRules + "---\ntitle: Many\nid: many\nlevel: high\ncorrelation:\n  " + tt.corr + "\n"
		alerts, stats := huntSigma(t, doc, evs...)
		if got := names(alerts); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
		// generate defaults to false: the base rules raise no alerts of their own
		if stats["sigma:secret-read"].Signals == 0 || stats["sigma:secret-read"].Alerts != 0 {
			t.Errorf("%s: base rule stats %+v", tt.name, stats["sigma:secret-read"])
		}
	}
}

func TestCorrelationChainAliasesAndGenerate(t *testing.T) {
	doc := baseRules + burstChain
	evs := []ev{{at: 0, id: "l", user: "mallory", name: "ListSecrets"}}
	for i := range 3 {
		evs = append(evs, ev{at: time.Minute + time.Duration(i)*time.Second, id: "r" + string(rune('0'+i)), user: "mallory", name: "GetSecretValue"})
	}
	alerts, _ := huntSigma(t, doc, evs...)
	var got []string
	for _, a := range alerts {
		got = append(got, a.Rule.ID)
	}
	slices.Sort(got)
	// generate: true keeps the base rule's own alerts (3 reads, 1 listing:
	// the listing feeds only the chained correlation, whose generate is
	// false), then the burst, then the chain
	if strings.Join(got, ",") != "burst,chain,secret-read,secret-read,secret-read" {
		t.Errorf("alerts %v", got)
	}
}

func TestSigmaFilterDocument(t *testing.T) {
	doc := baseRules + `---
title: Not the rotation job
id: f1
logsource: {product: aws, service: cloudtrail}
filter:
  rules: [secret-read]
  rotation:
    userIdentity.userName: rotator
  condition: not rotation
`
	alerts, _ := huntSigma(t, doc,
		ev{at: 0, id: "a", user: "rotator", name: "GetSecretValue"},
		ev{at: time.Second, id: "b", user: "mallory", name: "GetSecretValue"})
	if len(alerts) != 1 || alerts[0].Event.ID != "b" {
		t.Errorf("alerts %v", ids(alerts))
	}
}

// secretsRead is a Panther simple detection of GetSecretValue calls, titled
// by user and deduplicated for 10 minutes, with the extra YAML keys given.
func secretsRead(t *testing.T, extra string) *rule.Rule {
	t.Helper()
	r, err := panther.Parse("p.yml", []byte(`AnalysisType: rule
RuleID: Secrets.Read
DisplayName: Secrets read
Severity: Medium
LogTypes: [AWS.CloudTrail]
DedupPeriodMinutes: 10
Detection:
  - {Key: eventName, Condition: Equals, Value: GetSecretValue}
AlertTitle: "{userIdentity.userName} read secrets"
`+extra))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Panther dedup: matches with the same key within the period form one alert,
// raised at the Threshold-th match; a match after the period opens a new one.
func TestPantherDedup(t *testing.T) {
	mk := func(extra string) *rule.Rule { return secretsRead(t, extra) }
	evs := []ev{
		{at: 0, id: "m1", user: "mallory"}, {at: time.Minute, id: "m2", user: "mallory"}, {at: 2 * time.Minute, id: "m3", user: "mallory"},
		{at: 15 * time.Minute, id: "m4", user: "mallory"}, // a new period
		{at: 0, id: "a1", user: "alice"},
	}
	count := func(r *rule.Rule) ([]alert.Alert, RuleStats) { return hunt(t, r, state.NewMemory(), evs...) }

	alerts, _ := count(mk(""))
	got := map[string]int{}
	for _, a := range alerts {
		got[a.Title+"@"+a.Event.ID] = a.Suppression.DocsCount
	}
	want := map[string]int{"mallory read secrets@m1": 2, "mallory read secrets@m4": 0, "alice read secrets@a1": 0}
	if !maps.Equal(got, want) {
		t.Errorf("dedup by title: %v, want %v", got, want)
	}
	alerts, _ = count(mk("Threshold: 3\n"))
	if len(alerts) != 1 || alerts[0].Event.ID != "m3" || alerts[0].Suppression.DocsCount != 2 {
		t.Errorf("threshold 3: %d alerts %v", len(alerts), ids(alerts))
	}
	alerts, rs := count(mk("CreateAlert: false\n"))
	if len(alerts) != 0 || rs.Signals != 3 {
		t.Errorf("signal rule: %d alerts, %d signals", len(alerts), rs.Signals)
	}
	alerts, _ = count(mk("GroupBy:\n  - {Key: eventSource}\n"))
	if len(alerts) != 2 { // one key for everyone: m1 (with a1, m2, m3) and m4
		t.Errorf("GroupBy: %d alerts %v", len(alerts), ids(alerts))
	}
}

// Output.Later's fields are computed only for the matches that raise an
// alert, from the raising match's record, and reach that alert.
func TestPantherLater(t *testing.T) {
	evs := []ev{
		{at: 0, id: "m1", user: "mallory"}, {at: time.Minute, id: "m2", user: "mallory"}, {at: 2 * time.Minute, id: "m3", user: "mallory"},
		{at: 15 * time.Minute, id: "m4", user: "mallory"}, {at: 0, id: "a1", user: "alice"},
	}
	for _, c := range []struct {
		extra  string
		raised []string // the matches whose alerts got the later fields
	}{
		{"", []string{"a1", "m1", "m4"}},
		{"Threshold: 3\n", []string{"m3"}},
		{"CreateAlert: false\n", nil},
	} {
		r := secretsRead(t, c.extra)
		matches := 0
		var raised []string
		r.Output.Later = func(ev *event.Event) func([]byte) rule.Later {
			matches++
			id := strings.Clone(ev.ID())
			return func(rec []byte) rule.Later {
				if !strings.Contains(string(rec), `"`+id+`"`) {
					t.Errorf("the later fields of %s got the record %s", id, rec)
				}
				raised = append(raised, id)
				return rule.Later{Context: map[string]any{"id": id}, Severity: "high", Description: "d " + id}
			}
		}
		alerts, _ := hunt(t, r, state.NewMemory(), evs...)
		slices.Sort(raised)
		if matches != 5 || !slices.Equal(raised, c.raised) || len(alerts) != len(c.raised) {
			t.Errorf("%q: Later called for %d matches, its fields for %v, %d alerts; want 5, %v", c.extra, matches, raised, len(alerts), c.raised)
		}
		for _, a := range alerts {
			if a.Context["id"] != a.Event.ID || a.Rule.Severity != "high" || a.Description != "d "+a.Event.ID || a.Title != "mallory read secrets" && a.Title != "alice read secrets" {
				t.Errorf("%q: alert of %s: context %v, severity %s, description %q, title %q", c.extra, a.Event.ID, a.Context, a.Rule.Severity, a.Description, a.Title)
			}
		}
	}
}

// A correlation's window spans hunts through the state; reading the same
// events again raises nothing new.
func TestCorrelationAcrossHunts(t *testing.T) {
	eng := sigmaEngine(t, baseRules+`---
title: Many
id: many
correlation:
  type: event_count
  rules: [secret_read]
  group-by: [userIdentity.userName]
  timespan: 30m
  condition: {gte: 3}
`)
	st := state.NewMemory()
	run := func(evs ...ev) int {
		alerts, _ := huntEngine(t, eng, st, evs...)
		n := 0
		for _, a := range alerts {
			if a.Rule.ID == "many" {
				n++
			}
		}
		return n
	}
	if n := run(ev{at: 0, id: "x1", user: "mallory"}, ev{at: time.Minute, id: "x2", user: "mallory"}); n != 0 {
		t.Fatalf("first hunt: %d", n)
	}
	third := ev{at: 5 * time.Minute, id: "x3", user: "mallory"}
	if n := run(third); n != 1 {
		t.Errorf("second hunt: %d alerts, want 1", n)
	}
	if n := run(third); n != 0 {
		t.Errorf("same events again: %d alerts, want 0", n)
	}
}

// Finish decides the rules on parallel goroutines as it does on one: the
// same alerts in the same order, the same stats and the same state, for
// plain rules, correlations over them that nothing reads (which advance
// with the plain rules), a correlation over rules that a correlation reads
// and that one (which must wait for the rules it reads).
func TestFinishParallelAgrees(t *testing.T) {
	doc := baseRules + burstChain + `---
title: Secret deleted
id: secret-deleted
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: DeleteSecret}
  condition: sel
---
title: Many reads
id: many-reads
correlation:
  type: event_count
  rules: [secret_read]
  group-by: [actor]
  aliases:
    actor: {secret_read: userIdentity.userName}
  timespan: 10m
  condition: {gte: 4}
---
title: Reads of few kinds
id: read-kinds
correlation:
  type: value_count
  rules: [secret_read, secrets_listed]
  group-by: [actor]
  aliases:
    actor: {secret_read: userIdentity.userName, secrets_listed: userIdentity.userName}
  timespan: 10m
  condition: {field: eventName, lt: 3}
`
	// plain rules enough that the correlations start while some still run
	for k := range 40 {
		doc += fmt.Sprintf("---\ntitle: Read %d\nid: read-%d\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: GetSecretValue}\n  condition: sel\n", k, k)
	}
	var evs []ev
	for u := range 40 {
		user := fmt.Sprintf("user%d", u)
		start := time.Duration(u) * time.Hour
		evs = append(evs, ev{at: start, id: user + "-l", user: user, name: "ListSecrets"})
		for i := range 3 + u%5 {
			evs = append(evs, ev{at: start + time.Minute + time.Duration(i)*time.Second, id: fmt.Sprintf("%s-r%d", user, i), user: user, name: "GetSecretValue"})
		}
		evs = append(evs, ev{at: start + 2*time.Minute, id: user + "-d", user: user, name: "DeleteSecret"})
	}
	eng := sigmaEngine(t, doc)
	run := func(parallel int) (string, map[string]RuleStats, map[string]*state.Rule) {
		store := state.NewMemory()
		alerts, stats := huntEngineWith(t, eng, store, Options{Parallel: parallel}, evs...)
		var b strings.Builder
		if err := alert.WriteJSONL(&b, alerts); err != nil {
			t.Fatal(err)
		}
		saved := map[string]*state.Rule{}
		for _, r := range eng.Rules() {
			st, err := store.Load(r.Key())
			if err != nil {
				t.Fatal(err)
			}
			saved[r.Key()] = st
		}
		return b.String(), stats, saved
	}
	want, wantStats, wantState := run(1)
	for _, id := range []string{"chain", "many-reads", "read-kinds"} {
		if !strings.Contains(want, `"id":"`+id+`"`) {
			t.Fatalf("correlation %s raised nothing; the test needs it:\n%s", id, want)
		}
	}
	for _, n := range []int{2, 3, 8} {
		got, stats, st := run(n)
		if got != want {
			t.Errorf("Parallel %d: alerts differ:\n%s\nwant\n%s", n, got, want)
		}
		if !maps.Equal(stats, wantStats) {
			t.Errorf("Parallel %d: stats %v, want %v", n, stats, wantStats)
		}
		if !reflect.DeepEqual(st, wantState) {
			t.Errorf("Parallel %d: the saved state differs", n)
		}
	}
}

// One event seen twice at different times (a contradictory redelivery)
// counts once, at its earlier time, whichever collector brought which copy
// first: two workers raised one alert more than one worker when the later
// copies came first.
func TestCorrelationDuplicateKeepsEarliest(t *testing.T) {
	eng := sigmaEngine(t, `title: Many reads
id: many-reads
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: GetSecretValue}
  timeframe: 10m
  condition: sel | count() > 2
`)
	var first, again []ev
	for i := range 4 {
		first = append(first, ev{at: time.Duration(i) * time.Second, id: fmt.Sprint("e", i), user: "u"})
		again = append(again, ev{at: 48*time.Hour + time.Duration(i)*time.Second, id: fmt.Sprint("e", i), user: "u"})
	}
	run := func(batches ...[]ev) string {
		alerts, _ := huntCollectors(t, eng, state.NewMemory(), Options{}, batches...)
		var b strings.Builder
		for _, a := range alerts {
			fmt.Fprintf(&b, "%s %s %s;", a.Rule.ID, a.Time.Format(time.RFC3339), a.ID)
		}
		return b.String()
	}
	want := run(append(append([]ev(nil), first...), again...)) // one worker, in file order
	if !strings.Contains(want, "many-reads") {
		t.Fatalf("the correlation raised nothing: %s", want)
	}
	if got := run(again, first); got != want {
		t.Errorf("later copies first, in another collector:\n%s\nwant\n%s", got, want)
	}
}
