package panther

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"go.yaml.in/yaml/v3"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
)

const sample = `{"eventName":"RunInstances","eventSource":"ec2.amazonaws.com","sourceIPAddress":"203.0.113.9","errorCode":"",
 "userIdentity":{"type":"IAMUser","userName":"Bob"},"count":3,"flag":true,
 "requestParameters":{"instancesSet":{"items":[{"imageId":"ami-1","tags":["a","b"]},{"imageId":"ami-2"}]},"cidr":"10.0.0.0/8"},
 "items":[{"granted":true,"permission":"p1"},{"granted":false,"permission":"p2"}]}`

func eval(t *testing.T, y string) (bool, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(y), &n); err != nil {
		t.Fatal(err)
	}
	e, err := compileList(n.Content[0])
	if err != nil {
		return false, err
	}
	return e(fastjson.MustParse(sample)), nil
}

func TestConditions(t *testing.T) {
	tests := []struct {
		name, expr string
		want       bool
	}{
		{"Equals", "- {Key: eventName, Condition: Equals, Value: RunInstances}", true},
		{"Equals is case-sensitive", "- {Key: eventName, Condition: Equals, Value: runinstances}", false},
		{"IEquals", "- {Key: eventName, Condition: IEquals, Value: runinstances}", true},
		{"DoesNotEqual on a missing key", "- {Key: nope, Condition: DoesNotEqual, Value: x}", true},
		{"number is not its string", "- {Key: count, Condition: Equals, Value: '3'}", false},
		{"number", "- {Key: count, Condition: Equals, Value: 3}", true},
		{"bool", "- {Key: flag, Condition: Equals, Value: true}", true},
		{"KeyPath", "- {KeyPath: userIdentity.userName, Condition: StartsWith, Value: B}", true},
		{"DeepKey", "- {DeepKey: [userIdentity, type], Condition: EndsWith, Value: User}", true},
		{"index", "- {KeyPath: 'requestParameters.instancesSet.items[1].imageId', Condition: Equals, Value: ami-2}", true},
		{"wildcard list contains", "- {KeyPath: 'requestParameters.instancesSet.items[*].imageId', Condition: Contains, Value: ami-1}", true},
		{"IContains", "- {Key: eventSource, Condition: IContains, Value: EC2}", true},
		{"DoesNotContain", "- {Key: eventSource, Condition: DoesNotContain, Value: ec2}", false},
		{"IsIn", "- {Key: eventName, Condition: IsIn, Values: [A, RunInstances]}", true},
		{"IsNotIn", "- {Key: eventName, Condition: IsNotIn, Values: [A, B]}", true},
		{"IsNullOrEmpty empty string", "- {Key: errorCode, Condition: IsNullOrEmpty}", true},
		{"IsNullOrEmpty missing", "- {Key: errorMessage, Condition: IsNullOrEmpty}", true},
		{"Exists", "- {Key: errorCode, Condition: Exists}", true},
		{"DoesNotExist", "- {Key: errorMessage, Condition: DoesNotExist}", true},
		{"greater", "- {Key: count, Condition: IsGreaterThan, Value: 2}", true},
		{"less or equal", "- {Key: count, Condition: IsLessThanOrEqual, Value: 2}", false},
		{"public IP", "- {Key: sourceIPAddress, Condition: IsIPAddressPublic}", true},
		{"private IP", "- {Key: sourceIPAddress, Condition: IsIPAddressPrivate}", false},
		{"in CIDR", "- {Key: sourceIPAddress, Condition: IsIPAddressInCIDR, Value: 203.0.113.0/24}", true},
		{"CIDR contains", "- {KeyPath: requestParameters.cidr, Condition: CIDRContainsIPAddresses, Value: 10.1.2.3}", true},
		{"AnyElement", "- {Key: items, Condition: AnyElement, Expressions: [{Key: granted, Condition: Equals, Value: true}, {Key: permission, Condition: Equals, Value: p1}]}", true},
		{"AllElements", "- {Key: items, Condition: AllElements, Expressions: [{Key: granted, Condition: Equals, Value: true}]}", false},
		{"OnlyOneElement", "- {Key: items, Condition: OnlyOneElement, Expressions: [{Key: granted, Condition: Equals, Value: false}]}", true},
		{"NoElement", "- {Key: items, Condition: NoElement, Expressions: [{Key: permission, Condition: Equals, Value: p3}]}", true},
		{"Any", "- Any: [{Key: eventName, Condition: Equals, Value: X}, {Key: eventName, Condition: Equals, Value: RunInstances}]", true},
		{"OnlyOne", "- OnlyOne: [{Key: eventName, Condition: Equals, Value: RunInstances}, {Key: flag, Condition: Equals, Value: true}]", false},
		{"None", "- None: [{Key: eventName, Condition: Equals, Value: X}]", true},
		{"top-level list is AND", "- {Key: eventName, Condition: Equals, Value: RunInstances}\n- {Key: flag, Condition: Equals, Value: false}", false},
		{"multi-key", "- {Condition: IsGreaterThan, Values: [{Key: count}, {KeyPath: requestParameters.nope}]}", false},
		{"AlwaysTrue", "- {Condition: AlwaysTrue}", true},
	}
	for _, tt := range tests {
		got, err := eval(t, tt.expr)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v %v, want %v", tt.name, got, err, tt.want)
		}
	}
	for _, bad := range []string{"- {Key: a, Condition: Sometimes, Value: x}", "- {Condition: Equals, Value: x}", "- {Key: a, Condition: Equals}", "- {Enrichment: {Table: t}, Condition: Equals, Value: x}"} {
		if _, err := eval(t, bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// The Panther corpus loads: every file, metadata and tests; the CloudTrail
// rules are Python-backed (Script set) and, until a Python runtime takes
// them, not run.
func TestCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "corpus", "panther-rules")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/corpus is absent: Panther corpus test skipped")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	python, tests, rules := 0, 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Parse(f, data)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if r.Type == "panther" {
			rules++
		}
		if r.Script != "" && r.Unsupported != "" {
			python++
		}
		tests += len(r.Tests)
	}
	if len(files) != 168 || rules != 144 || python != 144 || tests < 537 {
		t.Errorf("%d files, %d streaming rules, %d Python-backed, %d tests", len(files), rules, python, tests)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("AnalysisType: rule\nRuleID: x\nSeverity: Low\nLogTypes: [AWS.CloudTrail]\nDetection:\n  - {KeyPath: 'a[*].b', Condition: Contains, Value: c}\nAlertTitle: '{a.b}'\n")
	f.Add("AnalysisType: rule\nRuleID: x\nSeverity: High\nLogTypes: [AWS.CloudTrail]\nDetection:\n  - Any: [{Key: a, Condition: IsIn, Values: [1, '2']}, {Key: l, Condition: AnyElement, Expressions: [{Key: k, Condition: Exists}]}]\n")
	f.Add("AnalysisType: rule\nRuleID: x\nSeverity: Low\nB: &b {Key: a, Condition: Equals}\nDetection:\n  - {<<: *b, Value: &v c}\n  - {Key: d, Condition: Equals, Value: *v}\n")
	f.Add("AnalysisType: rule\nRuleID: x\nSeverity: Low\nTests:\n- Name: t\n  Log: {a: &l 'b'}\n# c\n  Logs:\n    - |\n      x\nDetection:\n  - {Key: a, Condition: Equals, Value: *l}\n")
	f.Fuzz(func(t *testing.T, doc string) {
		withoutTestsSame(t, "f.yml", []byte(doc))
		r, err := Parse("f.yml", []byte(doc))
		if err != nil || !r.Runnable() {
			return
		}
		var p event.Parser
		ev, _ := p.Parse([]byte(sample))
		engine.Eval(r.Cond, ev)
		if r.Output != nil && r.Output.Title != nil {
			r.Output.Title(ev)
		}
	})
}

