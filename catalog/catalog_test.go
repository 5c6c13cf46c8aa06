package catalog

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/trailhound/trailhound/rule"
)

func TestLoadEveryFormat(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"e.toml":       "[rule]\nrule_id = \"e1\"\nname = \"E\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action: StopLogging\"\n",
		"e.tests.yaml": "Tests:\n  - Name: stop\n    ExpectedResult: true\n    Log: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}\n",
		"s.yml":        "title: S\nid: s1\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: StopLogging}\n  condition: sel\n",
		"p.yaml":       "AnalysisType: rule\nRuleID: p1\nDisplayName: P\nSeverity: High\nLogTypes: [AWS.CloudTrail]\nDetection:\n  - {Key: eventName, Condition: Equals, Value: StopLogging}\n",
		"notes.txt":    "not a rule",
	}
	for n, c := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
	}
	rules, errs := Load([]string{dir}, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := map[string]string{}
	for _, r := range rules {
		got[r.ID] = r.Format
		if !r.Runnable() {
			t.Errorf("%s: %s", r.ID, r.Unsupported)
		}
		if r.ID == "e1" && (len(r.Tests) != 1 || r.Tests[0].Path != filepath.Join(dir, "e.tests.yaml")) {
			t.Errorf("sidecar tests: %+v", r.Tests)
		}
	}
	if got["e1"] != "elastic" || got["s1"] != "sigma" || got["p1"] != "panther" || len(rules) != 3 {
		t.Errorf("formats: %v", got)
	}
	os.WriteFile(filepath.Join(dir, "bad.yml"), []byte("title: [unclosed"), 0o644)
	if _, errs := Load([]string{dir}, Options{}); len(errs) != 1 {
		t.Errorf("broken file: %v", errs)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("x"), 0o644)
	misnamed := filepath.Join(dir, "misnamed")
	os.Mkdir(misnamed, 0o755)
	os.WriteFile(filepath.Join(misnamed, "s.yml"), []byte("title: S\nid: s1\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: StopLogging}\n  condition: sel\n"), 0o644)
	os.WriteFile(filepath.Join(misnamed, "s.test.yaml"), []byte("Tests: []\n"), 0o644)
	os.WriteFile(filepath.Join(misnamed, "t.test.yml"), []byte("Tests: []\n"), 0o644)
	tests := []struct {
		path    string
		rules   int
		want    []string
		noRules bool
	}{
		{filepath.Join(dir, "nope"), 0, []string{"rules " + filepath.Join(dir, "nope") + ": no rule files: the path does not exist"}, true},
		{empty, 0, []string{"rules " + empty + ": no rule files (.toml, .yml, .yaml) in it"}, true},
		{misnamed, 1, []string{filepath.Join(misnamed, "s.test.yaml") + ": not a rule file; did you mean .tests.yaml?", filepath.Join(misnamed, "t.test.yml") + ": not a rule file; did you mean .tests.yaml?"}, false},
	}
	for _, tt := range tests {
		rules, errs := Load([]string{tt.path}, Options{})
		if len(rules) != tt.rules || len(errs) != len(tt.want) {
			t.Errorf("%s: %d rules, errors %v", tt.path, len(rules), errs)
			continue
		}
		for i, err := range errs {
			if err.Error() != tt.want[i] || errors.Is(err, ErrNoRules) != tt.noRules {
				t.Errorf("%s: error %q, want %q", tt.path, err, tt.want[i])
			}
		}
	}
}

// Every ATT&CK id of the corpus rules gets a name, whatever the rule's
// format gives (Sigma and Panther give ids only).
func TestCorpusAttackNames(t *testing.T) {
	const corpus = "../../shared/corpus"
	if _, err := os.Stat(corpus); err != nil {
		t.Skipf("shared corpus not found at %s: %v", corpus, err)
	}
	// Newer than our table (ATT&CK's defense-impairment techniques) or not
	// Enterprise (ICS): left without a name rather than guessed.
	unknown := map[string]bool{"T1685": true, "T1685.002": true, "T1686": true, "T1686.001": true, "T0024": true, "T0024.000": true, "T0054": true}
	rules, _ := Load([]string{corpus + "/elastic-rules", corpus + "/sigma-rules", corpus + "/panther-rules"}, Options{})
	checked := 0
	for _, r := range rules {
		for _, th := range r.Threat {
			refs := []rule.Ref{th.Tactic}
			for _, tech := range th.Techniques {
				refs = append(refs, tech.Ref)
				refs = append(refs, tech.Subtechniques...)
			}
			for _, ref := range refs {
				if ref.ID == "" || unknown[ref.ID] {
					continue
				}
				checked++
				if ref.Name == "" {
					t.Errorf("%s: %s has no name", r.Path, ref.ID)
				}
			}
		}
	}
	if checked < 500 {
		t.Errorf("only %d ATT&CK references checked", checked)
	}
}

