package pyrule

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
)

// The prefilter proves only what rule() needs; what it does not
// understand constrains nothing.
func TestPrefilterAnalysis(t *testing.T) {
	needPython(t)
	cases := []struct{ name, src, want string }{
		{"guard then membership", `
NAMES = {"A", "B"}
def rule(event):
    if event.get("eventSource") != "s3.amazonaws.com":
        return False
    return event.get("eventName") in NAMES`, `eventName in "A", "B"; eventSource in "s3.amazonaws.com"`},
		{"or of names", `
def rule(event):
    return event.get("eventName") == "A" or event.get("eventName") == "B"`, `eventName in "A", "B"`},
		{"or of different fields", `
def rule(event):
    return event.get("eventName") == "A" or event.get("eventSource") == "x"`, "none proven: every CloudTrail event reaches rule()"},
		{"all([...]) and a local constant", `
def rule(event):
    names = ["A", "B"]
    return all([event.get("eventName") in names, event.deep_get("userIdentity", "type") == "Root"])`, `eventName in "A", "B"; userIdentity.type in "Root"`},
		{"a mutated constant is not trusted", `
NAMES = {"A"}
NAMES.add("B")
def rule(event):
    return event.get("eventName") in NAMES`, "none proven: every CloudTrail event reaches rule()"},
		{"a default inside the set passes absent fields", `
def rule(event):
    return event.get("eventName", "A") in {"A", "B"}`, "none proven: every CloudTrail event reaches rule()"},
		{"not-equal constrains nothing", `
def rule(event):
    return event.get("eventName") != "A"`, "none proven: every CloudTrail event reaches rule()"},
		{"prefix, substring, regex literal", `
import re
PAT = re.compile(r":assumed-role/.+/i-[0-9a-f]+$")
def rule(event):
    if not PAT.search(event.deep_get("userIdentity", "arn", default="")):
        return False
    return event.deep_get("userIdentity", "accessKeyId", default="").startswith("ASIA")`,
			`userIdentity.accessKeyId starts with "ASIA"; userIdentity.arn contains ":assumed-role/"`},
		{"success helper and an IP", `
from ipaddress import ip_address
def ok(event):
    if event.get("errorCode") or event.get("errorMessage"):
        return False
    return True
def rule(event):
    try:
        ip_address(event.get("sourceIPAddress"))
    except ValueError:
        return False
    return ok(event) and event.get("eventName") == "A"`,
			`errorCode is empty or missing; errorMessage is empty or missing; eventName in "A"; sourceIPAddress is an IP address`},
		{"a cache write before the guard needs every event", `
from panther_detection_helpers.caching import increment_counter
def rule(event):
    increment_counter("seen")
    return event.get("eventName") == "A"`, "none proven: every CloudTrail event reaches rule()"},
		{"a cache write after the guard", `
from panther_detection_helpers.caching import put_string_set
def rule(event):
    if event.get("eventName") != "A":
        return False
    put_string_set("k", ["v"])
    return False`, `eventName in "A"`},
		{"a global mutated across events needs every event it reaches", `
SEEN = []
def rule(event):
    SEEN.append(event.get("eventID"))
    return event.get("eventName") == "A"`, "none proven: every CloudTrail event reaches rule()"},
		{"an IP check of a field whose default is an address proves nothing of it", `
import ipaddress
def rule(event):
    try:
        ipaddress.ip_address(event.get("sourceIPAddress", "10.0.0.1"))
    except ValueError:
        return False
    return event.get("eventName") == "A"`, `eventName in "A"`},
		{"a field's end through a helper and an if", `
import re
PATS = [re.compile(r"(?i)\.(txt|html?)$"), re.compile(r"notes?\.md$")]
def name(event):
    key = event.deep_get("requestParameters", "key", default="")
    if not key:
        key = event.get("eventID")
    return key.split("/")[-1]
def rule(event):
    return any(p.search(name(event)) for p in PATS)`, `requestParameters.key ends with "note.md" or requestParameters.key ends with "notes.md" or requestParameters.key ends with ".htm" (any case) or requestParameters.key ends with ".html" (any case) or requestParameters.key ends with ".txt" (any case) or requestParameters.key is empty or missing`},
		{"a key with a dot is not a path", `
def rule(event):
    if event.get("userIdentity.type"):
        return False
    return event.get("eventName") == "A"`, `eventName in "A"`},
		{"never true", `
def rule(event):
    return False`, "rule() can never be true: no event reaches it"},
		{"loop over a field", `
def rule(event):
    for k in event.get("p_enrichment", {}).keys():
        if k.endswith("_x"):
            return True
    return False`, "p_enrichment has a value"},
	}
	dir := t.TempDir()
	for i, c := range cases {
		base := fmt.Sprintf("r%02d", i)
		yml := fmt.Sprintf("AnalysisType: rule\nFilename: %s.py\nRuleID: P.%d\nDisplayName: %s\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\n", base, i, base)
		os.WriteFile(filepath.Join(dir, base+".yml"), []byte(yml), 0o644)
		os.WriteFile(filepath.Join(dir, base+".py"), []byte(c.src), 0o644)
	}
	rules, rt := load(t, dir, Options{Workers: 1})
	ids := byID(rules)
	for i, c := range cases {
		r := ids[fmt.Sprintf("P.%d", i)]
		if got := rt.Prefilter(r); got != c.want {
			t.Errorf("%s: %s, want %s (%s)", c.name, got, c.want, r.Unsupported)
		}
	}
}

