package hunt

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/record"
)

// Hostile input (issue 9): for each defect, the valid record beside the bad
// one still alerts, the bad one is reported with its place (an error when
// it is not evaluated, a warning when it is), and the alerts are written.
func TestHostileInputKeepsValidRecords(t *testing.T) {
	rec := func(id string) string { return strings.Replace(good, `"ID"`, `"`+id+`"`, 1) }
	bom := "\xEF\xBB\xBF"
	big := `{"eventName":"x","pad":"` + strings.Repeat("a", 3<<20) + `"}`
	// a record that alerts but for its 65,536 more elements, under the size limit
	many := strings.Replace(rec("m2"), `"principal":"*"`, `"principal":"*","pad":[`+strings.Repeat("1,", record.MaxValues)+`1]`, 1)
	utf16 := []byte{0xFF, 0xFE}
	for _, c := range rec("u16") {
		utf16 = append(utf16, byte(c), 0)
	}
	var invalid strings.Builder // item 1: what RFC 8259 forbids, one record per line
	bad := []string{`NaN`, `nan`, `inf`, "\"a\x01b\"", `"\q"`, `"\u12"`, `+1`, `0123`, `.5`, `5.`, `1e`}
	for _, x := range bad {
		invalid.WriteString(strings.Replace(rec("bad"), `"principal":"*"`, `"principal":`+x, 1) + "\n")
	}
	tests := []struct {
		name     string
		file     string
		data     []byte
		want     []string // event ids that alert
		errs     []string // in the input errors, in order
		warnings []string
	}{
		{"1 invalid JSON", "invalid.jsonl", []byte(rec("v1") + "\n" + invalid.String() + rec("v2") + "\n"),
			[]string{"v1", "v2"}, repeat("invalid JSON", len(bad)), nil},
		{"2 cut line", "cut.jsonl", []byte(`{"eventSource":"lambda.amazonaws.com","eventName":"AddPerm` + "\n" + rec("c2") + "\n"),
			[]string{"c2"}, []string{"cut.jsonl:1 (byte 58): invalid JSON: line break inside a string"}, nil},
		{"2 cut line outside a string", "cut2.jsonl", []byte(`{"eventSource":"lambda.amazonaws.com",` + "\n" + rec("c3") + "\n"),
			[]string{"c3"}, []string{"cut2.jsonl:1 (byte 0): invalid JSON: incomplete record"}, nil},
		{"3 BOM jsonl", "bom.jsonl", []byte(bom + rec("b1") + "\n" + rec("b2") + "\n"), []string{"b1", "b2"}, nil, nil},
		{"3 BOM delivery file", "bom.json", []byte(bom + `{"Records":[` + rec("b3") + `]}`), []string{"b3"}, nil, nil},
		{"3 BOM gzip", "bom.json.gz", gz([]byte(bom + rec("b4") + "\n")), []string{"b4"}, nil, nil},
		{"3 UTF-16", "utf16.json", utf16, nil, []string{"utf16.json:1 (byte 0): UTF-16 encoded; convert to UTF-8"}, nil},
		{"8 duplicate keys", "dup.jsonl", []byte(strings.Replace(rec("d1"), `"eventName":"AddPermission20150331v2"`,
			`"eventName":"GetPolicy","eventName":"AddPermission20150331v2"`, 1) + "\n" + rec("d2") + "\n"),
			[]string{"d1", "d2"}, nil, []string{`dup.jsonl:1 (byte 0): duplicate key "eventName"`}},
		{"8 nested duplicate keys", "dup2.jsonl", []byte(strings.Replace(rec("d3"), `"principal":"*"`,
			`"principal":"lambda.amazonaws.com","principal":"*"`, 1) + "\n"),
			[]string{"d3"}, nil, []string{`dup2.jsonl:1 (byte 0): duplicate key "principal"`}},
		{"12 oversized record", "big.jsonl", []byte(rec("g1") + "\n" + big + "\n" + rec("g2") + "\n"),
			[]string{"g1", "g2"}, []string{"big.jsonl:2", "record exceeds size limit"}, nil},
		{"12 too many values", "many.jsonl", []byte(rec("m1") + "\n" + many + "\n" + rec("m3") + "\n"),
			[]string{"m1", "m3"}, []string{"many.jsonl:2 (byte ", "record holds more than 65536 array elements and object members"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), builtinEngine(t), Options{Paths: []string{path}, MaxRecord: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			alerts, sum := res.Alerts, res.Summary
			ids := map[string]bool{}
			for _, a := range alerts {
				ids[a.Event.ID] = true
			}
			for _, id := range tt.want {
				if !ids[id] {
					t.Errorf("valid record %s raised no alert (alerts for %v)", id, ids)
				}
			}
			if len(ids) != len(tt.want) {
				t.Errorf("alerts for %v, want only %v", ids, tt.want)
			}
			check := func(what string, es []InputError, count int, want []string) {
				var msgs []string
				for _, e := range es {
					msgs = append(msgs, strings.TrimPrefix(e.Error(), filepath.Dir(path)+"/"))
				}
				joined := strings.Join(msgs, "\n")
				if len(want) == 0 && count != 0 {
					t.Errorf("%s: %s", what, joined)
				}
				rest := joined
				for _, w := range want {
					i := strings.Index(rest, w)
					if i < 0 {
						t.Errorf("%s lack %q:\n%s", what, w, joined)
						break
					}
					rest = rest[i+len(w):]
				}
			}
			check("errors", sum.Errors, sum.ErrorCount, tt.errs)
			check("warnings", sum.Warnings, sum.WarningCount, tt.warnings)
			for _, e := range sum.Errors {
				if e.Warning {
					t.Errorf("warning among errors: %v", e)
				}
			}
			// the alerts are written, one valid JSON line each
			var out bytes.Buffer
			if err := alert.WriteJSONL(&out, alerts); err != nil {
				t.Fatalf("WriteJSONL: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(alerts) > 0 && len(lines) != len(alerts) {
				t.Errorf("%d lines written for %d alerts", len(lines), len(alerts))
			}
			for _, l := range lines {
				if len(alerts) > 0 && !json.Valid([]byte(l)) {
					t.Errorf("invalid JSON line: %s", l)
				}
			}
		})
	}
}

// The duplicate key's last occurrence is what rules see and what the alert
// carries.
func TestDuplicateKeyLastWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dup.jsonl")
	data := strings.Replace(good, `"eventName":"AddPermission20150331v2"`, `"eventName":"GetPolicy","eventName":"AddPermission20150331v2"`, 1)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), builtinEngine(t), Options{Paths: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alerts) == 0 {
		t.Fatal("no alert: the first eventName was used")
	}
	for _, a := range res.Alerts {
		if a.Event.Action != "AddPermission20150331v2" || strings.Contains(string(a.Record), "GetPolicy") {
			t.Errorf("alert on %s with record %s", a.Event.Action, a.Record)
		}
	}
	if res.Summary.ErrorCount != 0 || res.Summary.WarningCount != 1 {
		t.Errorf("errors %v, warnings %v; want one warning", res.Summary.Errors, res.Summary.Warnings)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
