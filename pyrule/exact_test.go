package pyrule

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/event"
)

// exactPair is a record and the rules Go decided on it, for Python to
// check.
type exactPair struct {
	raw   []byte
	hdr   evalHeader
	rules []*pyRule // of the runtime without the prefilter (Python decides all)
	got   []*result // Go's results
	what  string
}

// exactChecker runs what Go decided through Python (a runtime without the
// prefilter, so without exact analyses) and compares.
type exactChecker struct {
	t         testing.TB
	off       *Runtime
	offRule   map[string]*pyRule
	pending   []exactPair
	decided   int
	matches   int
	toPython  int
	perRuleGo map[string]int
}

func (c *exactChecker) check(ev *event.Event, rules []*pyRule, what string) {
	var p exactPair
	for _, pr := range rules {
		res, ok := pr.exact.decide(ev, pr.r.ID)
		if !ok {
			c.toPython++
			continue
		}
		c.decided++
		c.perRuleGo[pr.r.ID]++
		if res.M {
			c.matches++
		}
		p.rules = append(p.rules, c.offRule[pr.r.ID])
		p.got = append(p.got, res)
	}
	if len(p.rules) == 0 {
		return
	}
	p.raw, p.what = append([]byte(nil), ev.Raw...), what
	p.hdr = header(ev, p.rules)
	c.pending = append(c.pending, p)
	if len(c.pending) >= 200 {
		c.flush()
	}
}

