package hunt

import (
	"context"
	"fmt"
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
		"year1":   `no event time (eventTime "0001-01-01T00:00:00Z" is out of range (years 1900-2199)): rules that need none ran on it with the time in the file name`,
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

// Event times at the edges of what Unix nanoseconds hold made a rule's run
// end wrap around, and the hunt panicked with every Elastic and Sigma rule
// loaded (threshold and ES|QL windows); so did a file name's or mtime's
// time out of range. Such times are input errors now, the records still
// read, with one worker and with two.
func TestEventTimesAtTheEdges(t *testing.T) {
	eng, _ := elasticSigmaEngine(t)
	dir := t.TempDir()
	var b strings.Builder
	times := []string{"1677-09-21T00:12:44Z", "2262-04-11T23:47:16Z", "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "1969-12-30T00:00:00Z", "1970-01-03T00:00:00Z"}
	for k := range 240 { // S3 listings, console logins and access-key calls: threshold, ES|QL, new_terms and Sigma rules match them
		name := []string{"ListBuckets", "ConsoleLogin", "GetCallerIdentity", "ListUsers"}[k%4]
		src := []string{"s3", "signin", "sts", "iam"}[k%4]
		fmt.Fprintf(&b, `{"eventVersion":"1.08","eventSource":"%s.amazonaws.com","eventName":"%s","eventTime":%q,"eventID":"e%d","awsRegion":"us-east-1",`+
			`"sourceIPAddress":"198.51.100.%d","userAgent":"aws-cli/2.15.0","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u%d","accessKeyId":"AKIAEXAMPLEKEY00000%d","userName":"u%d"}}`+"\n",
			src, name, times[k%len(times)], k, k%3, k%2, k%2, k%2)
	}
	path := filepath.Join(dir, "111122223333_CloudTrail_us-east-1_22610102T0304Z_abc.json")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	plain := filepath.Join(dir, "old-mtime.jsonl")
	if err := os.WriteFile(plain, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(plain, old, old); err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		res, err := Run(context.Background(), eng, Options{Paths: []string{dir}, Workers: workers})
		if err != nil {
			t.Fatalf("-w %d: %v", workers, err)
		}
		outOfRange := 0
		for _, e := range res.Summary.Errors {
			if strings.Contains(e.Error(), "is out of range (years 1900-2199)") {
				outOfRange++
			}
		}
		if want := 2 * 240 * 4 / 6; outOfRange != want || res.Summary.Records != 2*240 {
			t.Errorf("-w %d: %d records, %d times out of range, want %d and %d: %v", workers, res.Summary.Records, outOfRange, 2*240, want, res.Summary.Errors[:min(3, len(res.Summary.Errors))])
		}
		for _, a := range res.Alerts {
			if y := a.Time.Year(); y < 1900 || y >= 2200 {
				t.Errorf("-w %d: alert %s at %v", workers, a.Event.ID, a.Time)
			}
		}
	}
}