func TestRuleOutputs(t *testing.T) {
	r, err := Parse("r.yml", []byte(`AnalysisType: rule
RuleID: EC2.Run
DisplayName: Instances run
Severity: Low
LogTypes: [AWS.CloudTrail]
Reports: {MITRE ATT&CK: ["TA0002:T1204.003"]}
InlineFilters:
  - All:
      - {KeyPath: userIdentity.type, Condition: Equals, Value: IAMUser}
Detection:
  - {Key: eventName, Condition: Equals, Value: RunInstances}
AlertTitle: "{userIdentity.userName} ran {requestParameters.instancesSet.items[0].imageId} ({nope})"
DynamicSeverities:
  - ChangeTo: High
    Conditions:
      - {Key: count, Condition: IsGreaterThan, Value: 2}
GroupBy:
  - {KeyPath: userIdentity.userName}
`))
	if err != nil {
		t.Fatal(err)
	}
	var p event.Parser
	ev, err := p.Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := engine.Eval(r.Cond, ev); !ok {
		t.Error("detection should match")
	}
	if got := r.Output.Title(ev); got != "Bob ran ami-1 ()" {
		t.Errorf("title %q", got)
	}
	if got := r.Output.Severity(ev); got != "high" {
		t.Errorf("dynamic severity %q", got)
	}
	if got := r.Dedup.Key(ev); got != `"Bob"` {
		t.Errorf("group key %q", got)
	}
	if th := r.Threat[0]; th.Tactic.ID != "TA0002" || th.Tactic.Name != "Execution" || th.Techniques[0].Name != "User Execution" ||
		th.Techniques[0].Subtechniques[0].ID != "T1204.003" || th.Techniques[0].Subtechniques[0].Name != "Malicious Image" {
		t.Errorf("threat %+v", r.Threat)
	}
	// the inline filter runs first: an assumed role never matches
	ev2, _ := p.Parse([]byte(strings.Replace(sample, `"type":"IAMUser"`, `"type":"AssumedRole"`, 1)))
	if ok, _ := engine.Eval(r.Cond, ev2); ok {
		t.Error("inline filter ignored")
	}
}