// Files are parsed on every core; the rules and errors come in the same
// order as on one, for the whole public corpus (run under -race, the
// parsers' safety for concurrent use).
func TestLoadParallelKeepsOrder(t *testing.T) {
	dirs := []string{"../../shared/corpus/elastic-rules", "../../shared/corpus/sigma-rules", "../../shared/corpus/panther-rules"}
	for _, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			t.Skipf("shared corpus not found at %s: %v", d, err)
		}
	}
	summary := func() []string {
		rules, errs := Load(dirs, Options{})
		var out []string
		for _, r := range rules {
			out = append(out, r.Key()+" "+r.Path+" "+r.Unsupported)
		}
		for _, e := range errs {
			out = append(out, "error "+e.Error())
		}
		return out
	}
	prev := runtime.GOMAXPROCS(1)
	one := summary()
	runtime.GOMAXPROCS(max(prev, 4))
	many := summary()
	runtime.GOMAXPROCS(prev)
	if len(one) < 300 {
		t.Fatalf("%d rules and errors from the corpus, want 300 or more", len(one))
	}
	if !slices.Equal(one, many) {
		t.Errorf("parsed on one core and on several, the rules differ:\n one %d: %q\nmany %d: %q", len(one), one[:5], len(many), many[:5])
	}
}

// A file whose reading or parsing panics is an error naming it, in its
// place among the others; the other files load.
func TestLoadPanicIsAnError(t *testing.T) {
	files := map[string]string{
		"rules/a.yml": "title: A\nid: 0b0b0b0b-0000-4000-8000-00000000000a\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: A}\n  condition: sel\n",
		"rules/b.yml": "title: B\n",
		"rules/c.yml": "title: C\nid: 0b0b0b0b-0000-4000-8000-00000000000c\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: C}\n  condition: sel\n",
	}
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	walk := func(root string, fn fs.WalkDirFunc) error { return fs.WalkDir(fsys, root, fn) }
	read := func(name string) ([]byte, error) {
		if name == "rules/b.yml" {
			panic("boom")
		}
		return fs.ReadFile(fsys, name)
	}
	rules, errs := load([]string{"rules"}, walk, read, Options{})
	if len(rules) != 2 || rules[0].Name != "A" || rules[1].Name != "C" {
		t.Errorf("rules %v, want A and C", rules)
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "rules/b.yml: ") || !strings.Contains(errs[0].Error(), "boom") {
		t.Errorf("errors %v, want one naming rules/b.yml and the panic", errs)
	}
}

// Without tests (a hunt), Panther Tests blocks and sidecars are not read:
// an error in them is reported only when tests are loaded.
func TestLoadWithoutTests(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"e.toml":       "[rule]\nrule_id = \"e1\"\nname = \"E\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action: StopLogging\"\n",
		"e.tests.yaml": "Tests:\n  - Name: stop\n    ExpectedResult: true\n    Log: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}\n",
		"p.yaml": "AnalysisType: rule\nRuleID: p1\nDisplayName: P\nSeverity: High\nLogTypes: [AWS.CloudTrail]\nTests:\n  - Name: no log\n    ExpectedResult: true\n" +
			"Detection:\n  - {Key: eventName, Condition: Equals, Value: StopLogging}\n",
	}
	for n, c := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
	}
	if rules, errs := Load([]string{dir}, Options{}); len(errs) != 1 || !strings.Contains(errs[0].Error(), `test "no log" has no Log`) || len(rules) != 1 {
		t.Errorf("with tests: %d rules, errors %v", len(rules), errs)
	}
	rules, errs := Load([]string{dir}, Options{NoTests: true})
	if len(errs) > 0 || len(rules) != 2 {
		t.Fatalf("without tests: %d rules, errors %v", len(rules), errs)
	}
	for _, r := range rules {
		if len(r.Tests) != 0 || !r.Runnable() {
			t.Errorf("%s: %d tests, %s", r.ID, len(r.Tests), r.Unsupported)
		}
	}
}
