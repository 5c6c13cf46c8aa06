package alert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"weak"

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
	NewTableWriter(&buf).Write([]Alert{a})
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
		{"escaped strings", nil, json.RawMessage(`{"userIdentity":{"arn":"arn:aws:iam::1:user/\u0065ve"},"sourceIPAddress":"203.0.113.\u0039"}`), []string{"arn:aws:iam::1:user/eve", "203.0.113.9"}},
		{"a member of another type", nil, json.RawMessage(`{"userIdentity":{"arn":7,"type":"IAMUser"},"sourceIPAddress":"203.0.113.9"}`), []string{"IAMUser", "203.0.113.9"}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if err := NewTableWriter(&buf).Write([]Alert{{Fields: tc.fields, Record: tc.record}}); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("%s: table lacks %q:\n%s", tc.name, w, buf.String())
			}
		}
	}
}

// A record's bytes cannot make the JSON Lines writer fail: an alert whose
// record (or a value taken from it) is not valid JSON is written with the
// record as a string and the reason, and the alerts after it are written.
func TestWriteJSONLInvalidRecord(t *testing.T) {
	tests := []struct {
		name    string
		record  string
		fields  map[string]any
		context map[string]any // values that do not encode: each wants its text
		want    map[string]any
	}{
		{"NaN", `{"a":NaN}`, nil, nil, nil},
		{"control character", "{\"a\":\"x\ny\"}", nil, nil, nil},
		{"bad escape", `{"a":"\q"}`, nil, nil, nil},
		{"short unicode escape", `{"a":"\u12"}`, nil, nil, nil},
		{"leading plus", `{"a":+1}`, nil, nil, nil},
		{"leading zero", `{"a":0123}`, nil, nil, nil},
		{"bare fraction", `{"a":.5}`, nil, nil, nil},
		{"trailing dot", `{"a":5.}`, nil, nil, nil},
		{"empty exponent", `{"a":1e}`, nil, nil, nil},
		{"field value", `{"a":1}`, map[string]any{"n": event.NumberString("NaN"), "o": event.RawJSON("{x}"), "ok": "v"}, nil, nil},
		{"context value", `{"a":1}`, nil,
			map[string]any{"c": json.RawMessage(`"a\vb"`), "l": []any{json.RawMessage(`"x\vy"`), json.RawMessage(`1`)}, "ok": "v"},
			map[string]any{"c": `"a\vb"`, "l": []any{`"x\vy"`, 1.0}, "ok": "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := Alert{ID: "bad", Record: json.RawMessage(tt.record), Fields: tt.fields, Context: tt.context}
			good := Alert{ID: "good", Record: json.RawMessage(`{"b":2}`)}
			var out bytes.Buffer
			if err := WriteJSONL(&out, []Alert{bad, good}); err != nil {
				t.Fatalf("WriteJSONL: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("%d lines, want 2:\n%s", len(lines), out.String())
			}
			for _, l := range lines {
				if !json.Valid([]byte(l)) {
					t.Errorf("line is not valid JSON: %s", l)
				}
			}
			var got struct {
				ID          string         `json:"id"`
				Record      any            `json:"record"`
				RecordError string         `json:"record_error"`
				Fields      map[string]any `json:"fields"`
				Context     map[string]any `json:"context"`
			}
			if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
				t.Fatal(err)
			}
			if got.ID != "bad" || got.RecordError == "" {
				t.Errorf("first alert = %s, want id bad with a record_error", lines[0])
			}
			if tt.fields == nil && !json.Valid([]byte(tt.record)) {
				if s, ok := got.Record.(string); !ok || s != strings.ToValidUTF8(tt.record, "\uFFFD") {
					t.Errorf("record = %#v, want the record as a string", got.Record)
				}
			}
			if tt.fields != nil && got.Fields["ok"] != "v" {
				t.Errorf("fields = %v", got.Fields)
			}
			if tt.context != nil && !reflect.DeepEqual(got.Context, tt.want) {
				t.Errorf("context = %#v, want %#v", got.Context, tt.want)
			}
			if !strings.Contains(lines[1], `"id":"good"`) || strings.Contains(lines[1], "record_error") {
				t.Errorf("second alert = %s", lines[1])
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A failing output is still an error.
func TestWriteJSONLWriteError(t *testing.T) {
	err := WriteJSONL(failWriter{}, []Alert{{ID: "a", Record: json.RawMessage(`{}`)}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the write error", err)
	}
}

// New copies what it keeps from the event (its id, provider, action,
// fields and record outlive it), and its id is the SHA-256 described at ID.
func TestNewOutlivesEvent(t *testing.T) {
	var p event.Parser
	tests := []string{
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e-1","sourceIPAddress":"192.0.2.1"}`,
		`{"eventSource":"","eventName":"","eventID":"only-id"}`,
		`{"eventName":"only-action"}`,
		`{"eventSource":"only-provider"}`,
	}
	var as []Alert
	var want []string
	for _, rec := range tests {
		ev, err := p.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		ev.File, ev.Offset = "f.json", 99
		a := New(ev, &rule.Rule{ID: "r", Format: "elastic"})
		as = append(as, a)
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, []Alert{a}); err != nil {
			t.Fatal(err)
		}
		want = append(want, buf.String())
		identity := "pos:f.json:99"
		if id := ev.ID(); id != "" {
			identity = "event:" + id
		}
		sum := sha256.Sum256([]byte(identity + "\x00r"))
		if a.ID != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: id %s, want sha256(%q)", rec, a.ID, identity+"\x00r")
		}
	}
	// the parser's next records overwrite what the events pointed at
	for range 3 {
		if _, err := p.Parse([]byte(`{"eventSource":"xxxxxxxxxxxxxxxxxxxxx","eventName":"yyyyyyyyyyyyyyyyyy","eventID":"zzzzzzzzzzzzzzzzzzzzzz"}`)); err != nil {
			t.Fatal(err)
		}
	}
	for i, a := range as {
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, []Alert{a}); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want[i] {
			t.Errorf("alert changed after the parser moved on:\n%s\nwas\n%s", buf.String(), want[i])
		}
	}
}

func TestSort(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	mk := func(sec int, name, id string) Alert {
		return Alert{ID: id, Time: t0.Add(time.Duration(sec) * time.Second), Rule: Rule{Name: name}}
	}
	for _, tc := range []struct {
		name string
		in   []Alert
		want []string // ids in order
	}{
		{"by time", []Alert{mk(2, "a", "x"), mk(1, "b", "y"), mk(3, "a", "z")}, []string{"y", "x", "z"}},
		{"then rule name", []Alert{mk(1, "b", "x"), mk(1, "a", "y")}, []string{"y", "x"}},
		{"then id", []Alert{mk(1, "a", "z"), mk(1, "a", "x"), mk(0, "c", "w"), mk(1, "a", "y")}, []string{"w", "x", "y", "z"}},
		{"empty", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			Sort(tc.in)
			var got []string
			for _, a := range tc.in {
				got = append(got, a.ID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("order %v, want %v", got, tc.want)
			}
		})
	}
}

// sortSlow is Sort as it was: sort.Slice on the alerts themselves.
func sortSlow(as []Alert) {
	sort.Slice(as, func(i, j int) bool {
		a, b := &as[i], &as[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.Rule.Name != b.Rule.Name {
			return a.Rule.Name < b.Rule.Name
		}
		return a.ID < b.ID
	})
}

// sortInput builds alerts from data, a byte each for the time, rule name
// and id out of few values (many ties, alerts equal in all three told
// apart by their path), and a byte that may take the alerts in order; at
// most 2048 alerts (an alert is large).
func sortInput(data []byte) []Alert {
	data = data[:min(len(data), 3*2048+1)]
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var as []Alert
	for i := 0; i+3 <= len(data); i += 3 {
		as = append(as, Alert{
			ID:   string('a' + rune(data[i+2]%3)),
			Time: t0.Add(time.Duration(data[i]%5) * time.Second),
			Rule: Rule{Name: string('m' + rune(data[i+1]%3)), Path: strconv.Itoa(i)},
		})
	}
	if len(data)%3 == 1 && data[len(data)-1]%2 == 0 {
		sortSlow(as)
	}
	return as
}

// Sort gives the order sort.Slice gave, ties included.
func TestSortAsSlow(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		data := make([]byte, 3*(n%60)+n%3)
		for i := range data {
			data[i] = byte(r.IntN(256))
		}
		checkSortAsSlow(t, data)
	}
}

func FuzzSortAsSlow(f *testing.F) {
	f.Add([]byte("abcabdxyzxya0"))
	f.Add([]byte("zzzyyyxxxwwwvvv"))
	f.Fuzz(checkSortAsSlow)
}

func checkSortAsSlow(t *testing.T, data []byte) {
	got, want := sortInput(data), sortInput(data)
	Sort(got)
	sortSlow(want)
	for i := range want {
		if got[i].Rule.Path != want[i].Rule.Path {
			t.Fatalf("%x: alert %d is %+v, want %+v", data, i, got[i], want[i])
		}
	}
}

// An alert's fields are what event.Lookup gives of each output field, read
// through the views kept for the rule (one copy of their strings), whatever
// the values' types and counts; a rule whose output fields change is read
// by name again.
func TestNewFieldsAsLookup(t *testing.T) {
	fields := []string{"eventName", "sourceIPAddress", "userIdentity.type", "readOnly", "requestParameters",
		"requestParameters.n", "resources.ARN", "aws.cloudtrail.resources.arn", "related.user", "absent.field",
		"user.name", "cloud.account.id", "event.outcome", "aws.cloudtrail.request_parameters", "source.ip", "@timestamp", "errorCode"}
	r := &rule.Rule{ID: "fields", Format: "sigma", InvestigationFields: fields}
	var p event.Parser
	for _, rec := range []string{
		`{"eventVersion":"1.08","eventTime":"2026-01-02T03:04:05Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","sourceIPAddress":"192.0.2.1","userIdentity":{"type":"IAMUser","userName":"é\\u00e9","accountId":"1"},"readOnly":false,"requestParameters":{"n":12.50,"userName":"x"},"resources":[{"ARN":"a"},{"ARN":"b"}],"eventID":"1"}`,
		`{"eventVersion":"1.08","eventTime":"2026-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"","sourceIPAddress":"AWS Internal","errorCode":"AccessDenied","requestParameters":null,"resources":[],"eventID":"2"}`,
		`{"eventSource":"only-source"}`,
	} {
		ev, err := p.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{}
		for _, f := range fields {
			if v := event.Lookup(ev, f); v != nil {
				want[f] = v
			}
		}
		for _, rr := range []*rule.Rule{r, r, {ID: "fields", Format: "sigma", InvestigationFields: append([]string(nil), fields...)}} {
			if got := New(ev, rr).Fields; !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %#v\nwant %#v", rec, got, want)
			}
		}
		r.InvestigationFields = fields[:len(fields)-1] // another slice: by name
		delete(want, fields[len(fields)-1])
		if got := New(ev, r).Fields; !reflect.DeepEqual(got, want) {
			t.Errorf("%s, fields changed:\n got %#v\nwant %#v", rec, got, want)
		}
		r.InvestigationFields = fields
	}
}

// FuzzNewFieldsAsLookup: on any record, an alert's fields (read through the
// rule's kept views, copied at once) are what event.Lookup gives by name.
func FuzzNewFieldsAsLookup(f *testing.F) {
	for _, s := range []string{
		`{"eventSource":"s","eventName":"n","userIdentity":{"type":"Root","arn":"a"},"sourceIPAddress":"1.2.3.4","readOnly":true}`,
		`{"eventSource":"s","eventName":"n","requestParameters":{"a":[1,"x",{"b":null}]},"resources":[{"ARN":"a"},{"ARN":"\u0062"}]}`,
		`{"_source":{"event":{"action":"X","provider":"y"},"user":{"name":["a","b"]}}}`,
	} {
		f.Add([]byte(s))
	}
	fields := []string{"eventName", "sourceIPAddress", "userIdentity.type", "userIdentity", "readOnly", "requestParameters.a",
		"resources.ARN", "user.name", "event.action", "aws.cloudtrail.request_parameters", "related.ip", "user_agent.original"}
	r := &rule.Rule{ID: "fuzz", Format: "sigma", InvestigationFields: fields}
	f.Fuzz(func(t *testing.T, rec []byte) {
		var p event.Parser
		ev, err := p.Parse(rec)
		if err != nil {
			return
		}
		want := map[string]any{}
		for _, f := range fields {
			if v := event.Lookup(ev, f); v != nil {
				want[f] = v
			}
		}
		if got := New(ev, r).Fields; !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %#v\nwant %#v", rec, got, want)
		}
	})
}

// A rule's output views go with the rule: rules loaded again and again
// (serve on SIGHUP) are not kept alive by them, nor fill their bound, past
// which every alert's fields were looked up by name.
func TestOutputViewsGoWithTheirRule(t *testing.T) {
	ev := parse(t, `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","eventID":"e-1","eventTime":"2026-11-03T10:00:00Z","sourceIPAddress":"192.0.2.1"}`)
	before := outputCached.Load()
	// collected waits for the rules no longer used to be forgotten
	collected := func(kept int64) int64 {
		deadline := time.Now().Add(10 * time.Second)
		for outputCached.Load() > before+kept && time.Now().Before(deadline) {
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
		return outputCached.Load() - before
	}
	for load := range 8 { // eight loads of half the bound's rules each
		for range maxOutputViews / 2 {
			r := &rule.Rule{ID: "r", Name: "Rule", Type: "query", InvestigationFields: []string{"source.address"}}
			if a := New(ev, r); a.Fields["source.address"] != "192.0.2.1" {
				t.Fatalf("fields = %v", a.Fields)
			}
		}
		if n := collected(0); n > 0 {
			t.Fatalf("after load %d: %d rules' views kept, want none (their rules are gone)", load, n)
		}
	}
	r := &rule.Rule{ID: "last", Name: "Rule", Type: "query", InvestigationFields: []string{"source.address"}}
	New(ev, r)
	if fieldViews(r, r.InvestigationFields) == nil {
		t.Fatal("the latest rule has no views: the bound filled with rules gone")
	}
	if n := collected(1); n > 1 {
		t.Errorf("%d rules' views kept, want 1 (the rule still in use)", n)
	}
	if _, ok := outputViews.Load(weak.Make(r)); !ok {
		t.Error("the rule still in use lost its views")
	}
	runtime.KeepAlive(r)
}
