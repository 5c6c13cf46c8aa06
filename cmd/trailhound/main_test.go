package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state/redistest"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHuntSamples(t *testing.T) {
	code, out, errs := runCmd(t, "hunt", "--format", "jsonl", "../../testdata/samples")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 9 {
		t.Fatalf("%d alerts, want 9", len(lines))
	}
	var a struct {
		ID   string `json:"id"`
		Rule struct {
			Name      string `json:"name"`
			RiskScore int    `json:"risk_score"`
		} `json:"rule"`
		Fields map[string]any  `json:"fields"`
		Record json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &a); err != nil { // the GetCallerIdentity alert
		t.Fatal(err)
	}
	if a.Rule.RiskScore != 47 || len(a.ID) != 64 || a.Fields["user.name"] != "mallory.ops" || len(a.Record) == 0 {
		t.Errorf("alert: %s risk %d fields %v", a.Rule.Name, a.Rule.RiskScore, a.Fields)
	}
	for _, want := range []string{"records: 18", "rules: 50 loaded, 50 run, 0 not run", "alerts: 9", "1  AWS Lambda Function Code Updated by an Identity for the First Time", "2  AWS EC2 EBS Snapshot Shared with Another Account", "B/s", "records/s"} { // throughput, in whatever unit its speed gives
		if !strings.Contains(errs, want) {
			t.Errorf("summary lacks %q:\n%s", want, errs)
		}
	}
	code, out, _ = runCmd(t, "hunt", "--format", "table", "--fail-on-alert", "-q", "../../testdata/samples")
	if code != exitAlerts || !strings.Contains(out, "AWS Lambda Layer Added to Existing Function") {
		t.Errorf("table/fail-on-alert: exit %d\n%s", code, out)
	}
}

func TestHuntErrors(t *testing.T) {
	if code, _, errs := runCmd(t, "hunt", "/no/such/path"); code != exitErrors || !strings.Contains(errs, "/no/such/path") {
		t.Errorf("missing path: exit %d, %s", code, errs)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte("{\"eventName\":\"x\",\"eventTime\":\"2026-01-01T00:00:00Z\"}\n{oops}\n"), 0o644)
	code, _, errs := runCmd(t, "hunt", "-f", "jsonl", dir)
	if code != exitErrors || !strings.Contains(errs, "bad.jsonl:2") || !strings.Contains(errs, "records: 1") {
		t.Errorf("bad input: exit %d\n%s", code, errs)
	}
	if code, _, _ := runCmd(t, "hunt", "--format", "xml", dir); code != exitBadUsage {
		t.Errorf("bad format: exit %d", code)
	}
}

