package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trailhound/trailhound/hunt"
)

const samples = "../../testdata/samples"

// writeFiles writes name → content files under a new folder and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A record the built-in "Lambda Layer Added" rule alerts on, and a broken one.
const (
	layerRecord = `{"eventVersion":"1.08","eventTime":"2026-03-01T10:00:00Z","eventSource":"lambda.amazonaws.com","eventName":"PublishLayerVersion20181031","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/eve"},"eventID":"5b0c6f0e-1d2a-4c55-9a51-6c1f0b6f1a01"}`
	badRecord   = `{"eventName": oops}`
)

func TestExitCodes(t *testing.T) {
	mixed := writeFiles(t, map[string]string{"mixed.jsonl": layerRecord + "\n" + badRecord + "\n"})
	clean := writeFiles(t, map[string]string{"clean.jsonl": strings.Replace(layerRecord, "PublishLayerVersion20181031", "ListLayers20181031", 1) + "\n"})
	rules := writeFiles(t, map[string]string{
		"a.toml": "[rule]\nrule_id = \"aaaa1111\"\nname = \"A\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action:A\"\n",
		"b.toml": "[rule]\nrule_id = \"aaaa2222\"\nname = \"B\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action:B\"\n",
	})
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring of stdout, when set
		stderr string // a substring of stderr, when set
	}{
		{"clean hunt", []string{"hunt", "-q", clean}, 0, "", ""},
		{"alerts without --fail-on-alert", []string{"hunt", "-q", "-f", "jsonl", samples}, 0, `"risk_score"`, ""},
		{"alerts with --fail-on-alert", []string{"hunt", "-q", "--fail-on-alert", samples}, exitAlerts, "", ""},
		{"alerts win over input errors", []string{"hunt", "-q", "--fail-on-alert", mixed}, exitAlerts, "Lambda Layer", ""},
		{"input error", []string{"hunt", "-f", "jsonl", mixed}, exitErrors, "Lambda Layer", "mixed.jsonl:2"},
		{"missing path among several", []string{"hunt", "-f", "jsonl", "/no/such/dir", samples}, exitErrors, "EBS Snapshot", "/no/such/dir"},
		{"format json is jsonl", []string{"hunt", "-q", "-f", "json", samples}, 0, `"risk_score"`, ""},
		{"unknown format", []string{"hunt", "-f", "xml", samples}, exitBadUsage, "", "table or jsonl"},
		{"negative workers", []string{"hunt", "-w", "-1", samples}, exitBadUsage, "", "--workers"},
		{"inverted time range", []string{"hunt", "--from", "2026-02-01", "--to", "2026-01-01", samples}, exitBadUsage, "", "is not before"},
		{"s3 path without --from", []string{"hunt", "s3://bucket/AWSLogs/"}, exitBadUsage, "", "hunting s3:// needs --from"},
		{"other URL", []string{"hunt", "gs://bucket/AWSLogs/"}, exitBadUsage, "", "GS input is not supported by hunt"},
		{"no path", []string{"hunt"}, exitBadUsage, "", "usage: trailhound hunt"},
		{"malformed Redis state URL", []string{"hunt", "--state", "redis://:pw@127.0.0.1:1/0?prefix=", samples}, exitBadUsage, "", "prefix= is empty"},
		{"Redis state URL with a user alone", []string{"state", "stats", "--state", "redis://pw@127.0.0.1:1/0"}, exitBadUsage, "", "a user without a password"},
		{"Redis state server down", []string{"hunt", "--state", "redis://127.0.0.1:1/0?max_retries=-1", samples}, exitErrors, "", "state redis://127.0.0.1:1/0?max_retries=-1: dial tcp"},
		{"unknown flag", []string{"hunt", "--no-such-flag", samples}, exitBadUsage, "", "usage:"},
		{"unknown command", []string{"hunnt"}, exitBadUsage, "", "unknown command"},
		{"version flag", []string{"--version"}, 0, "trailhound version", ""},
		{"rules list with a path", []string{"rules", "list", rules}, 0, "aaaa2222", ""},
		{"rules list with --rules", []string{"rules", "list", "--rules", rules}, 0, "aaaa1111", ""},
		{"rules check with --rules", []string{"rules", "check", "-r", rules}, 0, "2 rules loaded", ""},
		{"rules check without paths", []string{"rules", "check"}, exitBadUsage, "", "usage: trailhound rules check"},
		{"explain empty", []string{"rules", "explain", ""}, exitBadUsage, "", "not an empty string"},
		{"explain ambiguous prefix", []string{"rules", "explain", "aaaa", rules}, exitErrors, "", "aaaa1111  A"},
		{"explain unique prefix", []string{"rules", "explain", "aaaa2", rules}, 0, "event.action:B", ""},
		{"explain a rule file", []string{"rules", "explain", filepath.Join(rules, "a.toml")}, 0, "event.action:A", ""},
		{"explain no such rule", []string{"rules", "explain", "zzzz", rules}, exitErrors, "", "no rule with id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	rules := writeFiles(t, map[string]string{
		"ml1.toml": "[rule]\nrule_id = \"m1\"\nname = \"ML one\"\ntype = \"machine_learning\"\n",
		"ml2.toml": "[rule]\nrule_id = \"m2\"\nname = \"ML two\"\ntype = \"machine_learning\"\n",
		"q.toml":   "[rule]\nrule_id = \"q1\"\nname = \"Layers\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action:PublishLayerVersion*\"\n",
	})
	logs := writeFiles(t, map[string]string{
		"a.jsonl":      layerRecord + "\n" + layerRecord + "\n", // the same event twice
		".hidden.json": layerRecord,
		"README.txt":   "not a log",
	})
	_, _, errs := runCmd(t, "hunt", "-f", "jsonl", "-r", rules, logs)
	for _, want := range []string{
		"642 B on disk, 642 B read", // not "0.0 MB"
		"alerts: 1, 1 matches of an event already seen (same eventID delivered twice)",
		"rules not run, by reason (-v or 'trailhound rules list' names them):\n      2  type machine_learning",
		"not read, hidden (name starts with '.'): 1",
		"not read, not a log file name",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("summary lacks %q:\n%s", want, errs)
		}
	}
	if strings.Contains(errs, "ML one") {
		t.Errorf("without -v the rules not run are counted, not listed:\n%s", errs)
	}
	_, _, errs = runCmd(t, "hunt", "-v", "-f", "jsonl", "-r", rules, logs)
	if !strings.Contains(errs, "m1  ML one: type machine_learning") {
		t.Errorf("-v lists every rule not run:\n%s", errs)
	}
}

