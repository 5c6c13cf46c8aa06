package ruletest

import (
	"encoding/json"
	"strings"
	"testing"

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
