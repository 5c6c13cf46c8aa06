package ruletest

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/panther"
	"github.com/trailhound/trailhound/rule"
)

func TestRun(t *testing.T) {
	r, err := panther.Parse("r.yml", []byte(`AnalysisType: rule
RuleID: Trail.Stopped
DisplayName: Trail stopped
Severity: High
LogTypes: [AWS.CloudTrail]
Threshold: 5
CreateAlert: false
Detection:
  - {Key: eventName, Condition: Equals, Value: StopLogging}
AlertTitle: "{requestParameters.name} stopped"
Tests:
  - Name: stop (threshold and CreateAlert do not apply to tests)
    ExpectedResult: true
    ExpectedTitle: main stopped
    ExpectedSeverity: High
    Log: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging, requestParameters: {name: main}}
  - Name: wrong title
    ExpectedResult: true
    ExpectedTitle: other stopped
    Log: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging, requestParameters: {name: main}}
  - Name: start is not stop
    ExpectedResult: true
    Log: {eventSource: cloudtrail.amazonaws.com, eventName: StartLogging}
  - Name: mocked
    ExpectedResult: true
    Mocks: [{objectName: get_string_set, returnValue: ""}]
    Log: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
`))
	if err != nil {
		t.Fatal(err)
	}
	res := Run([]*rule.Rule{r}, Options{})
	var got []string
	for _, x := range res {
		switch {
		case x.NotRun != "":
			got = append(got, "notrun")
		case x.Pass:
			got = append(got, "pass")
		default:
			got = append(got, "fail: "+x.Msg)
		}
	}
	want := []string{"pass", `fail: title "main stopped", expected "other stopped"`, "fail: expected an alert, got none", "notrun"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("results %q", got)
	}
}

func TestWithTime(t *testing.T) {
	var m map[string]any
	json.Unmarshal(withTime(json.RawMessage(`{"eventName":"X"}`), 3), &m)
	if m["eventTime"] != "2020-01-01T00:00:03Z" {
		t.Errorf("eventTime %v", m["eventTime"])
	}
	if got := string(withTime(json.RawMessage(`{"eventTime":"2026-01-01T00:00:00Z"}`), 3)); got != `{"eventTime":"2026-01-01T00:00:00Z"}` {
		t.Errorf("kept %s", got)
	}
}

// A correlation's tests run with the rules it reads: here a Sigma 1
// aggregation, which becomes a correlation over a hidden search rule, with
// the tests of its sidecar file.
func TestCorrelationTestsRunWithTheirInputs(t *testing.T) {
	fsys := fstest.MapFS{
		"rules/userdata.yml": {Data: []byte(`title: User data downloaded in bulk
id: 0b5a7c1e-1111-4222-8333-944455556666
level: medium
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: ec2.amazonaws.com, eventName: DescribeInstanceAttribute, requestParameters.attribute: userData}
  timeframe: 30m
  condition: sel | count() > 2
`)},
		"rules/userdata.tests.yaml": {Data: []byte(`Tests:
  - Name: three reads in a minute
    ExpectedResult: true
    Logs:
      - &r {eventTime: "2026-11-20T10:00:00Z", eventSource: ec2.amazonaws.com, eventName: DescribeInstanceAttribute, requestParameters: {attribute: userData}}
      - {<<: *r, eventTime: "2026-11-20T10:00:20Z"}
      - {<<: *r, eventTime: "2026-11-20T10:00:40Z"}
  - Name: two reads are not more than two
    ExpectedResult: false
    Logs:
      - *r
      - {<<: *r, eventTime: "2026-11-20T10:00:20Z"}
  - Name: three reads over two hours
    ExpectedResult: false
    Logs:
      - *r
      - {<<: *r, eventTime: "2026-11-20T11:00:00Z"}
      - {<<: *r, eventTime: "2026-11-20T12:00:00Z"}
`)},
	}
	rules, errs := catalog.LoadFS(fsys, []string{"rules"}, catalog.Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	res := Run(rules, Options{})
	if len(res) != 3 {
		t.Fatalf("%d results, want the 3 tests of the correlation only", len(res))
	}
	for _, r := range res {
		if !r.Pass || r.NotRun != "" {
			t.Errorf("%s: %s%s", r.Test.Name, r.Msg, r.NotRun)
		}
	}
}