// A rule's prefilter analysis is kept in the cache directory and not run
// again on the next load; a changed rule file is analysed again (and runs
// as changed), and a changed helper has every rule analysed again.
func TestPrefilterCache(t *testing.T) {
	needPython(t)
	dir, cache := t.TempDir(), t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("global_helpers/th_ok.py", "def ok(event):\n    return not event.get(\"errorCode\")\n")
	for _, id := range []string{"a", "b", "c"} {
		write("rules/"+id+".yml", fmt.Sprintf("AnalysisType: rule\nFilename: %s.py\nRuleID: C.%s\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\n", id, id))
	}
	write("rules/a.py", "from th_ok import ok\n\n\ndef rule(event):\n    return event.get(\"eventName\") == \"A\" and ok(event)\n")
	write("rules/b.py", "def rule(event):\n    return event.get(\"eventName\") == \"B\"\n")
	write("rules/c.py", "def rule(event):\n    return False\n")
	want := map[string]string{
		"C.a": `errorCode is empty or missing; eventName in "A"`,
		"C.b": `eventName in "B"`,
		"C.c": "rule() can never be true: no event reaches it",
	}
	check := func(step string, analysed int) map[string]*rule.Rule {
		t.Helper()
		rules, rt := load(t, dir, Options{Workers: 1, CacheDir: cache})
		if rt.analysed != analysed {
			t.Errorf("%s: %d rules analysed, want %d", step, rt.analysed, analysed)
		}
		ids := byID(rules)
		for id, w := range want {
			if got := rt.Prefilter(ids[id]); got != w {
				t.Errorf("%s: %s: prefilter %s, want %s", step, id, got, w)
			}
		}
		return ids
	}
	check("first load", 3)
	check("second load", 0)
	write("rules/b.py", "def rule(event):\n    return event.get(\"eventName\") == \"Changed\"\n")
	want["C.b"] = `eventName in "Changed"`
	ids := check("b.py changed", 1)
	rt := runtimes[ids["C.b"]]
	for name, exp := range map[string]bool{"Changed": true, "B": false} {
		tt := rule.Test{Name: name, Logs: []json.RawMessage{json.RawMessage(`{"eventName":"` + name + `"}`)}, Expected: exp}
		if ok, msg := rt.Test(ids["C.b"], tt); !ok {
			t.Errorf("b.py changed, event %s: %s", name, msg)
		}
	}
	write("global_helpers/th_ok.py", "def ok(event):\n    return True\n")
	want["C.a"] = `eventName in "A"`
	ids = check("helper changed", 3)
	// the changed helper runs, not its compiled code of before
	tt := rule.Test{Name: "failed call", Logs: []json.RawMessage{json.RawMessage(`{"eventName":"A","errorCode":"AccessDenied"}`)}, Expected: true}
	if ok, msg := runtimes[ids["C.a"]].Test(ids["C.a"], tt); !ok {
		t.Errorf("helper changed: %s", msg)
	}
}

