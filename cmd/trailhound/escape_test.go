package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What trailhound shows people carries what others wrote: a record's ARN
// and source, a file's name, a query's values. TestTerminalEscapes hunts
// and queries records with terminal control sequences in them: the table,
// the summary and the errors show them escaped, and JSON Lines output keeps
// the record's own JSON escapes (it is data, not text for a terminal).
func TestTerminalEscapes(t *testing.T) {
	dir := t.TempDir()
	// a console sign-in without MFA (a built-in rule alerts on it), with
	// an OSC title change and a colour in its fields
	rec := `{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"1.2.3.4\u001b[31mRED","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root\u001b]0;pwned\u0007\u202e","accountId":"1"},"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},"eventID":"e1","recipientAccountId":"1"}`
	if err := os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"Records":[`+rec+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "x\x1b[2Jcleared.json")
	if err := os.WriteFile(bad, []byte(`{"Records":[{"eventVersion":BAD}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	shown := func(name, s string, want ...string) {
		t.Helper()
		if strings.ContainsAny(s, "\x1b\x07\u202e") {
			t.Errorf("%s keeps a control character: %q", name, s)
		}
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("%s lacks %q:\n%s", name, w, s)
			}
		}
	}

	code, out, errs := runCmd(t, "hunt", "-f", "table", dir)
	if code != exitErrors {
		t.Fatalf("exit %d, want %d (an input error): %s", code, exitErrors, errs)
	}
	shown("the table", out, `arn:aws:iam::1:root\u001b]0;pwned\u0007\u202e`, `1.2.3.4\u001b[31mRED`, "ConsoleLogin")
	shown("stderr", errs, `x\u001b[2Jcleared.json:1`, "invalid JSON")

	code, out, errs = runCmd(t, "hunt", "-f", "jsonl", dir)
	if code != exitErrors {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var a struct{ Record json.RawMessage }
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &a); err != nil {
		t.Fatalf("JSON Lines: %v\n%s", err, out)
	}
	var r struct{ UserIdentity struct{ Arn string } }
	if err := json.Unmarshal(a.Record, &r); err != nil || r.UserIdentity.Arn != "arn:aws:iam::1:root\x1b]0;pwned\x07\u202e" {
		t.Errorf("the alert's record lost its value: %q, %v", r.UserIdentity.Arn, err)
	}
	shown("stderr (jsonl)", errs, `x\u001b[2Jcleared.json:1`)

	code, out, errs = runCmd(t, "query", "FROM x | KEEP source.ip, aws.cloudtrail.user_identity.arn", filepath.Join(dir, "a.json"))
	if code != 0 {
		t.Fatalf("query: exit %d: %s", code, errs)
	}
	shown("the query's table", out, `\u001b]0;pwned`)
}