// TestHuntInterrupted starts a hunt of a FIFO nobody writes to, sends it
// SIGINT, and expects the summary and exit 130 (not a hang).
func TestHuntInterrupted(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "stuck.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "hunt", "-f", "jsonl", samples, fifo)
	cmd.Env = append(os.Environ(), "TRAILHOUND_AS_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a hang guard, not a timing assertion
		cmd.Process.Kill()
		t.Fatal("hunt did not stop on SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(stderr.String(), "── summary ──") || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestGenReplacesEarlierOutput(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o644)
	size := func() (n int64) {
		files, _ := filepath.Glob(filepath.Join(dir, "synthetic_*"))
		for _, f := range files {
			st, _ := os.Stat(f)
			n += st.Size()
		}
		return n
	}
	for _, s := range []string{"300KB", "100KB"} {
		if code, _, errs := runCmd(t, "gen", "--size", s, "--file-size", "64KB", "--out", dir, samples); code != 0 {
			t.Fatalf("gen: exit %d %s", code, errs)
		}
	}
	if n := size(); n < 100<<10 || n > 200<<10 {
		t.Errorf("after gen 300KB then 100KB the folder holds %d bytes of output", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep.txt")); err != nil {
		t.Errorf("gen removed a file it did not write: %v", err)
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		total, read int64
		want        []string
	}{
		{2_000_000, 500_000, []string{"files 0/3", "500.0 KB of 2.0 MB (25%)", "ETA 3s"}},
		{0, 1500, []string{"1.5 KB", "1.5 KB/s"}}, // stdin: no total, no ETA
	}
	for _, tc := range tests {
		var p hunt.Progress
		p.FilesTotal, p.BytesTotal = 3, tc.total
		p.BytesOnDisk.Store(tc.read)
		got := progressLine(&p, time.Second)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("progress %q lacks %q", got, w)
			}
		}
		if tc.total == 0 && strings.Contains(got, "ETA") {
			t.Errorf("progress %q: ETA without a total", got)
		}
	}
}

// TestQueryWorkersAgree runs queries over the real logs with one and two
// workers: the output is the same, byte for byte.
func TestQueryWorkersAgree(t *testing.T) {
	logs := "../../../shared/corpus/cloudtrail-logs"
	if _, err := os.Stat(logs); err != nil {
		t.Skipf("shared corpus not found at %s: %v", logs, err)
	}
	for _, q := range []string{
		`FROM logs-aws.cloudtrail-* | WHERE event.outcome == "failure" | STATS n = COUNT(*), users = COUNT_DISTINCT(user.name) BY event.provider`,
		`FROM logs-aws.cloudtrail-* | WHERE event.action LIKE "Delete*" | KEEP @timestamp, event.action, source.address`,
		`any where event.action : "Delete*"`,
	} {
		var outs []string
		for _, w := range []string{"1", "2"} {
			code, out, errs := runCmd(t, "query", "-f", "jsonl", "-w", w, q, logs)
			if code != 0 && code != exitErrors { // the corpus has two known input errors
				t.Fatalf("%s: exit %d %s", q, code, errs)
			}
			outs = append(outs, out)
		}
		if outs[0] != outs[1] || len(outs[0]) == 0 {
			t.Errorf("%s: -w 1 and -w 2 differ (%d and %d bytes)", q, len(outs[0]), len(outs[1]))
		}
	}
}

// --profile-rules prints, after the summary, what each rule cost.
func TestProfileRules(t *testing.T) {
	code, _, errs := runCmd(t, "hunt", "-q", "-f", "jsonl", "--profile-rules", samples)
	for _, want := range []string{"── rule profile", "EVALUATED", "AWS Lambda Layer Added to Existing Function (elastic)"} {
		if code != 0 || !strings.Contains(errs, want) {
			t.Errorf("exit %d, profile lacks %q:\n%s", code, want, errs)
		}
	}
}