// The prefilter's field conditions admit every event whose rule() is
// true: rules that test the end of a value through a helper (ignoring case,
// with the newline `$` allows, the characters re.IGNORECASE folds beyond
// ASCII) and a field that must be false, over generated records with
// values of every JSON type, each run through Python without the
// prefilter.
func TestPrefilterSuffixSound(t *testing.T) {
	needPython(t)
	rules, on := load(t, "testdata/suffix", Options{Workers: 1})
	rulesOff, off := load(t, "testdata/suffix", Options{Workers: 1, NoPrefilter: true})
	for _, id := range []string{"Test.Suffix.Note", "Test.Suffix.Script"} {
		if pf := on.Prefilter(byID(rules)[id]); !strings.Contains(pf, "requestParameters.key ends with") || !strings.Contains(pf, "errorCode is empty or missing") {
			t.Errorf("%s: prefilter %s", id, pf)
		}
	}
	keys := []string{`""`, `null`, `0`, `false`, `[]`, `{}`, `["a/readme.txt"]`, `{"a":"readme.txt"}`, `7`}
	for _, dir := range []string{"", "a/", "x/y/", "/"} {
		for _, name := range []string{"readme", "HOW_ME", "notes", "x_kis", "x-\u212a\u0131\u017f", "x_KIS", "plain"} {
			for _, ext := range []string{".txt", ".TXT", ".tXt", ".htm", ".HTML", ".Html\n", ".txt\n", ".txt\n\n", ".md", ".MD\n", ".pdf", ".ps1", ".SH", ".sh", ".ps1\n", ""} {
				b, _ := json.Marshal(dir + name + ext)
				keys = append(keys, string(b))
			}
		}
	}
	errorCodes := []string{``, `,"errorCode":null`, `,"errorCode":""`, `,"errorCode":0`, `,"errorCode":0.0`, `,"errorCode":-0e5`,
		`,"errorCode":1e-400`, `,"errorCode":false`, `,"errorCode":[]`, `,"errorCode":{}`, `,"errorCode":"AccessDenied"`, `,"errorCode":1`, `,"errorCode":"0"`}
	var p event.Parser
	matched, admitted, n := 0, 0, 0
	for i, key := range keys {
		for j, ec := range errorCodes {
			if (i+j)%3 != 0 && j > 1 {
				continue // every key with the usual codes, a third of the pairs with the others
			}
			params := fmt.Sprintf(`{"bucketName":"b","key":%s}`, key)
			var res string
			if i%5 == 0 { // the key left out: the file name comes from the resources
				params, res = `{"bucketName":"b"}`, fmt.Sprintf(`,"resources":[{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::b"},{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/%s"}]`, strings.Trim(key, `"`))
			}
			raw := fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject",`+
				`"eventID":"s%d-%d","requestParameters":%s%s%s}`, i, j, params, res, ec)
			for _, id := range []string{"Test.Suffix.Note", "Test.Suffix.Script"} {
				ev, err := p.Parse([]byte(raw))
				if err != nil {
					t.Fatalf("%s: %v", raw, err)
				}
				n++
				r := off.result(ev, off.byRule[byID(rulesOff)[id]])
				if r == nil {
					t.Fatalf("%s: no result", raw)
				}
				in := slices.Contains(on.admitted(ev, engine.NewScratch(), on.newFieldMemo()), on.byRule[byID(rules)[id]])
				if in {
					admitted++
				}
				if r.M {
					matched++
					if !in {
						t.Errorf("%s matches %s, but its prefilter (%s) keeps it out", raw, id, on.Prefilter(byID(rules)[id]))
					}
				}
			}
		}
	}
	t.Logf("%d rule/record pairs: %d match, %d admitted", n, matched, admitted)
	if matched < 50 || admitted > n/2 {
		t.Errorf("%d pairs, %d matches, %d admitted: the test or the prefilter is too loose", n, matched, admitted)
	}
}