// AlertContext and GroupBy write values the detection read (so fastjson
// has unescaped them) as JSON: a control character that JSON escapes but
// Go quotes otherwise (\v) came out invalid, and the alert with a
// record_error and its context as lists of bytes.
func TestOutputsOfReadValues(t *testing.T) {
	r, err := Parse("r.yml", []byte(`AnalysisType: rule
RuleID: Escapes
Severity: Low
LogTypes: [AWS.CloudTrail]
Detection:
  - {KeyPath: requestParameters.userName, Condition: Contains, Value: a}
AlertContext:
  - {KeyName: params, KeyValue: {KeyPath: requestParameters}}
  - {KeyName: name, KeyValue: {KeyPath: requestParameters.userName}}
  - {KeyName: all, KeyValue: {KeyPath: "requestParameters.tags[*]"}}
GroupBy:
  - {KeyPath: requestParameters.userName}
`))
	if err != nil {
		t.Fatal(err)
	}
	var p event.Parser
	ev, err := p.Parse([]byte(`{"eventName":"CreateUser","eventSource":"iam.amazonaws.com","requestParameters":{"userName":"a\u000bb\"\u0007","tags":["\u000b","\u007f\\"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := engine.Eval(r.Cond, ev); !ok {
		t.Fatal("detection should match")
	}
	name := "a\vb\"\a"
	want := map[string]any{"params": map[string]any{"userName": name, "tags": []any{"\v", "\x7f\\"}}, "name": name, "all": []any{"\v", "\x7f\\"}}
	b, err := json.Marshal(r.Output.Context(ev))
	if err != nil {
		t.Fatalf("the context does not encode: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("context %s (%v), want %#v", b, err, want)
	}
	if k := r.Dedup.Key(ev); !json.Valid([]byte(k)) {
		t.Errorf("group key %q is not JSON", k)
	}
}

// Anchors, aliases and merge keys in a Panther file are resolved: the
// detection matches, and a "billion laughs" file is an error naming it.
func TestAnchors(t *testing.T) {
	head := "AnalysisType: rule\nRuleID: Anchored\nDisplayName: Anchored\nSeverity: Low\nLogTypes: [AWS.CloudTrail]\n"
	tests := []struct {
		name, doc string
		want      bool
		err       string
	}{
		{"alias of a value list", head + "Names: &names [StopInstances, RunInstances]\nDetection:\n  - {Key: eventName, Condition: IsIn, Values: *names}\n", true, ""},
		{"merge key", head + "Base: &base {Key: eventName, Condition: Equals}\nDetection:\n  - <<: *base\n    Value: RunInstances\n", true, ""},
		{"merge key, other value", head + "Base: &base {Key: eventName, Condition: Equals}\nDetection:\n  - <<: *base\n    Value: StopInstances\n", false, ""},
		{"anchored condition reused", head + "Detection:\n  - All:\n    - &run {Key: eventName, Condition: Equals, Value: RunInstances}\n    - *run\n", true, ""},
		{"billion laughs", head + lol + "Detection:\n  - {Key: eventName, Condition: Equals, Value: RunInstances}\n", false, "lol.yml: YAML: line 7: YAML aliases expand to more than"},
	}
	var p event.Parser
	ev, err := p.Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		start := time.Now()
		r, err := Parse("lol.yml", []byte(tt.doc))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || time.Since(start) > 2*time.Second {
				t.Errorf("%s: %v after %s, want %q", tt.name, err, time.Since(start), tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got, err := engine.Eval(r.Cond, ev); got != tt.want || err != nil {
			t.Errorf("%s: match %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
}

// lol is a YAML fragment whose aliases expand to 9^9 scalars.
const lol = `Lol:
  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]
  l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
  l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
  l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
  l4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]
  l5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]
  l6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]
  l7: &l7 [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]
  l8: &l8 [*l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7]
