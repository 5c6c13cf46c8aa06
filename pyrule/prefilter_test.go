package pyrule

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
