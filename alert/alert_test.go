package alert

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
)

func parse(t *testing.T, js string) *event.Event {
	t.Helper()
	var p event.Parser
	ev, err := p.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	ev.File, ev.Line, ev.Offset = "f.json", 3, 120
	return ev
}

func TestIDs(t *testing.T) {
	withID := parse(t, `{"eventSource":"s","eventName":"n","eventID":"e-1"}`)
	a, b := ID(withID, "r1"), ID(withID, "r2")
	if a == b || len(a) != 64 {
		t.Errorf("ids %s %s", a, b)
	}
	other := parse(t, `{"eventSource":"s","eventName":"n","eventID":"e-1","x":1}`)
	other.File = "g.json"
	if ID(other, "r1") != a {
		t.Error("the same eventID in another file must give the same id (duplicate delivery)")
	}
	noID := parse(t, `{"eventSource":"s","eventName":"n"}`)
	p1 := ID(noID, "r1")
	noID.Offset = 121
	if ID(noID, "r1") == p1 {
		t.Error("records without eventID are identified by position")
	}
}

func TestNewAndWrite(t *testing.T) {
	ev := parse(t, `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","eventID":"e-1","eventTime":"2026-11-03T10:00:00Z",
		"userIdentity":{"arn":"arn:aws:iam::1:user/u"},"sourceIPAddress":"192.0.2.1","requestParameters":{"bucketName":"b"}}`)
	r := &rule.Rule{ID: "r1", Name: "Rule", Type: "query", Severity: "high", RiskScore: 73, Note: "guide",
		InvestigationFields: []string{"aws.cloudtrail.request_parameters", "source.address", "no.such.field"},
		Threat:              []rule.Threat{{Framework: "MITRE ATT&CK", Tactic: rule.Ref{ID: "TA0010", Name: "Exfiltration"}}}}
	a := New(ev, r)
	if a.Time != time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC) || a.Fields["aws.cloudtrail.request_parameters"] != "{bucketName=b}" ||
		a.Fields["source.address"] != "192.0.2.1" || a.Event.Line != 3 {
		t.Errorf("alert = %+v", a)
	}
	if _, ok := a.Fields["no.such.field"]; ok {
		t.Error("absent fields are left out")
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, []Alert{a, a}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var back map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &back) != nil {
		t.Fatalf("jsonl = %s", buf.String())
	}
	if back["rule"].(map[string]any)["threat"].([]any)[0].(map[string]any)["tactic"].(map[string]any)["id"] != "TA0010" {
		t.Errorf("threat not in JSON: %s", lines[0])
	}
	buf.Reset()
	WriteTable(&buf, []Alert{a})
	if !strings.Contains(buf.String(), "arn:aws:iam::1:user/u") || !strings.Contains(buf.String(), "f.json:3") {
		t.Errorf("table = %s", buf.String())
	}
}

// TestTableActorAndSource checks the ACTOR and SOURCE columns: from the
// rule's output fields when it names them, else from the raw record (Panther,
// Sigma and ES|QL alerts name other fields).
func TestTableActorAndSource(t *testing.T) {
	rec := json.RawMessage(`{"sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/eve"}}`)
	tests := []struct {
		name   string
		fields map[string]any
		record json.RawMessage
		want   []string
	}{
		{"from the record", nil, rec, []string{"arn:aws:iam::1:user/eve", "203.0.113.9"}},
		{"fields first", map[string]any{"source.address": "192.0.2.1", "user.name": "bob"}, rec, []string{"bob", "192.0.2.1"}},
		{"type when no ARN", nil, json.RawMessage(`{"userIdentity":{"type":"AWSService"}}`), []string{"AWSService"}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if err := WriteTable(&buf, []Alert{{Fields: tc.fields, Record: tc.record}}); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s: table lacks %q:\n%s", tc.name, w, buf.String())
			}
		}
	}
}
