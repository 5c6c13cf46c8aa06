package pyrule

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/trailhound/trailhound/rule"
)

type testReq struct {
	Rule    int             `json:"rule"`
	Log     json.RawMessage `json:"log"`
	LogType string          `json:"log_type,omitempty"`
	Mocks   []mockSpec      `json:"mocks,omitempty"`
}

type mockSpec struct {
	ObjectName  string `json:"objectName"`
	ReturnValue any    `json:"returnValue"`
}

// Runs reports whether the runtime runs r's tests.
func (rt *Runtime) Runs(r *rule.Rule) bool {
	if rt == nil {
		return false
	}
	pr := rt.byRule[r]
	return pr != nil && pr.functions != nil
}

// Test runs one of a rule's unit tests as Panther's test runner does: its
// log is the event (with p_log_type from the test's LogType, default
// AWS.CloudTrail), its Mocks replace names in the rule's module
// (functions return returnValue), the cache starts empty, and rule() must
// return ExpectedResult; when it returns true every alert function must
// run without error and give the Expected* values the test names. It
// returns whether the test passed and, if not, what differed.
func (rt *Runtime) Test(r *rule.Rule, t rule.Test) (bool, string) {
	pr := rt.byRule[r]
	if pr == nil || pr.functions == nil {
		return false, "the rule's Python did not load: " + r.Unsupported
	}
	if len(t.Logs) != 1 {
		return false, fmt.Sprintf("a Panther Python test has one Log, this one has %d", len(t.Logs))
	}
	req := testReq{Rule: pr.idx, Log: t.Logs[0], LogType: t.LogType}
	for _, m := range t.Mocks {
		req.Mocks = append(req.Mocks, mockSpec(m))
	}
	var res result
	if err := rt.testCall(req, &res); err != nil {
		return false, err.Error()
	}
	pass, msg := judge(r, t, &res)
	switch {
	case pass:
	case res.NoModel != "":
		msg += fmt.Sprintf(" (no data model for log type %s was found: the checkout's data_models/ has none; --panther-helpers DIR adds a folder holding one)", res.NoModel)
	default:
		if m, ok := rt.modelOf(testLogType(t)); ok && m.Builtin {
			msg += fmt.Sprintf(" (log type %s read through trailhound's built-in data model %s; a checkout's data_models/ or --panther-helpers DIR holding one for it replaces it)", m.LogType, m.File)
		}
	}
	return pass, msg
}

// testLogType is the log type of a test's event: its LogType, else the
// log's p_log_type, else AWS.CloudTrail (as the worker decides it).
func testLogType(t rule.Test) string {
	if t.LogType != "" {
		return t.LogType
	}
	if len(t.Logs) == 1 {
		var l struct {
			LogType string `json:"p_log_type"`
		}
		if json.Unmarshal(t.Logs[0], &l) == nil && l.LogType != "" {
			return l.LogType
		}
	}
	return "AWS.CloudTrail"
}

// judge compares a test's result with what it expects.
func judge(r *rule.Rule, t rule.Test, res *result) (bool, string) {
	switch {
	case res.E != "":
		return false, "rule() raised an error: " + res.E
	case res.M != t.Expected:
		return false, fmt.Sprintf("rule() returned %v, expected %v", res.M, t.Expected)
	case !res.M:
		return true, ""
	case len(res.AE) > 0:
		return false, "alert function error: " + strings.Join(res.AE, "; ")
	}
	title := r.Name
	if res.Title != nil {
		title = *res.Title
	}
	if t.ExpectedTitle != "" && title != t.ExpectedTitle {
		return false, fmt.Sprintf("title %q, expected %q", title, t.ExpectedTitle)
	}
	if t.ExpectedDedup != "" && res.Dedup != t.ExpectedDedup {
		return false, fmt.Sprintf("dedup %q, expected %q", res.Dedup, t.ExpectedDedup)
	}
	if t.ExpectedSeverity != "" {
		got := res.Sev
		if got == "" {
			got = "DEFAULT"
		}
		if !strings.EqualFold(got, t.ExpectedSeverity) && !(got == "DEFAULT" && severityOf(t.ExpectedSeverity) == r.Severity) {
			return false, fmt.Sprintf("severity %s, expected %s", got, t.ExpectedSeverity)
		}
	}
	if t.ExpectedContext != nil {
		if ok, msg := t.CheckContext(res.Ctx); !ok {
			return false, msg
		}
	}
	return true, ""
}

func (rt *Runtime) testCall(req testReq, out *result) error {
	w, err := rt.get()
	if err != nil {
		return err
	}
	err = w.callJSON('T', req, out, rt.opts.Timeout*2+10e9)
	if errors.Is(err, errWorker) {
		rt.drop(w)
		return err
	}
	rt.put(w)
	return err
}
