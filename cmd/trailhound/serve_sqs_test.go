package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/s3trail/s3test"
	"github.com/trailhound/trailhound/sqsinput/sqstest"
	"github.com/trailhound/trailhound/syncbuf"
)

// serve --sqs-queue-url reads the CloudTrail objects S3 notifications
// announce (direct and through SNS, one twice) from an S3-compatible store
// and raises hunt's alerts over the samples; the messages are deleted once
// their records are decided, the ledger is kept beside the state, and it
// stops cleanly, leaving the one message whose window is open on the queue.
func TestServeSQS(t *testing.T) {
	awsTestEnv(t)
	s3srv := s3test.New(t)
	q := sqstest.New(t, "trail")
	const bucket = "trail-bucket"
	event := func(key, etag string, size int) string {
		b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
			"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
			"s3": map[string]any{"bucket": map[string]any{"name": bucket},
				"object": map[string]any{"key": strings.ReplaceAll(url.QueryEscape(key), "%2F", "/"), "size": size, "eTag": etag}},
		}}})
		return string(b)
	}
	sns := func(msg string) string {
		b, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "sns-1", "Message": msg})
		return string(b)
	}
	ds := s3test.Deliveries(t, "../../testdata/samples", "")
	var msgs []string
	for i, d := range ds {
		m := event(d.Key, strings.Trim(s3srv.Put(t, bucket, d.Key, d.Body), `"`), len(d.Body))
		if i%2 == 1 {
			m = sns(m)
		}
		msgs = append(msgs, m)
	}
	msgs = append(msgs, msgs[0]) // announced twice
	for _, m := range msgs {
		q.Send("trail", m, 0)
	}

	dir := t.TempDir()
	out := filepath.Join(dir, "alerts.jsonl")
	// A receive whose answer is lost (the SDK's "use of closed network
	// connection", docs/serve.md "Not yet") holds the messages it had out
	// until they are visible again: 2 s here, not the default 5 minutes,
	// keeps a run that meets it within the waits below.
	cfg := filepath.Join(dir, "serve.yaml")
	sqsCfg := fmt.Appendf(nil, "sqs:\n  queue_url: %s\n  endpoint: %s\n  s3_endpoint: %s\n  visibility: 2s\n", q.QueueURL("trail"), q.URL, s3srv.URL)
	if err := os.WriteFile(cfg, sqsCfg, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfg, // the flags below override the config's same values
			"--sqs-queue-url", q.QueueURL("trail"), "--sqs-endpoint", q.URL, "--s3-endpoint", s3srv.URL, "--out", out, "--state", filepath.Join(dir, "s.db"), "--lateness", "24h", "--checkpoint-interval", "20ms", "--max-future", "-1s"}, io.Discard, &stderr)
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stderr:\n%s", what, stderr.String())
			}
		}
	}
	wait("every message received", func() bool { v, _, _ := q.Counts("trail"); return v == 0 })
	// Event time past every window of the samples, once they are all out.
	const sentinelKey = "AWSLogs/210987654321/CloudTrail/us-east-1/2099/01/01/210987654321_CloudTrail_us-east-1_20990101T0005Z_s.json"
	sentinel := `{"eventVersion":"1.08","eventTime":"2099-01-01T00:00:00Z","eventSource":"x.test","eventName":"Tick","eventID":"tick","awsRegion":"us-east-1"}`
	q.Send("trail", event(sentinelKey, strings.Trim(s3srv.Put(t, bucket, sentinelKey, []byte(sentinel)), `"`), len(sentinel)), 0)

	_, huntOut, _ := runCmd(t, "hunt", "-f", "jsonl", "../../testdata/samples")
	want := slices.Compact(jsonlIDs(t, huntOut))
	if len(want) < 5 {
		t.Fatalf("hunt over the samples raised %d alerts", len(want))
	}
	got := func() []string {
		data, _ := os.ReadFile(out)
		return slices.Compact(jsonlIDs(t, string(data)))
	}
	wait("hunt's alerts", func() bool { return slices.Equal(got(), want) })
	wait("every message but the sentinel's deleted", func() bool { _, _, del := q.Counts("trail"); return del == len(msgs) })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve: exit %d\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if v, f, _ := q.Counts("trail"); v+f != 1 {
		t.Errorf("queue holds %d visible and %d in flight; want the sentinel's message", v, f)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.db.ledger")); err != nil {
		t.Errorf("ledger beside the state: %v", err)
	}
}

// A queue that does not exist stops serve at the start (exit 2), naming it.
func TestServeSQSMissingQueue(t *testing.T) {
	awsTestEnv(t)
	q := sqstest.New(t, "trail")
	dir := t.TempDir()
	code, _, errs := runCmd(t, "serve", "--sqs-queue-url", q.QueueURL("nope"), "--sqs-endpoint", q.URL,
		"--state", filepath.Join(dir, "s.db"), "--out", filepath.Join(dir, "a.jsonl"))
	if code != exitErrors || !strings.Contains(errs, "nope") || !strings.Contains(errs, "QueueDoesNotExist") {
		t.Errorf("exit %d, %s; want exit 2 naming the queue", code, errs)
	}
}
