package hunt

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/builtin"
	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/synth"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from this run")

// TestGoldenAlertIDs hunts the real logs with each rule corpus and compares
// the alert ids, rule by rule, with the ones recorded in testdata/golden: a
// change that alters any alert (an engine rewrite, a faster path) shows
// here as the rule and ids that differ. After a change that means to alter
// alerts, rerun with -update and say why in the commit.
func TestGoldenAlertIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("hunts the whole corpus; run without -short (CI does, before the race pass)")
	}
	const corpus = "../../shared/corpus"
	if _, err := os.Stat(filepath.Join(corpus, "cloudtrail-logs")); err != nil {
		t.Skipf("shared corpus not found at %s: %v", corpus, err)
	}
	sets := []struct {
		name string
		dirs []string // nil: the built-in rules
	}{
		{"builtin", nil},
		{"elastic", []string{"elastic-rules"}},
		{"sigma", []string{"sigma-rules"}},
	}
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			var rules []*rule.Rule
			if set.dirs == nil {
				var err error
				if rules, err = builtin.Rules(); err != nil {
					t.Fatal(err)
				}
			} else {
				var dirs []string
				for _, d := range set.dirs {
					dirs = append(dirs, filepath.Join(corpus, d))
				}
				var errs []error
				if rules, errs = catalog.Load(dirs, catalog.Options{}); len(errs) > 0 {
					t.Fatal(errs)
				}
			}
			eng, err := engine.Compile(rules)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), eng, Options{Paths: []string{filepath.Join(corpus, "cloudtrail-logs")}})
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "golden", set.name+".ids"), res.Alerts)
		})
	}
}

// TestGoldenGeneratedIDs hunts 24 MB that synth multiplies from the real
// logs (copies shifted in time, so aggregations and new terms see the same
// activity again) with the Elastic and Sigma corpora, and compares the alert
// ids with testdata/golden/generated.ids: the ES|QL slices, STATS windows
// and run schedules see more than the real logs give them.
func TestGoldenGeneratedIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and hunts 24 MB; run without -short (CI does, before the race pass)")
	}
	const corpus = "../../shared/corpus"
	if _, err := os.Stat(filepath.Join(corpus, "cloudtrail-logs")); err != nil {
		t.Skipf("shared corpus not found at %s: %v", corpus, err)
	}
	recs, err := synth.Load([]string{filepath.Join(corpus, "cloudtrail-logs")})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), recs, synth.Options{Size: 24 << 20, OutDir: dir}); err != nil {
		t.Fatal(err)
	}
	rules, errs := catalog.Load([]string{filepath.Join(corpus, "elastic-rules"), filepath.Join(corpus, "sigma-rules")}, catalog.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), eng, Options{Paths: []string{dir}, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, filepath.Join("testdata", "golden", "generated.ids"), res.Alerts)
}

// compareGolden compares the alerts' rule and alert ids with the golden
// file at path (rewriting it with -update), reporting the rules whose ids
// differ.
func compareGolden(t *testing.T, path string, alerts []alert.Alert) {
	t.Helper()
	var got []string
	for _, a := range alerts {
		got = append(got, fmt.Sprintf("%s\t%s", a.Rule.ID, a.ID))
	}
	slices.Sort(got)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with go test ./hunt -run Golden -update)", err)
	}
	want := strings.Split(strings.TrimSpace(string(b)), "\n")
	if slices.Equal(got, want) {
		return
	}
	perRule := func(lines []string) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for _, l := range lines {
			r, id, _ := strings.Cut(l, "\t")
			if m[r] == nil {
				m[r] = map[string]bool{}
			}
			m[r][id] = true
		}
		return m
	}
	g, w := perRule(got), perRule(want)
	for r := range merged(g, w) {
		var lost, added int
		for id := range w[r] {
			if !g[r][id] {
				lost++
			}
		}
		for id := range g[r] {
			if !w[r][id] {
				added++
			}
		}
		if lost+added > 0 {
			t.Errorf("rule %s: %d alert ids lost, %d new (was %d, now %d)", r, lost, added, len(w[r]), len(g[r]))
		}
	}
}

func merged(a, b map[string]map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}
