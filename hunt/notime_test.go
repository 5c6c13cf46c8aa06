package hunt

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Records without a usable event time are input errors naming the reason
// and the stand-in time; rules that need no event time still alert on them
// at the time in the CloudTrail file name, or the file's modification time,
// marked as such; the new_terms rule skips them, counted; no alert carries
// a time that was not in the data (issue 9, item 6).
func TestNoEventTime(t *testing.T) {
	const ct = `"eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","awsRegion":"us-east-1",` +
		`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u"},"requestParameters":{"functionName":"f","principal":"*","action":"lambda:InvokeFunction"}`
	const sts = `"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u"}`
	dir := t.TempDir()
	named := filepath.Join(dir, "111122223333_CloudTrail_us-east-1_20240102T0304Z_abc.json")
	plain := filepath.Join(dir, "plain.jsonl")
	files := map[string]string{
		named: `{"Records":[{` + ct + `,"eventID":"missing"},{` + ct + `,"eventID":"year1","eventTime":"0001-01-01T00:00:00Z"},` +
			`{` + ct + `,"eventID":"good","eventTime":"2024-01-02T03:01:00Z"},{` + ct + `,"eventID":"logstash","@timestamp":"2024-01-02T03:02:00Z"},` +
			`{` + sts + `,"eventID":"sts"}]}`,
		plain: `{` + ct + `,"eventID":"numeric","eventTime":1704164645}` + "\n",
	}
	for name, data := range files {
		if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(plain, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), builtinEngine(t), Options{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	wantErrs := map[string]string{ // event id -> what the error says
		"missing": "no event time (eventTime missing): rules that need none ran on it with the time in the file name, 2024-01-02T03:04:00Z",
		"year1":   `no event time (eventTime "0001-01-01T00:00:00Z" is out of range (years 1678-2262)): rules that need none ran on it with the time in the file name`,
		"sts":     "no event time (eventTime missing)",
		"numeric": "no event time (eventTime 1704164645 is not an RFC 3339 time): rules that need none ran on it with the file's modification time, 2024-05-06T07:08:09Z",
	}
	if res.Summary.ErrorCount != len(wantErrs) {
		t.Errorf("%d input errors, want %d: %v", res.Summary.ErrorCount, len(wantErrs), res.Summary.Errors)
	}
	for _, e := range res.Summary.Errors {
		found := false
		for _, w := range wantErrs {
			found = found || strings.Contains(e.Error(), w) && e.Line > 0
		}
		if !found {
			t.Errorf("unexpected input error %v", e)
		}
	}
	want := map[string]string{ // event id -> @timestamp, "~" when the file's
		"missing": "~2024-01-02T03:04:00Z", "year1": "~2024-01-02T03:04:00Z", "numeric": "~2024-05-06T07:08:09Z",
		"good": "2024-01-02T03:01:00Z", "logstash": "2024-01-02T03:02:00Z",
	}
	got := map[string]string{}
	for _, a := range res.Alerts {
		if a.Time.Year() < 2000 {
			t.Errorf("alert %s at %v", a.Event.ID, a.Time)
		}
		if a.Rule.Name != "AWS Lambda Function Policy Updated to Allow Public Invocation" {
			continue
		}
		s := a.Time.Format(time.RFC3339)
		if a.TimeSubstitute != nil {
			s = "~" + s
		}
		got[a.Event.ID] = s
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("alert on %s at %q, want %q", id, got[id], w)
		}
	}
	if res.Summary.NoTime != 1 { // the new_terms rule on GetCallerIdentity
		t.Errorf("%d matches skipped for want of event time, want 1", res.Summary.NoTime)
	}
}
