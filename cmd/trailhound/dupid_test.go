package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An Elastic rule and a Sigma rule with one id (as SigmaHQ's GetSessionToken
// Misuse and Elastic's GetSessionToken Usage have) both alert on a record,
// with different ids, and a second hunt with --state knows both: the
// summary agrees with stdout. Loading them is a warning naming both files,
// from hunt and rules check (issue 9, item 7).
func TestSharedRuleIDWarnedAndKeptApart(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	os.Mkdir(rules, 0o755)
	const id = "b45ab1d2-0000-4000-8000-000000000001"
	files := map[string]string{
		filepath.Join(rules, "usage.toml"): `[rule]
rule_id = "` + id + `"
name = "Token Usage"
description = "d"
type = "query"
language = "kuery"
severity = "low"
risk_score = 21
query = "event.provider: sts.amazonaws.com and event.action: GetSessionToken"
`,
		filepath.Join(rules, "misuse.yml"): `title: Token Misuse
id: ` + id + `
status: test
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: sts.amazonaws.com
    eventName: GetSessionToken
  condition: selection
level: low
`,
		filepath.Join(dir, "logs.jsonl"): `{"eventTime":"2026-11-01T10:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetSessionToken","eventID":"e1","awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u"}}` + "\n",
	}
	for name, data := range files {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	warned := func(what, out string) {
		t.Helper()
		for _, want := range []string{"rule id " + id + " is shared by", "usage.toml", "misuse.yml"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no warning with %q:\n%s", what, want, out)
			}
		}
	}
	code, out, _ := runCmd(t, "rules", "check", rules)
	if code != 0 {
		t.Errorf("rules check: exit %d", code)
	}
	warned("rules check", out)
	state := filepath.Join(dir, "state.db")
	for i, want := range []string{"alerts: 2\n", "alerts: 0, 2 raised by an earlier hunt"} {
		code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "--state", state, "-r", rules, filepath.Join(dir, "logs.jsonl"))
		if code != 0 {
			t.Fatalf("hunt %d: exit %d\n%s", i+1, code, errs)
		}
		warned("hunt", errs)
		if !strings.Contains(errs, want) {
			t.Errorf("hunt %d: summary lacks %q:\n%s", i+1, want, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if i == 0 && (len(lines) != 2 || lines[0][:80] == lines[1][:80]) {
			t.Errorf("hunt 1: %d alerts on stdout, want 2 with different ids", len(lines))
		}
	}
}
