package pyrule

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/event"
)

// exactFuzzRules are fixture rules of the shapes the worker's analysis
// finds exact (every one must be: the fuzz target checks), reading a few
// short keys so that mutated records reach them.
var exactFuzzRules = []string{`
def rule(event):
    return event.get("eventName") == "A" or event.get("eventName", "") in ("B", "C\u00e9")
def title(event):
    return f"{event.get('k')!s} by {event.deep_get('userIdentity', 'arn')}"`, `
NAMES = frozenset({"A", "B"})
def rule(event):
    if event.get("k") is None:
        return False
    elif event.get("eventName") not in NAMES:
        return event.deep_get("userIdentity", "type", default="") != "Root"
    return "x" in event.get("k")
def title(event):
    return "k=" + event.get("k", "-")
def dedup(event):
    return event.deep_get("userIdentity", "arn")`, `
def ok(event):
    if event.get("errorCode") or event.get("errorMessage", {}):
        return False
    return True
def rule(event):
    name = event.get("eventName", "")
    return ok(event) and name.startswith(("A", "Get")) and not name.endswith("x")
def title(event):
    return event.get("k")`, `
def rule(event):
    return event["k"] == "A" and event.deep_get("a", "b", "c") is not None
def dedup(event):
    return event.get("k")`, `
def rule(event):
    if event.deep_get("userIdentity", "type"):
        return event.get("eventName") in {"A", "\u212a"}
    return False`, `
import zhelp
from zhelp import quiet
def rule(event):
    return quiet(event) and event.get("eventName") in zhelp.NAMES
def title(event):
    return f"{event.get('eventName')}: {event.get('k')!s}"
def dedup(event):
    return event.get("k", "") + "/" + event.deep_get("userIdentity", "arn", default="")`,
}

// exactFuzzHelper is a helper module the last fixture rule imports.
const exactFuzzHelper = `
NAMES = frozenset({"A", "GetA", "\u212a"})
def quiet(event):
    if event.get("errorCode") is not None:
        return False
    return not event.deep_get("userIdentity", "type", default="").endswith("Role")
`

// exactFuzzCheck loads the fixture rules (once per fuzzing process) and
// returns a check of one record: whatever Go decides for them is what the
// Python worker answers.
func exactFuzzCheck(f *testing.F) func(t *testing.T, raw []byte) {
	needPython(f)
	dir := f.TempDir()
	writeFiles(f, dir, map[string]string{"global_helpers/zhelp.py": exactFuzzHelper})
	for i, src := range exactFuzzRules {
		base := fmt.Sprintf("z%02d", i)
		yml := fmt.Sprintf("AnalysisType: rule\nFilename: %s.py\nRuleID: Z.%d\nDisplayName: %s\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\nDedupPeriodMinutes: 60\n", base, i, base)
		writeFiles(f, dir, map[string]string{base + ".yml": yml, base + ".py": src})
	}
	rules, on := load(f, dir, Options{Workers: 1})
	_, off := load(f, dir, Options{Workers: 1, NoPrefilter: true})
	offRule := map[string]*pyRule{}
	for _, pr := range off.rules {
		offRule[pr.r.ID] = pr
	}
	var exact []*pyRule
	for _, r := range rules {
		pr := on.byRule[r]
		if pr == nil || pr.exact == nil {
			f.Fatalf("%s: not decided in Go; the fixture is no exact shape: %s", r.ID, r.Query)
		}
		exact = append(exact, pr)
	}
	return func(t *testing.T, raw []byte) {
		if !json.Valid(raw) { // records are validated before they reach the rules
			return
		}
		var p event.Parser
		ev, err := p.Parse(raw)
		if err != nil || ev.Kind != event.KindCloudTrail {
			return
		}
		c := &exactChecker{t: t, off: off, offRule: offRule, perRuleGo: map[string]int{}}
		c.check(ev, exact, "fuzzed")
		c.flush()
	}
}

