package hunt

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/builtin"
	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
)

func builtinEngine(t testing.TB) *engine.Engine {
	t.Helper()
	rules, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// The shipped samples fire the built-in rules on their positive records and
// on nothing else.
func TestSamples(t *testing.T) {
	res, err := Run(context.Background(), builtinEngine(t), Options{Paths: []string{"../testdata/samples"}})
	alerts, sum := resultParts(res)
	if err != nil {
		t.Fatal(err)
	}
	if sum.ErrorCount != 0 || sum.Files != 3 || sum.Records != 18 {
		t.Fatalf("summary = %+v", sum)
	}
	var got []string
	for _, a := range alerts {
		got = append(got, a.Rule.Name+" @ "+a.Event.Action+" "+a.Time.Format("15:04:05"))
	}
	want := []string{
		// mallory.ops replaces the function's code: the first time that
		// identity does so
		"AWS Lambda Function Code Updated by an Identity for the First Time @ UpdateFunctionCode20150331v2 10:04:40",
		// the Panther seed rule: the service principal's grant (10:05) and
		// the public one; the denied call raises nothing
		"AWS Potential Backdoor Lambda Function Through Resource-Based Policy @ AddPermission20150331v2 10:05:02",
		"AWS STS GetCallerIdentity API Called for the First Time @ GetCallerIdentity 13:30:02",
		"AWS Lambda Function Policy Updated to Allow Public Invocation @ AddPermission20150331v2 13:52:07",
		"AWS Potential Backdoor Lambda Function Through Resource-Based Policy @ AddPermission20150331v2 13:52:07",
		"AWS Lambda Layer Added to Existing Function @ PublishLayerVersion20181031 13:55:31",
		"AWS Lambda Layer Added to Existing Function @ UpdateFunctionConfiguration20150331v2 13:56:02",
		// the seed's ES|QL: the share with account 123456789012, and the
		// public share (group=all), which its dissect reads as userId "all"
		"AWS EC2 EBS Snapshot Shared with Another Account @ ModifySnapshotAttribute 14:12:31",
		"AWS EC2 EBS Snapshot Shared with Another Account @ ModifySnapshotAttribute 14:22:10",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Stable ids: a second run yields the same ids.
	againRes, _ := Run(context.Background(), builtinEngine(t), Options{Paths: []string{"../testdata/samples"}, Workers: 1})
	again := againRes.Alerts
	for i := range alerts {
		if alerts[i].ID != again[i].ID {
			t.Errorf("alert %d id changed between runs", i)
		}
	}
	a := alerts[3] // the public invocation grant
	if a.Fields["source.address"] != "192.0.2.45" || a.Rule.RiskScore != 47 || a.Rule.Threat[0].Tactic.ID != "TA0003" || len(a.Record) == 0 {
		t.Errorf("alert content: %+v", a)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

const good = `{"eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","eventID":"ID","eventTime":"2026-01-01T00:00:00Z","requestParameters":{"action":"lambda:InvokeFunction","principal":"*"}}`

// Bad input is reported with its place, and every good record around it
// is still processed.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	rec := func(id string) string { return strings.Replace(good, `"ID"`, `"`+id+`"`, 1) }
	var pad strings.Builder
	for i := 0; i < 300; i++ { // varied ids so that half the compressed stream holds many records
		r := rec(fmt.Sprintf("pad-%x", sha256.Sum256([]byte{byte(i), byte(i >> 8)})))
		fmt.Fprintf(&pad, "%s,", strings.Replace(r, "2026-01-01", "2026-01-05", 1)) // other runs than the records checked
	}
	truncated := gz([]byte(`{"Records":[` + rec("gz1") + `,` + pad.String() + rec("gzlast") + `]}`))
	files := map[string][]byte{
		"malformed.jsonl":   []byte(rec("m1") + "\n" + `{"eventSource": "x", "eventName": oops}` + "\n" + rec("m2") + "\n"),
		"truncated.json.gz": truncated[:len(truncated)/2],
		"big.jsonl":         []byte(rec("b1") + "\n" + `{"eventName":"x","pad":"` + strings.Repeat("a", 3000) + `"}` + "\n" + rec("b2") + "\n"),
		"utf8.jsonl":        append(append([]byte(rec("u1")+"\n"+`{"eventName":"bad`), 0xff, 0xfe), []byte(`"}`+"\n"+rec("u2")+"\n")...),
		"deep.jsonl":        []byte(rec("d1") + "\n" + `{"eventName":"x","d":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}\n" + rec("d2") + "\n"),
		"notct.json":        []byte(`{"mitre":["T1078"],"usedInWild":true}`),
		"garbage.json":      []byte("hello\n" + rec("g1")),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Run(context.Background(), builtinEngine(t), Options{Paths: []string{dir}, MaxRecord: 2048})
	alerts, sum := resultParts(res)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, a := range alerts {
		ids[a.Event.ID] = true
	}
	for _, id := range []string{"m1", "m2", "gz1", "b1", "b2", "u1", "u2", "d1", "d2", "g1"} {
		if !ids[id] {
			t.Errorf("good record %s lost", id)
		}
	}
	var msgs []string
	for _, e := range sum.Errors {
		msgs = append(msgs, e.Error())
	}
	sort.Strings(msgs)
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{
		"big.jsonl:2 (byte",
		"record exceeds size limit",
		"deep.jsonl:2",
		"garbage.json:1",
		"malformed.jsonl:2",
		"invalid JSON",
		"truncated.json.gz: after",
		"unexpected EOF",
		"utf8.jsonl:2",
		"invalid UTF-8",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("errors lack %q:\n%s", want, joined)
		}
	}
	if sum.ErrorCount != 6 {
		t.Errorf("%d errors, want 6:\n%s", sum.ErrorCount, joined)
	}
	if sum.NonCloudTrail != 1 {
		t.Errorf("non-CloudTrail documents = %d, want 1", sum.NonCloudTrail)
	}
}

// All of Elastic's query, new_terms and threshold rules run over every real CloudTrail log in the
// corpus; there are no input errors, and the only input warnings are the
// two missing commas of the one malformed file the corpus ships (its records
// are still read).
func TestCorpusQueryRules(t *testing.T) {
	if testing.Short() {
		t.Skip("hunts the whole corpus; run without -short (CI does, before the race pass)")
	}
	const rulesDir, logsDir = "../../shared/corpus/elastic-rules", "../../shared/corpus/cloudtrail-logs"
	for _, d := range []string{rulesDir, logsDir} {
		if _, err := os.Stat(d); err != nil {
			t.Skipf("shared corpus not found at %s: %v", d, err)
		}
	}
	rules, errs := elastic.Load([]string{rulesDir})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]int{}
	for _, r := range eng.Rules() {
		byType[r.Type]++
	}
	// every active rule except 5 machine-learning rules and the one ES|QL
	// rule over Elastic's alert indices (with the KQL() function)
	want := map[string]int{"query": 90, "new_terms": 49, "threshold": 5, "esql": 25, "eql": 28}
	if !maps.Equal(byType, want) {
		t.Errorf("compiled %v, want %v", byType, want)
	}
	res, err := Run(context.Background(), eng, Options{Paths: []string{logsDir}})
	alerts, sum := resultParts(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sum.Errors {
		t.Errorf("unexpected input error: %v", e)
	}
	for _, e := range sum.Warnings {
		if !strings.Contains(e.File, "zmallen-cloudtrail2sightings/aws.execution.ec2-user-data.json") || (e.Line != 112 && e.Line != 201) {
			t.Errorf("unexpected input warning: %v", e)
		}
	}
	if sum.WarningCount != 2 {
		t.Errorf("%d input warnings, want 2 (the two missing commas in the known malformed zmallen file)", sum.WarningCount)
	}
	if sum.Records < 40000 {
		t.Errorf("only %d records read", sum.Records)
	}
	t.Logf("%d files, %d records, %d alerts from %d rules", sum.Files, sum.Records, len(alerts), len(sum.Alerts))
}

// resultParts returns a result's alerts and summary (nil-safe for failed runs).
func resultParts(r *Result) ([]alert.Alert, Summary) {
	if r == nil {
		return nil, Summary{}
	}
	return r.Alerts, r.Summary
}
