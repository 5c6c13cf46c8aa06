package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/pyrule"
)

const pyRules = "../../pyrule/testdata/checkout"

// Without python3, Python rules are listed as needing it and the rest runs.
func TestPythonMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-python3")
	code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "--python", missing, "-r", pyRules, "-r", "../../builtin/rules", "../../testdata/samples")
	if code != 0 || out == "" || !strings.Contains(errs, "warning: no python3: "+missing+" does not run") ||
		!strings.Contains(errs, "3 Panther Python rule(s) not run") || !strings.Contains(errs, "needs python3 (key_created.py)") {
		t.Errorf("exit %d\n%s", code, errs)
	}
}

// The Python rules run in a hunt, explain shows their prefilter, and
// test runs their tests.
func TestPythonCommands(t *testing.T) {
	if _, _, err := pyrule.FindPython(""); err != nil {
		t.Skipf("no usable python3 (%v)", err)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	logs := filepath.Join(t.TempDir(), "logs.jsonl")
	os.WriteFile(logs, []byte(`{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"IAMUser","userName":"alice"},"requestParameters":{"userName":"bob"},"eventID":"k1"}`+"\n"), 0o644)
	code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "-r", pyRules, logs)
	if code != 0 || !strings.Contains(out, `"title":"alice created an access key for bob"`) ||
		!strings.Contains(errs, "Python rules: 3 run by") || !strings.Contains(errs, "1 events reached Python") {
		t.Errorf("hunt: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "rules", "explain", "Test.KeyCreated", pyRules)
	if code != 0 || !strings.Contains(out, `prefilter: errorCode is empty or missing; errorMessage is empty or missing; eventName in "CreateAccessKey", "UpdateAccessKey"; eventSource in "iam.amazonaws.com"`) {
		t.Errorf("explain: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "rules", "list", pyRules)
	if code != 0 || strings.Count(out, "runs in Python, prefiltered") != 3 {
		t.Errorf("list: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "test", pyRules)
	if code != 0 || !strings.Contains(out, "3 passed, 0 failed") {
		t.Errorf("test: exit %d\n%s%s", code, out, errs)
	}
	// -v says which data model serves each log type: the checkout's for
	// CloudTrail, trailhound's built-in ones for the others
	code, out, errs = runCmd(t, "test", "-v", pyRules)
	if code != 0 || !regexp.MustCompile(`data model for AWS.CloudTrail: \S*/data_models/test_model.yml\n`).MatchString(out) ||
		!strings.Contains(out, "data model for Okta.SystemLog: trailhound's built-in okta_systemlog.yml (no checkout has one)") {
		t.Errorf("test -v: exit %d\n%s%s", code, out, errs)
	}
}

// The KV cache outlives a hunt in the state file: a user recorded as new
// by one hunt is new to the next.
func TestPythonCacheState(t *testing.T) {
	if _, _, err := pyrule.FindPython(""); err != nil {
		t.Skipf("no usable python3 (%v)", err)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	st := filepath.Join(dir, "state.db")
	day1, day2 := filepath.Join(dir, "day1.jsonl"), filepath.Join(dir, "day2.jsonl")
	os.WriteFile(day1, []byte(`{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","userIdentity":{"type":"IAMUser","userName":"alice"},"requestParameters":{"userName":"carol"},"eventID":"c1"}`+"\n"), 0o644)
	os.WriteFile(day2, []byte(`{"eventVersion":"1.08","eventTime":"2024-05-02T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser","userName":"carol"},"eventID":"l1"}`+"\n"), 0o644)
	if code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "--state", st, "-r", pyRules, day1); code != 0 || out != "" {
		t.Fatalf("day 1: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "--state", st, "-r", pyRules, day2)
	if code != 0 || !strings.Contains(out, `"title":"New user carol logged in (login 1)"`) {
		t.Errorf("day 2: exit %d\n%s%s", code, out, errs)
	}
	// without the state the login is not known to be new
	if code, out, errs := runCmd(t, "hunt", "-f", "jsonl", "-r", pyRules, day2); code != 0 || out != "" {
		t.Errorf("day 2 without state: exit %d\n%s%s", code, out, errs)
	}
}

// rules check reports Python that does not load, with file and error.
func TestPythonCheck(t *testing.T) {
	if _, _, err := pyrule.FindPython(""); err != nil {
		t.Skipf("no usable python3 (%v)", err)
	}
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	code, out, errs := runCmd(t, "rules", "check", "../../pyrule/testdata/bad")
	if code != exitErrors || !strings.Contains(out, "syntax.py: rule Bad.Syntax: SyntaxError: expected ':' (syntax.py:1)") ||
		!strings.Contains(out, "missing.py: rule Bad.MissingModule: ModuleNotFoundError: No module named 'trailhound_no_such_module'") ||
		!strings.Contains(out, "2 files with errors") {
		t.Errorf("exit %d\n%s%s", code, out, errs)
	}
}