func (c *exactChecker) flush() {
	t := c.t
	if len(c.pending) == 0 {
		return
	}
	items := make([]batchItem, len(c.pending))
	raws := make([][]byte, len(c.pending))
	n := 0
	for i, p := range c.pending {
		items[i] = batchItem{rules: p.rules, hdr: p.hdr}
		raws[i] = p.raw
		n += len(p.rules)
	}
	results, err := c.off.callBatch(items, raws, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range c.pending {
		for j, pr := range p.rules {
			want, got := results[i][j], p.got[j]
			if want.E != "" || len(want.AE) > 0 || want.M != got.M || want.Dedup != got.Dedup || !sameTitle(want.Title, got.Title) {
				t.Errorf("%s / %s: Go decided m=%v title=%s dedup=%q; Python: m=%v title=%s dedup=%q error=%q %q\n  record: %s",
					pr.r.ID, p.what, got.M, showTitle(got.Title), got.Dedup, want.M, showTitle(want.Title), want.Dedup, want.E, want.AE, p.raw)
			}
		}
	}
	c.pending = c.pending[:0]
}

func sameTitle(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func showTitle(s *string) string {
	if s == nil {
		return "(none)"
	}
	return fmt.Sprintf("%q", *s)
}

// exactFields are the fields (key paths) a rule's formula and templates
// read, and the strings it compares them with.
func exactFields(x *exactRule) (paths [][]string, strs []string) {
	seen := map[string]bool{}
	addVal := func(v *exValue) {
		if v == nil {
			return
		}
		k := strings.Join(v.keys, "\x00")
		if !seen[k] {
			seen[k] = true
			paths = append(paths, v.keys)
		}
	}
	var walk func(n *exNode)
	walk = func(n *exNode) {
		addVal(n.val)
		if len(n.strs) > 0 {
			strs = append(strs, n.strs[:min(len(n.strs), 3)]...)
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(x.rule)
	for _, p := range append(append([]exPart(nil), x.title...), x.dedup...) {
		addVal(p.val)
	}
	return paths, strs
}

// mutate returns the record with the value at path replaced by the JSON
// text val ("" deletes it), the objects on the way made when missing;
// with rename, the last key is spelt in upper case instead; with both, both
// keys are there; with stray, the key is left out and one that is not ASCII
// is there instead (with a Kelvin sign for a k, which Python's lower() makes
// the key).
func mutate(raw []byte, path []string, val string, how string) []byte {
	var p fastjson.Parser
	root, err := p.ParseBytes(raw)
	if err != nil {
		panic(err)
	}
	var a fastjson.Arena
	cur := root
	for _, k := range path[:len(path)-1] {
		next := cur.Get(k)
		if next == nil || next.Type() != fastjson.TypeObject {
			next = a.NewObject()
			cur.Set(k, next)
		}
		cur = next
	}
	last := path[len(path)-1]
	o, _ := cur.Object()
	o.Del(last)
	var v *fastjson.Value
	if val != "" {
		v = fastjson.MustParse(val)
	}
	switch how {
	case "set":
		if v != nil {
			o.Set(last, v)
		}
	case "rename":
		o.Set(strings.ToUpper(last), v)
	case "both":
		o.Set(strings.ToUpper(last), fastjson.MustParse(`"other"`))
		o.Set(last, v)
	case "stray": // the Kelvin sign is k to Python's lower()
		if i := strings.IndexAny(last, "kK"); i >= 0 {
			o.Set(last[:i]+"\u212a"+last[i+1:], v)
		} else {
			o.Set("\u00e9"+last, v)
		}
	}
	return root.MarshalTo(nil)
}

// Go's decisions on exact rules are Python's: for every CloudTrail unit-test
// event of the corpus, against every rule Go decides, and for variants of
// each rule's own test events with every field the rule reads given every
// JSON type, strings it compares with and near them, unicode, lone
// surrogates, missing keys and objects, keys spelt in another case, a
// stray key that is not ASCII and non-object parents. Whatever Go decides
// (false, or a match with its title and dedup key) is run through Python
// without the prefilter and must be the same, with no error there.
func TestExactSameAsPython(t *testing.T) {
	dir := needCorpusPython(t)
	rules, on := load(t, dir, Options{Workers: 1})
	rulesOff, off := load(t, dir, Options{Workers: 1, NoPrefilter: true})
	c := &exactChecker{t: t, off: off, offRule: map[string]*pyRule{}, perRuleGo: map[string]int{}}
	for _, r := range rulesOff {
		if pr := off.byRule[r]; pr != nil {
			c.offRule[r.ID] = pr
		}
	}
	var exact []*pyRule
	for _, r := range rules {
		if pr := on.byRule[r]; pr != nil && pr.exact != nil {
			exact = append(exact, pr)
		}
	}
	if len(exact) < 50 {
		t.Fatalf("%d rules decided in Go, want at least 50", len(exact))
	}
	var p event.Parser
	parse := func(raw []byte) *event.Event {
		ev, err := p.Parse(raw)
		if err != nil || ev.Kind != event.KindCloudTrail {
			return nil
		}
		return ev
	}
	// every test event against every exact rule
	events := 0
	for _, r := range rules {
		for _, tt := range r.Tests {
			if len(tt.Logs) != 1 || (tt.LogType != "" && tt.LogType != "AWS.CloudTrail") {
				continue
			}
			if ev := parse(tt.Logs[0]); ev != nil {
				events++
				c.check(ev, exact, r.ID+" / "+tt.Name)
			}
		}
	}
	// variants of each exact rule's own test events
	values := []string{`null`, `""`, `"x"`, `0`, `1`, `-0`, `0.0`, `1e-400`, `1e400`, `12345678901234567890123`, `true`, `false`,
		`[]`, `["x"]`, `{}`, `{"a":"b"}`, `"\u00e9\u6f22\u5b57 \ud83d\ude00"`, `"\ud800"`, `"a\ud800\u0041"`, `"\\ud800"`, `"x\u0000y"`, `"\ufffd"`,
		strings.Repeat("7", 4400)} // more digits than Python's json.loads reads
	variants := 0
	for _, pr := range exact {
		paths, strs := exactFields(pr.exact)
		vals := append([]string(nil), values...)
		for _, s := range strs {
			for _, v := range []string{s, s + "x", "x" + s, strings.ToUpper(s), strings.TrimSuffix(s, s[max(len(s)-1, 0):])} {
				vals = append(vals, quoteJSON(v))
			}
		}
		for _, tt := range pr.r.Tests {
			if len(tt.Logs) != 1 || parse(tt.Logs[0]) == nil {
				continue
			}
			for _, path := range paths {
				for _, v := range vals {
					for _, how := range []string{"set", "rename", "both", "stray"} {
						if how != "set" && v != `"x"` && v != vals[len(values)] && v != `null` {
							continue // the spellings of the key with a few values
						}
						raw := mutate(tt.Logs[0], path, v, how)
						if ev := parse(raw); ev != nil {
							variants++
							c.check(ev, []*pyRule{pr}, fmt.Sprintf("%s with %s %s=%s", tt.Name, how, strings.Join(path, "."), v))
						}
					}
				}
				raw := mutate(tt.Logs[0], path, "", "set")
				if ev := parse(raw); ev != nil {
					variants++
					c.check(ev, []*pyRule{pr}, fmt.Sprintf("%s without %s", tt.Name, strings.Join(path, ".")))
				}
				if len(path) > 1 { // a parent that is no object
					for _, v := range []string{`"s"`, `["x"]`, `null`, `5`} {
						if ev := parse(mutate(tt.Logs[0], path[:1], v, "set")); ev != nil {
							variants++
							c.check(ev, []*pyRule{pr}, fmt.Sprintf("%s with %s=%s", tt.Name, path[0], v))
						}
					}
				}
			}
		}
	}
	c.flush()
	t.Logf("%d rules decided in Go; %d test events, %d variants: %d results decided in Go (%d matches), all as Python; %d left to Python",
		len(exact), events, variants, c.decided, c.matches, c.toPython)
	if c.matches < 500 || c.decided < 5000 || c.toPython < 1000 {
		t.Errorf("%d decided, %d matches, %d left to Python: the test or the analysis is too narrow", c.decided, c.matches, c.toPython)
	}
	for _, id := range []string{"AWS.CloudTrail.UserAccessKeyAuth", "AWS.Root.Activity"} {
		if c.perRuleGo[id] == 0 {
			t.Errorf("%s: nothing decided in Go", id)
		}
	}
}

func quoteJSON(s string) string {
	var a fastjson.Arena
	return string(a.NewString(s).MarshalTo(nil))
}

// Which rules the analysis finds exact, and, on generated records, Go
// decides them as Python does: templates returning a value (None is "None"
// in a title, the default key in a dedup), + concatenation, !s, helpers,
// if chains; rules that are not exact stay in Python.
func TestExactAnalysis(t *testing.T) {
	needPython(t)
	cases := []struct {
		src     string
		exact   string // "": not exact; "false": only false decided in Go; "match": matches too
		explain string
	}{
		{`
def ok(event):
    """success"""
    if event.get("errorCode") or event.get("errorMessage", ""):
        return False
    return True
def rule(event):
    name = event.get("eventName")
    return ok(event) and name in ("A", "B") and not event.deep_get("userIdentity", "type", default="") == "Root"
def title(event):
    return event.get("eventName")
def dedup(event):
    return event.deep_get("userIdentity", "arn")`, "match", "rule(), title and dedup decided in Go"},
		{`
NAMES = {"A", "B"}
def rule(event):
    if event.get("eventName") not in NAMES:
        return False
    elif event["eventSource"] != "s3.amazonaws.com":
        return False
    return event.get("sourceIPAddress", {}) is not None
def title(event):
    return "by " + event.deep_get("userIdentity", "arn", default="?") + f" [{event.get('awsRegion')!s}]"`, "match", "rule(), title and dedup"},
		{`
def rule(event):
    return event.get("eventName", "").endswith(("A", "B")) or "x" in event.get("eventSource")
def title(event):
    return f"{event.get('eventName')!r}"`, "false", "matches run in Python"},
		{`
def rule(event):
    return event.get("eventName") == "A"
def unique(event):
    return event.get("eventID")`, "false", "matches run in Python"},
		{`
from panther_detection_helpers.caching import increment_counter
def rule(event):
    return event.get("eventName") == "A" and increment_counter("k") > 2`, "", ""},
		{`
SEEN = []
def rule(event):
    SEEN.append(1)
    return event.get("eventName") == "A"`, "", ""},
		{`
def rule(event):
    return event.get("eventName")`, "", ""},
		{`
def rule(event):
    return event.get("eventName") == "A" and event.udm("actor_user") == "x"`, "", ""},
		{`
def rule(event):
    for k in ("A", "B"):
        if event.get("eventName") == k:
            return True
    return False`, "", ""},
		{`
def rule(event):
    if event.get("eventName") == "A":
        return True`, "match", "rule(), title and dedup decided in Go"},
		// a constant of a str subclass compares as its class says, not as Go does
		{`
class CI(str):
    def __eq__(self, other):
        return isinstance(other, str) and other.lower() == self.lower()
    __hash__ = str.__hash__
ROOT = CI("root")
def rule(event):
    return event.get("eventName") == ROOT`, "", ""},
		{`
class CI(str):
    def __eq__(self, other):
        return isinstance(other, str) and other.lower() == self.lower()
    __hash__ = str.__hash__
NAMES = (CI("a"), "b")
def rule(event):
    return event.get("eventName") in NAMES`, "", ""},
	}
	dir := t.TempDir()
	for i, c := range cases {
		base := fmt.Sprintf("x%02d", i)
		yml := fmt.Sprintf("AnalysisType: rule\nFilename: %s.py\nRuleID: X.%d\nDisplayName: %s\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\nDedupPeriodMinutes: 60\n", base, i, base)
		writeFiles(t, dir, map[string]string{base + ".yml": yml, base + ".py": c.src})
	}
	rules, on := load(t, dir, Options{Workers: 1})
	_, off := load(t, dir, Options{Workers: 1, NoPrefilter: true})
	ids := byID(rules)
	c := &exactChecker{t: t, off: off, offRule: map[string]*pyRule{}, perRuleGo: map[string]int{}}
	for _, pr := range off.rules {
		c.offRule[pr.r.ID] = pr
	}
	var exact []*pyRule
	for i, cs := range cases {
		r := ids[fmt.Sprintf("X.%d", i)]
		pr := on.byRule[r]
		got := ""
		if pr.exact != nil {
			got = "false"
			if pr.exact.matches {
				got = "match"
			}
			exact = append(exact, pr)
		}
		if got != cs.exact || !strings.Contains(r.Query, cs.explain) || (cs.exact == "") == strings.Contains(r.Query, "decided in Go") {
			t.Errorf("X.%d: decided in Go: %q, want %q; query %s", i, got, cs.exact, r.Query)
		}
	}
	var p event.Parser
	for _, name := range []string{`"A"`, `"B"`, `"C"`, `null`, `5`, `["A"]`, ``} {
		for _, ec := range []string{``, `,"errorCode":null`, `,"errorCode":"X"`, `,"ErrorCode":"X"`, `,"errorMessage":0`, `,"errorMessage":[1]`} {
			for _, uid := range []string{``, `,"userIdentity":null`, `,"userIdentity":"s"`, `,"userIdentity":{"type":"Root","arn":null}`,
				`,"userIdentity":{"type":"IAMUser","arn":"arn:x"}`, `,"userIdentity":{"TYPE":"Root","arn":7}`} {
				for _, more := range []string{``, `,"eventSource":"s3.amazonaws.com","sourceIPAddress":null,"awsRegion":"r"`, `,"eventSource":"xs3","sourceIPAddress":"1.2.3.4"`} {
					n := ""
					if name != "" {
						n = `,"eventName":` + name
					}
					raw := `{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventID":"e"` + n + ec + uid + more + `}`
					ev, err := p.Parse([]byte(raw))
					if err != nil {
						t.Fatal(err)
					}
					c.check(ev, exact, "generated")
				}
			}
		}
	}
	c.flush()
	t.Logf("%d results decided in Go (%d matches), all as Python; %d left to Python", c.decided, c.matches, c.toPython)
	if c.matches < 50 || c.toPython < 50 {
		t.Errorf("%d matches decided in Go, %d left to Python: the test is too narrow", c.matches, c.toPython)
	}
}

func TestIPShaped(t *testing.T) {
	re := regexp.MustCompile(`^(?:` + ipShape + `)$`)
	for _, v := range []string{"", "1.2.3.4", "::1", "fe80::1%eth0", "fe80::1%", "%x", "1.2.3.4 ", "AWS Internal", "g", "1:2", "a.b", "1.2.3.4%\n", "\u00e9"} {
		if got, want := ipShaped(v), re.MatchString(v); got != want {
			t.Errorf("ipShaped(%q) = %v, the regular expression says %v", v, got, want)
		}
	}
}

// The suffix tests without regular expressions match what suffixRE's
// expressions (the engine's conditions) match.
func TestSuffixWithoutRegexp(t *testing.T) {
	ends := []string{".txt", ".htm", "note.md", "k", "s1", "hi"}
	for _, fold := range []bool{false, true} {
		re := regexp.MustCompile("^(?:" + suffixRE(ends, fold) + ")$")
		ff := fieldFilter{Suffix: ends}
		if fold {
			ff = fieldFilter{ISuffix: ends}
		}
		f := newStrFilter(ff)
		n := 0
		for _, pre := range []string{"", "a/", "\u00e9", "x\n"} {
			for _, mid := range []string{".txt", ".TXT", ".tXt", ".htm", ".HTM", "NOTE.MD", "note.md", "\u0130", "\u212a", "K", "\u017f1", "S1", "s1", "H\u0130", "h\u0131", "HI", ".tx", "txt", ""} {
				for _, post := range []string{"", "\n", "\n\n", " ", "\r"} {
					v := pre + mid + post
					n++
					if got, want := f.admits(v), re.MatchString(v); got != want {
						t.Errorf("fold %v: admits(%q) = %v, the regular expression says %v", fold, v, got, want)
					}
				}
			}
		}
		if n < 300 {
			t.Fatal(n)
		}
	}
}

// Go decides records with integers of up to 4,300 digits (Python's default
// limit for json.loads) whatever limit the environment sets for Python
// (PYTHONINTMAXSTRDIGITS): the worker keeps the default.
func TestExactIntDigitsLimit(t *testing.T) {
	needPython(t)
	t.Setenv("PYTHONINTMAXSTRDIGITS", "640")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"d.yml": "AnalysisType: rule\nFilename: d.py\nRuleID: D.1\nDisplayName: d\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\n",
		"d.py":  "def rule(event):\n    return event.get(\"eventName\") == \"A\"\n",
	})
	rules, on := load(t, dir, Options{Workers: 1})
	_, off := load(t, dir, Options{Workers: 1, NoPrefilter: true})
	pr := on.byRule[rules[0]]
	if pr == nil || pr.exact == nil {
		t.Fatal("D.1 is not decided in Go")
	}
	c := &exactChecker{t: t, off: off, offRule: map[string]*pyRule{"D.1": off.rules[0]}, perRuleGo: map[string]int{}}
	var p event.Parser
	for _, name := range []string{"A", "B"} {
		ev, err := p.Parse([]byte(`{"eventVersion":"1.08","eventID":"e","eventName":"` + name + `","z":` + strings.Repeat("7", 1000) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		c.check(ev, []*pyRule{pr}, "a 1,000-digit integer")
	}
	c.flush()
	if c.decided != 2 {
		t.Errorf("%d decided in Go, want 2", c.decided)
	}
}