func TestRulesCommands(t *testing.T) {
	code, out, _ := runCmd(t, "rules", "list")
	if code != 0 || !strings.Contains(out, "AWS EC2 EBS Snapshot Shared with Another Account") || strings.Contains(out, "not run") {
		t.Errorf("rules list: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "rules", "explain", "151d8f72")
	for _, want := range []string{"Condition:", "Exclusions (top-level NOT conjuncts):", "Indicators:", `aws.cloudtrail.request_parameters  wildcard   *lambda:InvokeFunction*`, `aws.cloudtrail.request_parameters  wildcard   *principal=\**`, "event.action", "Output fields:", "TA0003 Persistence"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("explain lacks %q (exit %d):\n%s", want, code, out)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad_toml.toml"), []byte("[rule]\nname = \"x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad_kql.toml"), []byte("[rule]\nrule_id = \"r2\"\nname = \"Bad\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action:(A or\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ok.toml"), []byte("[rule]\nrule_id = \"r3\"\nname = \"Ok\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action:A\"\n"), 0o644)
	code, out, _ = runCmd(t, "rules", "check", dir)
	for _, want := range []string{"bad_toml.toml:2:", "bad_kql.toml:6:28: rule r2 (Bad): query KQL line 1 column 19", "1 rules loaded (1 runnable, 0 not runnable), 2 files with errors"} {
		if code != exitErrors || !strings.Contains(out, want) {
			t.Errorf("check lacks %q (exit %d):\n%s", want, code, out)
		}
	}
}

func TestGen(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runCmd(t, "gen", "--size", "200KB", "--file-size", "64KB", "--out", dir, "../../testdata/samples")
	if code != 0 {
		t.Fatalf("gen: exit %d %s", code, errs)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) < 3 {
		t.Fatalf("gen wrote %d files", len(files))
	}
	code, out, errs := runCmd(t, "hunt", "-f", "jsonl", dir)
	if code != 0 {
		t.Fatalf("hunt over generated data: exit %d %s", code, errs)
	}
	// every copy of each positive record alerts once, with distinct ids
	// (Panther's dedup folds copies with the same title, so it is left out)
	ids, perRule := map[string]bool{}, map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var a struct {
			ID   string
			Rule struct{ Format, Name string }
		}
		json.Unmarshal([]byte(l), &a)
		if ids[a.ID] {
			t.Fatalf("duplicate alert id %s", a.ID)
		}
		if a.Rule.Format != "panther" {
			ids[a.ID] = true
			perRule[a.Rule.Name]++
		}
	}
	// gen stops at the size asked, so records have different numbers of
	// copies; each alerting rule alerts on several of them
	if len(ids) < 9 {
		t.Errorf("%d alerts over the generated copies", len(ids))
	}
	for name, n := range perRule {
		if n < 2 {
			t.Errorf("%s alerted on %d copy", name, n)
		}
	}
}

func TestHuntStdin(t *testing.T) {
	f, err := os.Open("../../testdata/samples/snapshot-sharing.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	code, _, errs := runCmd(t, "hunt", "-f", "jsonl", "-")
	if code != 0 || !strings.Contains(errs, "records: 5") {
		t.Errorf("stdin: exit %d\n%s", code, errs)
	}
}

// The seed rule "AWS STS GetCallerIdentity API Called for the First Time"
// fires once per new identity on the shipped samples, and not again on a
// second hunt of newer files from the same identity, with the state in a
// file or in Redis.
func TestGetCallerIdentityAcrossHunts(t *testing.T) {
	t.Run("file", func(t *testing.T) { getCallerIdentityAcrossHunts(t, filepath.Join(t.TempDir(), "state.db")) })
	t.Run("redis", func(t *testing.T) { getCallerIdentityAcrossHunts(t, redistest.Start(t).URL(0)) })
}

func getCallerIdentityAcrossHunts(t *testing.T, stateFile string) {
	dir := t.TempDir()
	count := func(out string) (n int, terms []string) {
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var a struct {
				Rule     struct{ ID string }
				NewTerms []string `json:"new_terms"`
			}
			json.Unmarshal([]byte(l), &a)
			if a.Rule.ID == "30fbf4db-c502-4e68-a239-2e99af0f70da" {
				n++
				terms = append(terms, a.NewTerms...)
			}
		}
		return n, terms
	}
	code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "--state", stateFile, "../../testdata/samples")
	if code != 0 {
		t.Fatal(errs)
	}
	// mallory's IAM user is new; the ci-deploy assumed role is excluded by the query
	if n, terms := count(out); n != 1 || terms[0] != "arn:aws:iam::210987654321:user/mallory.ops" {
		t.Fatalf("first hunt: %d alerts %v", n, terms)
	}
	// newer files: the same activity two days later, with new event ids
	newer := filepath.Join(dir, "newer")
	if code, _, errs := runCmd(t, "gen", "--size", "40KB", "--period", "48h", "--out", newer, "../../testdata/samples"); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs = runCmd(t, "hunt", "-f", "jsonl", "--state", stateFile, newer)
	if code != 0 {
		t.Fatal(errs)
	}
	if n, _ := count(out); n != 0 {
		t.Errorf("second hunt raised %d GetCallerIdentity alerts for an identity seen two days before", n)
	}
	if !strings.Contains(errs, "raised by an earlier hunt") {
		t.Errorf("summary does not mention alerts known from the state:\n%s", errs)
	}
	code, out, _ = runCmd(t, "state", "stats", "--state", stateFile)
	if code != 0 || !strings.Contains(out, "30fbf4db-c502-4e68-a239-2e99af0f70da") {
		t.Errorf("state stats: %s", out)
	}
}