`

// Dedup settings with which a rule would never alert are errors naming the
// file and the key.
func TestDedupErrors(t *testing.T) {
	head := "AnalysisType: rule\nRuleID: R\nSeverity: Low\nDetection:\n  - {Key: eventName, Condition: Equals, Value: RunInstances}\n"
	for _, tt := range []struct{ doc, want string }{
		{head + "DedupPeriodMinutes: -5\n", "d.yml: rule R: DedupPeriodMinutes -5"},
		{head + "DedupPeriodMinutes: 9223372036854775807\n", "d.yml: rule R: DedupPeriodMinutes 9223372036854775807"},
		{head + "Threshold: -1\n", "d.yml: rule R: Threshold -1"},
	} {
		if _, err := Parse("d.yml", []byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.doc, err, tt.want)
		}
	}
	if r, err := Parse("d.yml", []byte(head+"DedupPeriodMinutes: 0\nThreshold: 0\n")); err != nil || r.Dedup.Period != time.Hour || r.Dedup.Threshold != 1 {
		t.Errorf("defaults: %v", err)
	}
}

// withoutTestsSame checks that a file decoded without its tests is the
// file decoded with them, but the tests; it reports whether the Tests
// block was cut from the text (the fast path) rather than decoded.
func withoutTestsSame(t *testing.T, name string, data []byte) (cut bool) {
	t.Helper()
	full, errFull := decodeDoc(data, true)
	lean, errLean := decodeDoc(data, false)
	if errFull != nil {
		return false // a YAML error in the Tests block is not seen without them
	}
	if errLean != nil {
		t.Fatalf("%s: without tests: %v (with them: no error)", name, errLean)
	}
	full.Tests = nil
	if !reflect.DeepEqual(full, lean) {
		t.Errorf("%s: decoded without tests:\n%+v\nwith tests:\n%+v", name, lean, full)
	}
	head, line, ok := cutTests(data)
	if !ok {
		return false
	}
	var root yaml.Node
	return yaml.Unmarshal(head, &root) == nil && emptyTestsAt(&root, line)
}

func TestWithoutTests(t *testing.T) {
	const meta = "AnalysisType: rule\nRuleID: x\nSeverity: Low\nLogTypes: [AWS.CloudTrail]\n"
	const det = "Detection:\n  - {Key: a, Condition: Equals, Value: b}\n"
	for _, c := range []struct {
		name, doc string
		cut       bool
	}{
		{"at the end, entries in column 0", meta + det + "Tests:\n- Name: t\n  ExpectedResult: true\n  Log: {a: b}\n# a comment\n-   Name: u\n    Log:\n      a: |\n        text\n\n        more\n", true},
		{"in the middle: later lines keep their numbers", meta + "Tests:\n  - Name: t\n    Log: {a: b}\n" + det + "AlertTitle: hi\n", true},
		{"no tests", meta + det, false},
		{"empty", "", false},
		{"flow list", meta + "Tests: [{Name: t, Log: {a: b}}]\n" + det, true},
		{"flow list over lines", meta + "Tests: [\n  {Name: t, Log: {a: b}}\n]\n" + det, false},
		{"a line of a quoted string", meta + "Description: \"one\nTests: two\nRuleID: y\"\n" + det, false},
		{"an anchor of a test used after", meta + "Tests:\n  - Name: &n t\n    Log: {a: b}\nAlertTitle: *n\n" + det, false},
		{"an anchor used by a test", meta + "DisplayName: &n t\nTests:\n  - Name: *n\n    Log: {a: b}\n" + det, true},
		{"another key starting with Tests", meta + "Tests:x: 1\n" + det, false},
		{"a key starting with a dash ends it", meta + "Tests:\n- Name: t\n-x: 1\n" + det, true},
		{"a document marker ends it", meta + det + "Tests:\n  - Name: t\n---\nRuleID: z\n", true},
		{"CRLF", strings.ReplaceAll(meta+"Tests:\n  - Name: t\n    Log: {a: b}\n"+det, "\n", "\r\n"), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if cut := withoutTestsSame(t, c.name, []byte(c.doc)); cut != c.cut {
				t.Errorf("Tests block cut from the text: %v, want %v", cut, c.cut)
			}
		})
	}
	d, err := decodeDoc([]byte(meta+"Tests:\n  - Name: t\n    Log: {a: b}\n"+det), false)
	if err != nil || d.Detection.Content[0].Line != 9 {
		t.Errorf("Detection's first entry on line %d (%v), want 9", d.Detection.Content[0].Line, err)
	}
	if _, err := decodeDoc([]byte(meta+"Tests:\n  - Name: t\nTests: []\n"), false); err == nil {
		t.Error("two Tests keys: no error")
	}
}

// Every corpus Panther file decodes the same without its tests, and the
// Tests block of most is cut from the text, not parsed.
func TestCorpusWithoutTests(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "corpus", "panther-rules")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/corpus is absent: Panther corpus test skipped")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	cut := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if withoutTestsSame(t, f, data) {
			cut++
		}
		r, err := ParseWithoutTests(f, data)
		if err != nil || len(r.Tests) != 0 {
			t.Errorf("%s: %v, %d tests", f, err, len(r.Tests))
		}
	}
	if len(files) == 0 || cut < len(files)*9/10 {
		t.Errorf("%d files, the Tests block of %d cut from the text", len(files), cut)
	}
}

// IsPanther is (?m)^AnalysisType: without the regular expression.
func TestIsPantherLineStart(t *testing.T) {
	re := regexp.MustCompile(`(?m)^AnalysisType:`)
	for _, s := range []string{"", "AnalysisType: rule", "a: 1\nAnalysisType: rule", "a: 1\r\nAnalysisType: rule",
		" AnalysisType: rule", "xAnalysisType: rule", "a: AnalysisType:", "AnalysisType", "\nAnalysisType:"} {
		if got, want := IsPanther([]byte(s)), re.MatchString(s); got != want {
			t.Errorf("IsPanther(%q) = %v, want %v", s, got, want)
		}
	}
}
