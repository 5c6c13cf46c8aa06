package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The summary prints input warnings (records still read) apart from input
// errors (records lost), and an invalid record beside valid ones does not
// stop the alerts from being written.
func TestHuntWarningsAndErrors(t *testing.T) {
	const rec = `{"eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","eventID":"ID","eventTime":"2026-01-01T00:00:00Z","requestParameters":{"action":"lambda:InvokeFunction","principal":"*"}}`
	dup := strings.Replace(rec, `"eventName"`, `"eventName":"GetPolicy","eventName"`, 1)
	dup = strings.Replace(dup, `"ID"`, `"dup"`, 1)
	bad := strings.Replace(rec, `"principal":"*"`, `"principal":NaN`, 1)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte(dup+"\n"+bad+"\n"+rec+"\n"), 0o644)
	_, out, errs := runCmd(t, "hunt", "-f", "jsonl", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	ids := map[string]bool{}
	for _, l := range lines {
		var a struct {
			Event struct{ ID string } `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alert line %q: %v", l, err)
		}
		ids[a.Event.ID] = true
	}
	if !ids["dup"] || !ids["ID"] || len(ids) != 2 {
		t.Errorf("alerts for %v, want dup and ID", ids)
	}
	for _, want := range []string{"input errors: 1\n", "in.jsonl:2 (byte", "invalid JSON", "input warnings (the records were still read): 1\n",
		"  warning: " + filepath.Join(dir, "in.jsonl") + `:1 (byte 0): duplicate key "eventName"`} {
		if !strings.Contains(errs, want) {
			t.Errorf("summary lacks %q:\n%s", want, errs)
		}
	}
}