// FuzzExactSameAsPython: on any record (valid JSON), whatever Go decides
// for the fixture rules (rule() false, or a match with its title and dedup
// key) is what the Python worker answers, without an error.
func FuzzExactSameAsPython(f *testing.F) {
	check := exactFuzzCheck(f)
	for _, s := range []string{
		`{"eventVersion":"1","eventName":"A","k":"x","userIdentity":{"type":"IAMUser","arn":"arn:a"}}`,
		`{"eventName":"B","eventID":"e","k":null,"a":{"b":{"c":1}},"userIdentity":{"type":"Root"}}`,
		`{"eventName":"GetX","eventID":"e","K":"axb","errorCode":"","errorMessage":[],"userIdentity":null}`,
		`{"eventName":"Ca\u0301","eventID":"e","k":"\u00e9\ud83d\ude00","userIdentity":{"TYPE":"x","Arn":"q"}}`,
		`{"eventName":"\u212a","eventID":"e","\u212a":"x","k":"x\u0000y","userIdentity":{"type":1e400,"arn":-0}}`,
		`{"eventName":"A","eventName":"B","eventID":"e","k":"A","k":"B","a":{"b":null},"userIdentity":{"type":"T","type":""}}`,
		`{"eventName":"A","eventID":"e","k":"\ud800","userIdentity":{"type":"T","arn":"\\ud800"}}`,
		`{"eventName":"Get","eventID":"e","k":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","userIdentity":{"type":"T","arn":0.0}}`,
	} {
		f.Add([]byte(s))
	}
	long := strings.Repeat("\u00e9", 996)
	f.Add([]byte(`{"eventName":"A","eventID":"e","k":"` + long + `","userIdentity":{"arn":"\ud83d\ude00x"}}`))
	f.Add([]byte(`{"eventName":"GetA","eventID":"e","k":"` + long + `abcdef"}`))
	f.Fuzz(check)
}

// FuzzExactFields is FuzzExactSameAsPython on records built from fuzzed
// values of the fields the fixture rules read (each used as JSON when it is
// JSON, else as a string), so that nearly every input is a record: form
// spells keys in upper case, repeats them, and drops the ones it names.
func FuzzExactFields(f *testing.F) {
	check := exactFuzzCheck(f)
	f.Add("A", `"x"`, `"Root"`, `"arn:a"`, uint8(0))
	f.Add("GetA", `null`, `"IAMUser"`, `7`, uint8(1))
	f.Add(`"\u212a"`, `"a\ud800"`, `{}`, `["x"]`, uint8(6))
	f.Add("B", strings.Repeat("\u00e9", 1001), `""`, `null`, uint8(9))
	f.Add(`"C\u00e9"`, `1e400`, `-0`, `"\ud83d\ude00"`, uint8(255))
	f.Fuzz(func(t *testing.T, name, k, typ, arn string, form uint8) {
		val := func(s string) string {
			if json.Valid([]byte(s)) {
				return s
			}
			return quoteJSON(s)
		}
		key := func(k string, bit uint8) string {
			if form&bit != 0 {
				return strings.ToUpper(k)
			}
			return k
		}
		var b strings.Builder
		b.WriteString(`{"eventVersion":"1.08","eventID":"e"`)
		field := func(k, v string, bit uint8) {
			if form&(bit<<4) != 0 {
				return // dropped
			}
			fmt.Fprintf(&b, `,%q:%s`, key(k, bit), val(v))
			if form&bit != 0 && form&0x80 != 0 { // and again as spelt
				fmt.Fprintf(&b, `,%q:%s`, k, val(v))
			}
		}
		field("eventName", name, 1)
		field("k", k, 2)
		if form&8 != 0 {
			field("userIdentity", typ, 4) // no object
		} else {
			fmt.Fprintf(&b, `,"userIdentity":{%q:%s,"arn":%s}`, key("type", form&4), val(typ), val(arn))
		}
		b.WriteString("}")
		check(t, []byte(b.String()))
	})
}
