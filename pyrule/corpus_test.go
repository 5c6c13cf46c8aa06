package pyrule

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/hunt"
)

const corpus = "../../shared/corpus"

var update = flag.Bool("update", false, "rewrite testdata/golden from this run")

// compareGolden compares the lines of a hunt's alerts (rule id, alert id,
// title) with those recorded in path: a faster path must not change an
// alert. After a change meant to alter alerts, rerun with -update and say
// why in the commit.
func compareGolden(t *testing.T, path string, got []string) {
	t.Helper()
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with go test ./pyrule -run CorpusHunt -update)", err)
	}
	want := strings.Split(strings.TrimSpace(string(b)), "\n")
	have := map[string]bool{}
	for _, l := range got {
		have[l] = true
	}
	for _, l := range want {
		if !have[l] {
			t.Errorf("alert lost: %s", l)
		}
		delete(have, l)
	}
	for _, l := range got {
		if have[l] {
			t.Errorf("new alert: %s", l)
		}
	}
}

// needCorpusPython skips unless the corpus is there and python3 has the
// modules Panther's rules import (Debian: python3-dateutil,
// python3-pycountry).
func needCorpusPython(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(corpus, "panther-analysis")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/corpus is absent: Panther Python corpus test skipped")
	}
	py, _, err := FindPython("")
	if err != nil {
		t.Skipf("no usable python3 (%v): Panther Python corpus test skipped", err)
	}
	if exec.Command(py, "-c", "import dateutil, pycountry").Run() != nil {
		t.Skipf("%s lacks dateutil or pycountry (Debian: apt-get install python3-dateutil python3-pycountry): Panther Python corpus test skipped", py)
	}
	return dir
}

// Panther's unit tests of the 144 CloudTrail rules: all pass but those of
// the two rules that need policyuniverse (not packaged by Debian). The
// standard rules' tests on other log types (Okta, OneLogin, GSuite...)
// read those log types through trailhound's built-in data models, the
// corpus copy's data_models/ holding only CloudTrail's; with a full
// checkout's data_models/ in TRAILHOUND_PANTHER_DATA_MODELS, its own models
// replace the built-in ones, and the same tests pass.
func TestCorpusUnitTests(t *testing.T) {
	dir := needCorpusPython(t)
	opts := Options{Tests: true}
	if dm := os.Getenv("TRAILHOUND_PANTHER_DATA_MODELS"); dm != "" {
		opts.Helpers = []string{dm}
	}
	rules, rt := load(t, dir, opts)
	pass, fail, notRun, builtin := 0, 0, 0, 0
	for _, r := range rules {
		if r.Type != "panther" {
			continue
		}
		for _, tt := range r.Tests {
			if !rt.Runs(r) {
				notRun++
				if !strings.Contains(r.Unsupported, "No module named 'policyuniverse'") {
					t.Errorf("%s / %s not run: %s", r.ID, tt.Name, r.Unsupported)
				}
				continue
			}
			if m, ok := rt.modelOf(testLogType(tt)); ok && m.Builtin {
				builtin++
			}
			ok, msg := rt.Test(r, tt)
			if ok {
				pass++
				continue
			}
			fail++
			t.Errorf("%s / %s: %s", r.ID, tt.Name, msg)
		}
	}
	t.Logf("%d passed (%d through trailhound's built-in data models), %d failed, %d not run (policyuniverse)", pass, builtin, fail, notRun)
	if pass+fail+notRun != 537 || notRun != 17 || pass != 520 {
		t.Errorf("%d passed, %d failed, %d not run; want 520, 0, 17", pass, fail, notRun)
	}
	if opts.Helpers == nil && builtin == 0 {
		t.Error("no test read a log type through a built-in data model")
	}
}

// The rules over the real logs: no rule() error; the alert function
// errors are those of the rule whose title needs IPinfo enrichment.
func TestCorpusHunt(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Panther Python hunt over the real logs skipped")
	}
	dir := needCorpusPython(t)
	rules, errs := catalog.Load([]string{dir}, catalog.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rt, err := New(context.Background(), rules, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if n := len(rt.Loaded()); n != 127 {
		t.Errorf("%d Python rules loaded, want 127 (144 less 15 disabled and 2 needing policyuniverse)", n)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(batches bool) []string {
		opts := hunt.Options{Paths: []string{filepath.Join(corpus, "cloudtrail-logs")}}
		if batches {
			opts.Prepare = rt.Prepare
		}
		res, err := hunt.Run(context.Background(), eng, opts)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range res.Alerts {
			out = append(out, a.Rule.ID+"\t"+a.ID+"\t"+a.Title)
		}
		slices.Sort(out)
		return out
	}
	batched, single := ids(true), ids(false)
	if len(batched) == 0 {
		t.Error("no alerts on the real logs")
	}
	compareGolden(t, filepath.Join("testdata", "golden", "panther-python.ids"), batched)
	if strings.Join(batched, "\n") != strings.Join(single, "\n") {
		t.Errorf("%d alerts with batches, %d one event at a time, or they differ", len(batched), len(single))
	}
	for _, e := range rt.Errors() {
		if e.Errors > 0 || e.Rule.ID != "AWS.Console.RootLogin" {
			t.Errorf("%s: %d rule() errors, %d alert function errors: %q", e.Rule.ID, e.Errors, e.AuxErrors, e.First)
		}
	}
	st := rt.Stats()
	t.Logf("%d alerts; %d events reached Python (%d rule() calls), in two hunts", len(batched), st.Events, st.RuleCalls)
}

// The prefilter loses no match Panther's own unit tests know of: every
// CloudTrail test event a rule is expected to match (without mocks, which
// change what the rule's helpers return) reaches the rule's Python.
func TestCorpusPrefilterSound(t *testing.T) {
	dir := needCorpusPython(t)
	rules, rt := load(t, dir, Options{Workers: 1})
	var p event.Parser
	checked := 0
	for _, r := range rules {
		pr := rt.byRule[r]
		if pr == nil || pr.functions == nil {
			continue
		}
		for _, tt := range r.Tests {
			if !tt.Expected || len(tt.Mocks) > 0 || tt.HasMocks || len(tt.Logs) != 1 || (tt.LogType != "" && tt.LogType != "AWS.CloudTrail") {
				continue
			}
			ev, err := p.Parse(tt.Logs[0])
			if err != nil || ev.Kind != event.KindCloudTrail {
				continue // not a CloudTrail record to trailhound: no Python rule sees it
			}
			checked++
			in := slices.Contains(rt.admitted(ev, engine.NewScratch(), rt.newFieldMemo()), pr)
			if !in {
				t.Errorf("%s / %s: expected to match, but the prefilter (%s) keeps it from rule()", r.ID, tt.Name, rt.Prefilter(r))
			}
		}
	}
	if checked < 150 {
		t.Errorf("only %d matching test events checked", checked)
	}
	t.Logf("%d test events expected to match, all admitted", checked)
}