// Alert functions but title, dedup and unique run only for the match that
// raises an alert when they are proven to read and write no state; the
// alert is the same.
func TestLaterAnalysis(t *testing.T) {
	needPython(t)
	helper := `from panther_detection_helpers.caching import get_counter

def pure_context(event):
    return {"who": event.deep_get("userIdentity", "userName"), "names": list(NAMES)}

def cached_context(event):
    return {"n": get_counter("k")}

NAMES = ("a", "b")
`
	cases := []struct {
		name, src string
		later     bool
	}{
		{"pure, through a helper", `
from th_later_helpers import pure_context
def rule(event):
    return event.get("eventName") == "CreateUser"
def alert_context(event):
    return pure_context(event)
def severity(event):
    return "HIGH" if event.get("errorCode") else "LOW"`, true},
		{"a cache read through a helper", `
import th_later_helpers
def rule(event):
    return True
def alert_context(event):
    return th_later_helpers.cached_context(event)`, false},
		{"a cache read", `
from panther_detection_helpers.caching import get_string_set
def rule(event):
    return True
def description(event):
    return str(get_string_set("k"))`, false},
		{"a module list rule() appends to", `
SEEN = []
def rule(event):
    SEEN.append(1)
    return True
def alert_context(event):
    return {"seen": len(SEEN)}`, false},
		{"a global", `
N = 0
def rule(event):
    return True
def runbook(event):
    global N
    N += 1
    return str(N)`, false},
		{"a decorated helper", `
import functools
@functools.lru_cache
def look(x):
    return x
def rule(event):
    return True
def alert_context(event):
    return {"x": look(event.get("eventName"))}`, false},
		{"only title and dedup", `
def rule(event):
    return True
def title(event):
    return "t"
def dedup(event):
    return "d"`, false},
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "global_helpers"), 0o755)
	os.MkdirAll(filepath.Join(dir, "rules"), 0o755)
	os.WriteFile(filepath.Join(dir, "global_helpers", "th_later_helpers.py"), []byte(helper), 0o644)
	for i, c := range cases {
		base := fmt.Sprintf("l%02d", i)
		yml := fmt.Sprintf("AnalysisType: rule\nFilename: %s.py\nRuleID: L.%d\nDisplayName: %s\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\n", base, i, base)
		os.WriteFile(filepath.Join(dir, "rules", base+".yml"), []byte(yml), 0o644)
		os.WriteFile(filepath.Join(dir, "rules", base+".py"), []byte(c.src), 0o644)
	}
	// the answer is kept in the cache with the prefilter: the second load
	// reads it there
	cache := t.TempDir()
	var rules []*rule.Rule
	var rt *Runtime
	for _, step := range []string{"analysed", "cached"} {
		rules, rt = load(t, dir, Options{Workers: 1, CacheDir: cache})
		if want := map[string]int{"analysed": len(cases), "cached": 0}[step]; rt.analysed != want {
			t.Errorf("%s: %d rules analysed, want %d", step, rt.analysed, want)
		}
		ids := byID(rules)
		for i, c := range cases {
			r := ids[fmt.Sprintf("L.%d", i)]
			if pr := rt.byRule[r]; pr == nil || pr.functions == nil || pr.later != c.later {
				t.Errorf("%s: %s: later %v, want %v (%s)", step, c.name, pr != nil && pr.later, c.later, r.Unsupported)
			}
		}
	}
	ids := byID(rules)
	// the first rule's alert, its context and severity given when raised
	alerts := huntLines(t, []*rule.Rule{ids["L.0"]}, rec("CreateUser", 0, ""), rec("CreateUser", 1, `,"errorCode":"Denied","userIdentity":{"userName":"bob"}`))
	if len(alerts) != 1 || fmt.Sprint(alerts[0].Context) != "map[names:[a b] who:alice]" || alerts[0].Rule.Severity != "low" || alerts[0].Suppression.DocsCount != 1 {
		t.Fatalf("alerts %+v", alerts)
	}
}
