package pyrule

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
