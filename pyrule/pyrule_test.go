package pyrule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/hunt"
	"github.com/trailhound/trailhound/rule"
)

// needPython skips a test on a machine without python3.
func needPython(t testing.TB) {
	t.Helper()
	if _, _, err := FindPython(""); err != nil {
		t.Skipf("no usable python3 (%v): Python rule tests skipped", err)
	}
}

func load(t testing.TB, dir string, opts Options) ([]*rule.Rule, *Runtime) {
	t.Helper()
	rules, errs := catalog.Load([]string{dir}, catalog.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	rt, err := New(context.Background(), rules, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	if rt != nil {
		for _, r := range rules {
			runtimes[r] = rt
		}
	}
	return rules, rt
}

// runtimes are the runtimes load made, by their rules.
var runtimes = map[*rule.Rule]*Runtime{}

func runtimeOf(rules []*rule.Rule) *Runtime {
	for _, r := range rules {
		if rt := runtimes[r]; rt != nil {
			return rt
		}
	}
	return nil
}

func byID(rules []*rule.Rule) map[string]*rule.Rule {
	m := map[string]*rule.Rule{}
	for _, r := range rules {
		m[r.ID] = r
	}
	return m
}

// huntLines runs the rules over CloudTrail records (one JSON object a
// line) and returns the alerts; the Python events go to the workers a
// batch at a time.
func huntLines(t *testing.T, rules []*rule.Rule, lines ...string) []alert.Alert {
	return huntWith(t, rules, true, lines...)
}

// huntWith is huntLines, with batches or an event at a time.
func huntWith(t *testing.T, rules []*rule.Rule, batches bool, lines ...string) []alert.Alert {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	opts := hunt.Options{Paths: []string{path}, Workers: 1}
	if rt := runtimeOf(rules); rt != nil && batches {
		opts.Prepare = rt.Prepare
	}
	res, err := hunt.Run(context.Background(), eng, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Summary.Errors) > 0 {
		t.Fatal(res.Summary.Errors)
	}
	return res.Alerts
}

var recN int

// rec is an IAM record named name at minute minute, with extra fields.
func rec(name string, minute int, extra string) string {
	recN++
	return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2024-05-01T10:%02d:00Z","eventSource":"iam.amazonaws.com","eventName":%q,`+
		`"sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","userName":"alice"},"eventID":"e%d"%s}`, minute, name, recN, extra)
}

// Python rules run in a hunt: the event API, the data model, the helpers,
// title, dedup, severity and alert context reach the alerts, and the
// cache is shared across rules.
func TestHunt(t *testing.T) {
	needPython(t)
	rules, rt := load(t, "testdata/checkout", Options{})
	ids := byID(rules)
	for _, id := range []string{"Test.KeyCreated", "Test.NewUser", "Test.NewUserLogin"} {
		if r := ids[id]; r == nil || !r.Runnable() {
			t.Fatalf("%s: not runnable: %+v", id, r)
		}
	}
	if pf := rt.Prefilter(ids["Test.KeyCreated"]); pf != `errorCode is empty or missing; errorMessage is empty or missing; eventName in "CreateAccessKey", "UpdateAccessKey"; eventSource in "iam.amazonaws.com"` {
		t.Errorf("KeyCreated prefilter: %s", pf)
	}
	if pf := rt.Prefilter(ids["Test.NewUserLogin"]); pf != `eventName in "ConsoleLogin"` {
		t.Errorf("NewUserLogin prefilter (through the data model method): %s", pf)
	}
	alerts := huntLines(t, rules,
		rec("CreateAccessKey", 0, `,"requestParameters":{"userName":"root"}`),
		rec("CreateAccessKey", 1, `,"requestParameters":{"userName":"bob"}`),
		rec("CreateAccessKey", 2, `,"errorCode":"AccessDenied"`),
		rec("ListUsers", 3, ""),
		rec("CreateUser", 4, `,"requestParameters":{"userName":"carol"}`),
		`{"eventVersion":"1.08","eventTime":"2024-05-01T11:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventID":"l1","userIdentity":{"type":"IAMUser","userName":"carol"}}`,
		`{"eventVersion":"1.08","eventTime":"2024-05-01T11:00:01Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","eventID":"l2","userIdentity":{"type":"IAMUser","userName":"dave"}}`,
	)
	var keys, logins []alert.Alert
	for _, a := range alerts {
		switch a.Rule.ID {
		case "Test.KeyCreated":
			keys = append(keys, a)
		case "Test.NewUserLogin":
			logins = append(logins, a)
		default:
			t.Errorf("unexpected alert of %s (signal rules raise none)", a.Rule.ID)
		}
	}
	// two matches with one dedup string (the actor) in 60 minutes: one alert
	if len(keys) != 1 {
		t.Fatalf("KeyCreated: %d alerts, want 1", len(keys))
	}
	a := keys[0]
	if a.Title != "alice created an access key for root" || a.Rule.Severity != "critical" || a.Suppression.Terms["dedup"] != "alice" || a.Suppression.DocsCount != 1 {
		t.Errorf("KeyCreated alert: title %q severity %q dedup %v docs %d", a.Title, a.Rule.Severity, a.Suppression.Terms, a.Suppression.DocsCount)
	}
	ctx, _ := json.Marshal(a.Context)
	for _, want := range []string{`"source":"iam.amazonaws.com"`, `"who":"alice"`, `"time":"2024-05-01 10:00:00.000000000"`, `"log_type":"AWS.CloudTrail"`,
		`"ips":["203.0.113.9"]`, `"case":"203.0.113.9"`, `"row":"`} {
		if !strings.Contains(string(ctx), want) {
			t.Errorf("alert context %s lacks %s", ctx, want)
		}
	}
	// one rule's cache write is another's read: only carol is new
	if len(logins) != 1 || logins[0].Title != "New user carol logged in (login 1)" {
		var titles []string
		for _, a := range logins {
			titles = append(titles, a.Title)
		}
		t.Errorf("NewUserLogin alerts: %q", titles)
	}
	if errs := rt.Errors(); len(errs) > 0 {
		t.Errorf("rule errors: %+v", errs)
	}
}

// The prefilter sends only the events a rule can match, and the alerts
// are the same without it.
func TestPrefilterSameAlerts(t *testing.T) {
	needPython(t)
	lines := []string{rec("CreateAccessKey", 0, ""), rec("ListUsers", 1, ""), rec("UpdateAccessKey", 2, `,"userIdentity":{"userName":"bob"}`)}
	var titles [3][]string
	var events [3]int64
	for i, mode := range []struct{ off, batches bool }{{false, true}, {false, false}, {true, true}} {
		rules, rt := load(t, "testdata/checkout", Options{NoPrefilter: mode.off})
		for _, a := range huntWith(t, rules, mode.batches, lines...) {
			titles[i] = append(titles[i], a.Rule.ID+": "+a.Title)
		}
		events[i] = rt.Stats().Events
	}
	if strings.Join(titles[0], "|") != strings.Join(titles[1], "|") || strings.Join(titles[0], "|") != strings.Join(titles[2], "|") || len(titles[0]) != 2 {
		t.Errorf("alerts with prefilter, in batches %q, one at a time %q; without prefilter %q", titles[0], titles[1], titles[2])
	}
	if events[0] != 2 || events[1] != 2 || events[2] != 3 {
		t.Errorf("events reaching Python: %d and %d with the prefilter (want 2), %d without (want 3)", events[0], events[1], events[2])
	}
}

// Rule tests run as Panther's runner does, Mocks included.
func TestUnitTests(t *testing.T) {
	needPython(t)
	rules, rt := load(t, "testdata/checkout", Options{Tests: true})
	r := byID(rules)["Test.KeyCreated"]
	if len(r.Tests) != 3 || len(r.Tests[2].Mocks) != 1 {
		t.Fatalf("tests: %+v", r.Tests)
	}
	for _, tt := range r.Tests {
		if pass, msg := rt.Test(r, tt); !pass {
			t.Errorf("%s: %s", tt.Name, msg)
		}
	}
	// a wrong expectation fails, saying what differed
	bad := r.Tests[0]
	bad.Expected = false
	if pass, msg := rt.Test(r, bad); pass || msg != "rule() returned true, expected false" {
		t.Errorf("inverted test: %v %q", pass, msg)
	}
	bad = r.Tests[0]
	bad.ExpectedTitle = "something else"
	if pass, msg := rt.Test(r, bad); pass || !strings.Contains(msg, `title "alice created an access key for bob", expected "something else"`) {
		t.Errorf("wrong title: %v %q", pass, msg)
	}
}

// Bad Python: each problem is reported with the rule and file, and the
// other rules go on.
func TestBadInput(t *testing.T) {
	needPython(t)
	rules, rt := load(t, "testdata/bad", Options{Timeout: 300 * time.Millisecond, Workers: 1})
	ids := byID(rules)
	for id, want := range map[string]string{
		"Bad.Syntax":        "Python error loading syntax.py: SyntaxError: expected ':' (syntax.py:1)",
		"Bad.MissingModule": "Python error loading missing.py: ModuleNotFoundError: No module named 'trailhound_no_such_module' (missing.py:1)",
	} {
		if got := ids[id].Unsupported; got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
	alerts := huntLines(t, rules,
		rec("Good", 0, `,"requestParameters":{"spin":true}`), rec("Good", 1, ""), rec("Never", 2, `,"requestParameters":{"die":true}`),
		rec("Good", 3, ""), rec("Never", 4, `,"requestParameters":{"block":true}`), rec("LateDie", 5, ""),
	)
	good, late := 0, 0
	for _, a := range alerts {
		switch a.Rule.ID {
		case "Bad.Good":
			good++
		case "Bad.LateDies": // its alert_context killed the worker: the alert keeps the defaults
			late++
			if a.Context != nil {
				t.Errorf("Bad.LateDies context %v", a.Context)
			}
		}
	}
	if late != 1 {
		t.Errorf("the rule whose alert_context kills its worker raised %d alerts, want 1", late)
	}
	if good != 1 { // two matches, one dedup window
		t.Errorf("the good rule raised %d alerts, want 1", good)
	}
	errs := map[string]ErrorCount{}
	for _, e := range rt.Errors() {
		errs[e.Rule.ID] = e
	}
	for id, want := range map[string]string{
		"Bad.Loop":    "rule() ran past the time limit of 0.3s",
		"Bad.NonBool": "rule() returned str 'Good', not a bool",
		"Bad.Dies":    "python worker died (exit status 7)",
		"Bad.Block":   "python worker: no answer in time, killed",
	} {
		e := errs[id]
		if e.Errors == 0 || !strings.Contains(strings.Join(e.First, "\n"), want) {
			t.Errorf("%s errors: %+v, want one with %q", id, e, want)
		}
	}
	if e := errs["Bad.LateDies"]; e.Errors != 0 || e.AuxErrors != 1 || !strings.Contains(strings.Join(e.First, "\n"), "alert functions: python worker died (exit status 9)") {
		t.Errorf("Bad.LateDies errors: %+v", e)
	}
	if e := errs["Bad.Good"]; e.Errors != 0 {
		t.Errorf("the good rule had errors: %+v", e)
	}
}

// Without python3 the Python rules are listed as needing it.
func TestNoPython(t *testing.T) {
	rules, errs := catalog.Load([]string{"testdata/checkout"}, catalog.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rt, err := New(context.Background(), rules, Options{Python: filepath.Join(t.TempDir(), "no-python3")})
	if !errors.Is(err, ErrNoPython) || rt != nil {
		t.Fatalf("New: %v, %v", rt, err)
	}
	for _, r := range rules {
		if IsPython(r) && (r.Runnable() || !strings.HasPrefix(r.Unsupported, "needs python3 (")) {
			t.Errorf("%s: runnable %v, %q", r.ID, r.Runnable(), r.Unsupported)
		}
	}
}

// unique(): a Threshold of distinct values, not of matches; the alert
// functions' results in the alert.
func TestUnique(t *testing.T) {
	needPython(t)
	rules, _ := load(t, "testdata/unique", Options{})
	login := func(minute int, ip string) string {
		return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2024-05-01T10:%02d:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin",`+
			`"sourceIPAddress":%q,"userIdentity":{"type":"IAMUser","userName":"alice"},"responseElements":{"ConsoleLogin":"Failure"},"eventID":"u%d"}`, minute, ip, minute)
	}
	// four failures from two addresses: no alert; a third address: one
	alerts := huntLines(t, rules, login(0, "192.0.2.1"), login(1, "192.0.2.1"), login(2, "192.0.2.2"), login(3, "192.0.2.2"))
	if len(alerts) != 0 {
		t.Errorf("two addresses: %d alerts", len(alerts))
	}
	alerts = huntLines(t, rules, login(0, "192.0.2.1"), login(1, "192.0.2.1"), login(2, "192.0.2.2"), login(3, "192.0.2.3"), login(4, "192.0.2.3"))
	if len(alerts) != 1 || alerts[0].Event.ID != "u3" || alerts[0].Title != "failed logins of alice" || alerts[0].Suppression.DocsCount != 4 {
		for _, a := range alerts {
			t.Logf("%s %s %+v", a.Event.ID, a.Title, a.Suppression)
		}
		t.Errorf("three addresses: %d alerts, want one at u3 counting the window's 5 matches", len(alerts))
	}
	if a := alerts[0]; a.Rule.Guide != "Ask alice whether these were their attempts." || len(a.Rule.References) != 1 || a.Rule.References[0] != "https://example.com/spray" {
		t.Errorf("runbook() and reference(): %q %q", a.Rule.Guide, a.Rule.References)
	}
	if a := alerts[0]; a.Description != "alice failed to sign in from several addresses." || strings.Join(a.Destinations, ",") != "security-slack,pagerduty" {
		t.Errorf("description() and destinations(): %q %q", a.Description, a.Destinations)
	}
}

// Alert functions called from many goroutines at once, on two workers,
// each get their own record's answer: a worker's answer is decoded before
// the worker goes back to the pool, whose next call reuses its buffer.
func TestAlertFieldsConcurrent(t *testing.T) {
	needPython(t)
	rules, rt := load(t, "testdata/checkout", Options{Workers: 2})
	pr := rt.byRule[byID(rules)["Test.KeyCreated"]]
	if !pr.later {
		t.Fatal("Test.KeyCreated: alert_context and severity not run later")
	}
	raws := make([][][]byte, 8) // rec counts: made before the goroutines
	for g := range raws {
		for i := range 25 {
			user := fmt.Sprintf("user%d-%d", g, i)
			if i%2 == 0 {
				user = "root"
			}
			raws[g] = append(raws[g], []byte(rec("CreateAccessKey", i, fmt.Sprintf(`,"requestParameters":{"userName":%q}`, user))))
		}
	}
	var wg sync.WaitGroup
	for g := range raws {
		wg.Go(func() {
			for i, raw := range raws[g] {
				user, want := fmt.Sprintf("user%d-%d", g, i), ""
				if i%2 == 0 {
					user, want = "root", "critical"
				}
				var p event.Parser
				ev, err := p.Parse(raw)
				if err != nil {
					t.Error(err)
					return
				}
				l := rt.alertFields(pr, header(ev, []*pyRule{pr}), place(ev), raw)
				if l.Severity != want || l.Context["row"] != rowID(ev) {
					t.Errorf("%s: severity %q, row %v; want %q, %s", user, l.Severity, l.Context["row"], want, rowID(ev))
				}
			}
		})
	}
	wg.Wait()
	if errs := rt.Errors(); len(errs) > 0 {
		t.Errorf("errors: %+v", errs)
	}
}