func TestQuery(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"query", `FROM logs-aws.cloudtrail-* | STATS n = COUNT(*) BY event.action | WHERE n >= 4 | SORT n DESC, event.action`, "../../testdata/samples"},
			0, []string{"n  event.action", "4  ModifySnapshotAttribute", "(1 rows)"}},
		{[]string{"query", "-f", "jsonl", `any where event.action : "getcalleridentity"`, "../../testdata/samples"},
			0, []string{`"event.action":"GetCallerIdentity"`, `"user.name":"mallory.ops"`}},
		{[]string{"query", "-c", "user.name", "--lang", "kql", `event.action: PublishLayerVersion*`, "../../testdata/samples"},
			0, []string{"user.name\nmallory.ops\n(1 rows)"}},
		{[]string{"query", `FROM x | WHERE a ==`, "../../testdata/samples"}, exitErrors, nil},
		{[]string{"query", `sequence [any where true] [any where true]`, "../../testdata/samples"}, exitErrors, nil},
	}
	for _, tt := range tests {
		code, out, errs := runCmd(t, tt.args...)
		if code != tt.code {
			t.Errorf("%v: exit %d, want %d: %s", tt.args, code, tt.code, errs)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
}

func TestTestCommand(t *testing.T) {
	code, out, _ := runCmd(t, "test")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "187 passed, 0 failed") {
		t.Errorf("built-in tests: exit %d\n%s", code, out)
	}
	// a Sigma rule with a sidecar test file, one test deliberately wrong
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stop_logging.yml"), []byte(`title: CloudTrail logging stopped
id: 5f1c3b1e-0000-4000-8000-000000000001
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventSource: cloudtrail.amazonaws.com
    eventName: [StopLogging, DeleteTrail]
  condition: selection
`), 0o644)
	os.WriteFile(filepath.Join(dir, "stop_logging.tests.yaml"), []byte(`Tests:
  - Name: trail stopped
    ExpectedResult: true
    Log: {eventTime: "2026-10-01T00:00:00Z", eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
  - Name: deliberately broken (a trail read is expected to alert)
    ExpectedResult: true
    Log: {eventTime: "2026-10-01T00:01:00Z", eventSource: cloudtrail.amazonaws.com, eventName: GetTrailStatus}
`), 0o644)
	code, out, _ = runCmd(t, "test", dir)
	if code != exitAlerts || !strings.Contains(out, "--- FAIL CloudTrail logging stopped (5f1c3b1e-0000-4000-8000-000000000001) / deliberately broken (a trail read is expected to alert): expected an alert, got none") ||
		!strings.Contains(out, "1 passed, 1 failed") {
		t.Errorf("broken test: exit %d\n%s", code, out)
	}
}

func TestPlaceholderFlag(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.yml"), []byte(`title: Calls from outside the office
id: 5f1c3b1e-0000-4000-8000-000000000002
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventName: GetCallerIdentity
  filter:
    sourceIPAddress|expand: '%office%'
  condition: selection and not filter
`), 0o644)
	code, out, _ := runCmd(t, "rules", "list", "-r", dir)
	if code != 0 || !strings.Contains(out, "placeholder %office% has no values") {
		t.Errorf("without --placeholder: exit %d\n%s", code, out)
	}
	code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "-r", dir, "--placeholder", "office=192.0.2.45,192.0.2.46", "../../testdata/samples")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "198.51.100.20") {
		t.Errorf("with --placeholder: exit %d, %d alerts\n%s", code, strings.Count(out, "\n"), errs)
	}
}

// A damaged or missing state file is an error naming it (exit 2), never a
// panic or a new empty file; --state-reset moves a file aside and starts over.
func TestStateFileErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "xdg"))
	corrupt := filepath.Join(dir, "corrupt.db")
	os.WriteFile(corrupt, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600)
	missing := filepath.Join(dir, "typo", "state.db")
	good := filepath.Join(dir, "good.db")
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"stats auto is the hunt's default file", []string{"state", "stats", "--state", "auto"}, exitErrors,
			[]string{filepath.Join(dir, "xdg", "trailhound", "state.db"), "does not exist"}},
		{"stats of a mistyped path", []string{"state", "stats", "--state", missing}, exitErrors, []string{missing, "does not exist"}},
		{"stats of a corrupt file", []string{"state", "stats", "--state", corrupt}, exitErrors,
			[]string{"state file " + corrupt + " is corrupt", "move it aside, or start over with hunt --state-reset"}},
		{"hunt with a corrupt file", []string{"hunt", "-q", "--state", corrupt, "../../testdata/samples"}, exitErrors,
			[]string{"state file " + corrupt + " is corrupt", "--state-reset"}},
		{"--state-reset without --state", []string{"hunt", "-q", "--state-reset", "../../testdata/samples"}, exitBadUsage, []string{"--state-reset needs --state"}},
		{"hunt --state-reset over a corrupt file", []string{"hunt", "-q", "--state-reset", "--state", corrupt, "../../testdata/samples"}, 0,
			[]string{"moved " + corrupt + " aside to " + corrupt + ".reset-"}},
		{"stats after the reset", []string{"state", "stats", "--state", corrupt}, 0, nil},
		{"hunt creates a new file", []string{"hunt", "-q", "--state", good, "../../testdata/samples"}, 0, nil},
		{"stats of it", []string{"state", "stats", "--state", good}, 0, nil},
		{"a Redis server not there", []string{"hunt", "-q", "--state", "redis://u:secret@127.0.0.1:1/0?max_retries=-1", "../../testdata/samples"}, exitErrors,
			[]string{"state redis://u:xxxxx@127.0.0.1:1/0", "connection refused"}},
		{"--state-reset of Redis", []string{"hunt", "-q", "--state-reset", "--state", "redis://127.0.0.1:1/0", "../../testdata/samples"}, exitBadUsage,
			[]string{"a Redis state is emptied by deleting its keys"}},
		{"serve on Redis without a spool", []string{"serve", "--listen", "127.0.0.1:0", "--state", "redis://127.0.0.1:1/0"}, exitBadUsage,
			[]string{"local spool folder (spool: in the config)"}},
	}
	for _, tt := range tests {
		code, out, errs := runCmd(t, tt.args...)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d\n%s", tt.name, code, tt.code, errs)
		}
		for _, w := range tt.want {
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tt.name, w, errs)
			}
		}
		if strings.HasPrefix(tt.name, "stats of it") && !strings.Contains(out, "total (8 rules)") {
			t.Errorf("%s:\n%s", tt.name, out)
		}
	}
	for _, p := range []string{"auto", filepath.Join(dir, "xdg"), filepath.Dir(missing)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("state stats created %s", p)
		}
	}
	if aside, _ := filepath.Glob(corrupt + ".reset-*"); len(aside) != 1 {
		t.Errorf("moved aside: %v", aside)
	}
}

// Rule paths that hold nothing stop a hunt before it reads any input;
// a misnamed sidecar is named; `test` with no test that could run fails.
func TestRulePathErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	pyOnly := filepath.Join(dir, "python")
	os.Mkdir(pyOnly, 0o755)
	os.WriteFile(filepath.Join(pyOnly, "p.yml"), []byte(`AnalysisType: rule
Filename: p.py
RuleID: Py.Only
DisplayName: Logic in Python
Severity: Low
LogTypes: [AWS.CloudTrail]
Tests:
  - Name: t
    ExpectedResult: true
    Log: {eventName: x}
`), 0o644)
	noTests := filepath.Join(dir, "notests")
	os.Mkdir(noTests, 0o755)
	os.WriteFile(filepath.Join(noTests, "s.yml"), []byte("title: S\nid: s1\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: StopLogging}\n  condition: sel\n"), 0o644)
	os.WriteFile(filepath.Join(noTests, "s.test.yaml"), []byte("Tests: []\n"), 0o644)
	// an input that is never read: the rule error comes first
	never := filepath.Join(dir, "no-such-input")
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"hunt, missing rules path", []string{"hunt", "-r", filepath.Join(dir, "nope"), never}, exitErrors, []string{"rules " + filepath.Join(dir, "nope") + ": no rule files: the path does not exist"}},
		{"hunt, empty rules folder", []string{"hunt", "-r", empty, never}, exitErrors, []string{"rules " + empty + ": no rule files (.toml, .yml, .yaml) in it"}},
		{"rules check, empty folder", []string{"rules", "check", empty}, exitErrors, []string{"no rule files"}},
		{"test, misnamed sidecar", []string{"test", noTests}, exitErrors, []string{"s.test.yaml: not a rule file; did you mean .tests.yaml?"}},
		{"test, no test could run", []string{"test", pyOnly}, exitErrors, []string{"no test ran: the rules of all 1 tests cannot run"}},
	}
	for _, tt := range tests {
		code, out, errs := runCmd(t, tt.args...)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tt.name, code, tt.code, out, errs)
		}
		for _, w := range tt.want {
			if !strings.Contains(out+errs, w) {
				t.Errorf("%s: output lacks %q:\n%s%s", tt.name, w, out, errs)
			}
		}
		if strings.Contains(errs, "summary") || strings.Contains(errs, "no-such-input") {
			t.Errorf("%s: input was read:\n%s", tt.name, errs)
		}
	}
}

// Panther rules give ATT&CK ids only: explain names them from our table.
func TestExplainAttackNames(t *testing.T) {
	code, out, errs := runCmd(t, "rules", "explain", "AWS.Potential.Backdoor.Lambda")
	if code != 0 || !strings.Contains(out, "ATT&CK: TA0007 Discovery; T1078 Valid Accounts") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}

func TestRulesCoverage(t *testing.T) {
	code, out, errs := runCmd(t, "rules", "coverage")
	if code != 0 || !strings.Contains(out, "| TA0005 Defense Evasion | T1562.008 Disable or Modify Cloud Logs |") {
		t.Errorf("table: exit %d %s\n%s", code, errs, out)
	}
	code, out, errs = runCmd(t, "rules", "coverage", "--format", "navigator", "--name", "pack")
	if code != 0 {
		t.Fatalf("navigator: exit %d %s", code, errs)
	}
	if err := rule.ValidateNavigatorJSON([]byte(out)); err != nil || !strings.Contains(out, `"name": "pack"`) {
		t.Errorf("navigator layer: %v\n%s", err, out)
	}
	if code, _, _ := runCmd(t, "rules", "coverage", "--format", "csv"); code != exitBadUsage {
		t.Errorf("bad format: exit %d", code)
	}
}

// A Sigma 1 aggregation runs as a correlation, and explain says which.
func TestExplainLegacyAggregation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "userdata.yml")
	os.WriteFile(path, []byte(`title: User data downloaded in bulk
id: 6d0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b
status: unsupported
level: medium
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: DescribeInstanceAttribute, requestParameters.attribute: userData}
  timeframe: 30m
  condition: sel | count() by userIdentity.arn > 10
`), 0o644)
	code, out, errs := runCmd(t, "rules", "explain", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"type: sigma_correlation", "correlation: event_count of [6d0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b/search] by [userIdentity.arn] within 30m0s",
		"gt 10", `(Sigma 1 aggregation "sel | count() by userIdentity.arn > 10", run as this correlation)`} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
}
