package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trailhound/trailhound/sqsinput/sqstest"
	"github.com/trailhound/trailhound/state"
	"github.com/trailhound/trailhound/state/redistest"
)

// Bodies a careless or hostile sender posts: the valid records beside bad
// ones still alert (hunt's ids for the valid records alone), and what is
// not evaluated is counted and never silent: broken records as input
// errors, JSON that is not CloudTrail and CloudTrail digests as skipped
// documents (kind other and digest).
func TestHTTPHostileBodies(t *testing.T) {
	eng := builtinEngine(t)
	valid := filepath.Join(samples, "snapshot-sharing.jsonl")
	want := huntIDs(t, eng, valid)
	if len(want) == 0 {
		t.Fatal("hunt raised no alert over the sample")
	}
	data, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	const (
		bad    = `{"eventTime": "2026-11-03T14:00:00Z", "eventName": ` // cut short
		other  = `{"kind":"heartbeat","host":"collector-1"}`
		digest = `{"awsAccountId":"210987654321","digestStartTime":"2026-11-03T13:00:00Z","digestEndTime":"2026-11-03T14:00:00Z","digestS3Bucket":"b","digestS3Object":"o","logFiles":[]}`
	)
	// one JSON Lines body: every valid line, a broken one, a heartbeat and
	// a digest in between
	var body bytes.Buffer
	for i, l := range lines {
		body.Write(l)
		body.WriteByte('\n')
		switch i {
		case 0:
			body.WriteString(bad + "\n")
		case 1:
			body.WriteString(other + "\n")
		case 2:
			body.WriteString(digest + "\n")
		}
	}
	// a gzip body cut short: what it held before the cut is read
	zipped := gz(t, []byte(other+"\n"+other+"\n"+sentinel[:40]))
	h := startHTTP(t, t.TempDir(), newFakeES(t))
	for _, b := range [][]byte{body.Bytes(), zipped[:len(zipped)-6], []byte("[" + other + "," + digest + "]"), []byte(sentinel)} {
		if resp := h.post(b, nil); resp.StatusCode != 202 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	waitFor(t, 30*time.Second, "hunt's alerts of the valid records", func() bool { return slices.Equal(h.es.ids(), want) })
	waitFor(t, 30*time.Second, "every body read", func() bool {
		return testutil.ToFloat64(h.m.Records.WithLabelValues("http")) == float64(len(lines)+1)
	})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := jsonlIDs(t, h.out); !slices.Equal(got, want) {
		t.Errorf("JSON Lines ids\n got %v\nwant %v", got, want)
	}
	checkCounts(t, false,
		count{"input errors (the broken record, the cut gzip)", testutil.ToFloat64(h.m.InputErrors.WithLabelValues("http")), 2},
		count{"skipped documents that are not CloudTrail", testutil.ToFloat64(h.m.InputSkipped.WithLabelValues("http", "other")), 4},
		count{"skipped digests", testutil.ToFloat64(h.m.InputSkipped.WithLabelValues("http", "digest")), 2})
}

// count is a number a test checks: what it counts, its value, and the
// value wanted.
type count struct {
	what      string
	got, want float64
}

// checkCounts reports every count that is not what is wanted (with
// atLeast: that falls short of it).
func checkCounts(t *testing.T, atLeast bool, cs ...count) {
	t.Helper()
	for _, c := range cs {
		if c.got != c.want && (!atLeast || c.got < c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}

// Kafka messages a careless producer sends, one partition: an empty value
// (a tombstone), plain text, a value with a valid record beside a broken
// one, a gzip value cut short, a heartbeat that is not CloudTrail. The
// valid records alert as hunt's do; the others are counted, none silently;
// and the offsets still move past them all.
func TestKafkaHostileMessages(t *testing.T) {
	eng := builtinEngine(t)
	valid := filepath.Join(samples, "snapshot-sharing.jsonl")
	want := huntIDs(t, eng, valid)
	data, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSpace(data), []byte("\n"))
	mixed := append(append([]byte{}, lines[0]...), "{\"eventName\": \n"...)
	for _, l := range lines[1:] {
		mixed = append(mixed, l...)
	}
	cut := gz(t, []byte(`{"kind":"heartbeat"}`)) // cut in its trailer: read, then the error
	c := newKafka(t, 1)
	produce(t, c, 1, nil, []byte("hello"), mixed, cut[:len(cut)-4], []byte(`{"kind":"heartbeat"}`), []byte(sentinel))
	h := startHTTP(t, t.TempDir(), newFakeES(t), &KafkaInput{Brokers: c.ListenAddrs(), Topic: testTopic, Group: "hostile", Log: testLog(t)})
	waitFor(t, 30*time.Second, "hunt's alerts of the valid records", func() bool { return slices.Equal(h.es.ids(), want) })
	waitFor(t, 30*time.Second, "the offsets past the decided messages", func() bool { return committed(t, c, "hostile")[0] == 5 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, false,
		count{"input errors (plain text, the broken record, the cut gzip)", testutil.ToFloat64(h.m.InputErrors.WithLabelValues("kafka")), 3},
		count{"empty messages", testutil.ToFloat64(h.m.InputSkipped.WithLabelValues("kafka", "empty")), 1},
		count{"documents that are not CloudTrail", testutil.ToFloat64(h.m.InputSkipped.WithLabelValues("kafka", "other")), 2})
}

// A JSON Lines sink on a full disk (/dev/full) stops the service with an
// error naming the sink and the cause, and acknowledges nothing: every
// body stays spooled, and the next start, with room, delivers hunt's
// alerts, none lost.
func TestFileSinkFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full (Linux)")
	}
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	run := func(path string, post bool) error {
		m := NewMetrics()
		st, err := state.OpenBolt(filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		in := &HTTPInput{Addr: "127.0.0.1:0", Tokens: []string{testToken}, SpoolDir: spool, Metrics: m, Log: testLog(t)}
		if err := in.Listen(); err != nil {
			t.Fatal(err)
		}
		file, err := OpenFileSink("jsonl", path, nil, m)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Engine: eng, Store: st, Inputs: []Input{in}, Outputs: []*Output{{Name: "jsonl", Deliverer: file}},
				Lateness: lateness, Interval: 20 * time.Millisecond, Metrics: m, Log: testLog(t), Grace: time.Second, Now: farClock})
		}()
		if post {
			h := &harness{t: t, http: in}
			for _, f := range append(sampleFiles(t), "") {
				body := []byte(sentinel)
				if f != "" {
					if body, err = os.ReadFile(f); err != nil {
						t.Fatal(err)
					}
				}
				if resp := h.post(body, nil); resp.StatusCode != 202 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
		} else {
			waitFor(t, 30*time.Second, "hunt's alerts after the restart", func() bool {
				return slices.Equal(jsonlIDs(t, path), want)
			})
			cancel()
		}
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return nil
		}
	}
	err := run("/dev/full", true)
	if err == nil || !strings.Contains(err.Error(), "sink jsonl") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("serve over a full disk ended with %v, want an error naming the sink and the cause", err)
	}
	if n := len(spoolFiles(t, spool)); n != len(sampleFiles(t))+1 {
		t.Errorf("%d bodies spooled after the failure, want all %d (nothing acknowledged)", n, len(sampleFiles(t))+1)
	}
	if err := run(filepath.Join(dir, "alerts.jsonl"), false); err != nil {
		t.Fatal(err)
	}
}

// S3 objects a bucket may hold beside CloudTrail's, announced on SQS: an
// empty object, a gzip object cut short, JSON that is not CloudTrail, a
// CSV file, a digest (skipped by name), and a message that is no
// notification at all (poison). The samples' alerts are hunt's; every
// other object is counted as an error or a skip; every message is deleted.
func TestSQSHostileObjects(t *testing.T) {
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	w := newSQSWorld(t)
	const dir = "AWSLogs/210987654321/CloudTrail/us-east-1/2026/11/03/"
	cut := gz(t, []byte(`{"Records":[{"kind":"heartbeat"}]}`))
	hostile := map[string][]byte{
		dir + "210987654321_CloudTrail_us-east-1_20261103T1400Z_empty.json.gz":    nil,
		dir + "210987654321_CloudTrail_us-east-1_20261103T1401Z_cut.json.gz":      cut[:len(cut)-4],
		dir + "210987654321_CloudTrail_us-east-1_20261103T1402Z_other.json":       []byte(`{"inventory":[{"bucket":"b"}]}`),
		dir + "210987654321_CloudTrail_us-east-1_20261103T1403Z_report.csv":       []byte("account,region\n1,us-east-1\n"),
		"AWSLogs/210987654321/CloudTrail-Digest/us-east-1/2026/11/03/digest.json": []byte(`{"digestStartTime":"x"}`),
	}
	var msgs []string
	for k, body := range hostile {
		etag := strings.Trim(w.s3.Put(t, trailBucket, k, body), `"`)
		msgs = append(msgs, sqstest.S3Event(trailBucket, k, etag, len(body)))
	}
	for _, d := range w.ds {
		msgs = append(msgs, sqstest.S3Event(trailBucket, d.Key, w.etags[d.Key], len(d.Body)))
	}
	msgs = append(msgs, "this is not a notification")
	for _, m := range msgs {
		w.sqs.Send("trail", m, 0)
	}
	tmp := t.TempDir()
	in, _ := w.input(t, filepath.Join(tmp, "ledger.db"), 0)
	h := startHTTP(t, tmp, newFakeES(t), in)
	waitFor(t, 30*time.Second, "every object read", func() bool { return sqsBatches(h) == float64(len(w.ds)+4) })
	const sentinelKey = "AWSLogs/210987654321/CloudTrail/us-east-1/2099/01/01/210987654321_CloudTrail_us-east-1_20990101T0005Z_sentinel.json"
	etag := strings.Trim(w.s3.Put(t, trailBucket, sentinelKey, []byte(sentinel)), `"`)
	w.sqs.Send("trail", sqstest.S3Event(trailBucket, sentinelKey, etag, len(sentinel)), 0)
	waitFor(t, 30*time.Second, "hunt's alerts", func() bool { return slices.Equal(h.es.ids(), want) })
	waitFor(t, 30*time.Second, "every message but the sentinel's deleted", func() bool {
		_, _, deleted := w.sqs.Counts("trail")
		return deleted == len(msgs)
	})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	st := in.Consumer.Stats()
	// at least: a message whose visibility lapsed on a loaded machine comes
	// again, and an object not yet in the ledger is read again
	checkCounts(t, true,
		count{"input errors (the cut gzip, the CSV)", testutil.ToFloat64(h.m.InputErrors.WithLabelValues("sqs")), 2},
		count{"empty objects", testutil.ToFloat64(h.m.InputSkipped.WithLabelValues("sqs", "empty")), 1},
		count{"documents that are not CloudTrail", testutil.ToFloat64(h.m.InputSkipped.WithLabelValues("sqs", "other")), 2},
		count{"digests skipped by name", float64(st.Skipped), 1},
		count{"poison messages", float64(st.Poison), 1})
}

// Records far ahead of the wall clock, posted before the real ones: a
// GetCallerIdentity of 2099 (the built-in new_terms rule's event) and a
// StopLogging of 2099 (a single-event rule's). They do not move the
// watermark: the real records after them are on time (no late match) and
// raise hunt's alerts on the real records alone; the new_terms rule skips
// the future record, the single-event rule alerts on it at the time it
// was received (marked as not the event's time), so it is seen; both are
// counted in input_future_total, and the body holding them is
// acknowledged (not replayed at every start).
func TestFutureRecordsDoNotBlind(t *testing.T) {
	eng := builtinEngine(t)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) // after the samples
	const (
		whoami = `{"eventVersion":"1.10","eventTime":"2099-06-01T00:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","eventID":"future-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::210987654321:user/mallory.ops","accountId":"210987654321","userName":"mallory.ops"},"sourceIPAddress":"192.0.2.45","awsRegion":"us-east-1","recipientAccountId":"210987654321"}`
		stop   = `{"eventVersion":"1.10","eventTime":"2099-06-01T00:00:01Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","eventID":"future-2","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::210987654321:user/mallory.ops","accountId":"210987654321","userName":"mallory.ops"},"requestParameters":{"name":"org-main"},"sourceIPAddress":"192.0.2.45","awsRegion":"us-east-1","recipientAccountId":"210987654321"}`
		// closes the samples' windows (a month before it): an hour before the clock
		closer = `{"eventVersion":"1.08","eventTime":"2026-11-30T23:00:00Z","eventSource":"sentinel.trailhound.test","eventName":"Sentinel","eventID":"closer","awsRegion":"us-east-1"}`
	)
	stopFile := filepath.Join(t.TempDir(), "stop.json")
	if err := os.WriteFile(stopFile, []byte(stop), 0o644); err != nil {
		t.Fatal(err)
	}
	stopIDs := huntIDs(t, eng, stopFile)
	if len(stopIDs) != 1 {
		t.Fatalf("hunt raised %v on the StopLogging record, want one alert", stopIDs)
	}
	want := append(huntIDs(t, eng, samples), stopIDs...)
	slices.Sort(want)
	h := startHTTPWith(t, t.TempDir(), newFakeES(t), func(o *Options) {
		o.Now = func() time.Time { return now }
		// longer than the samples span (10:02 to 14:22): their bodies are
		// matched concurrently, and with an hour one done before another
		// came made the other's early records late (a failure in CI)
		o.Lateness = 6 * time.Hour
	})
	bodies := append([][]byte{[]byte(whoami + "\n" + stop + "\n")}, sampleBodies(t)...)
	for _, b := range bodies {
		if resp := h.post(b, nil); resp.StatusCode != 202 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// the closer, whose time moves the watermark, only once every record
	// before it is evaluated: bodies are matched concurrently, and one
	// overtaken by the closer would be late for what serve knew
	records := 2 + len(sampleRecords(t))
	waitFor(t, 30*time.Second, "the records before the closer evaluated", func() bool {
		return testutil.ToFloat64(h.m.Records.WithLabelValues("http")) == float64(records)
	})
	if resp := h.post([]byte(closer), nil); resp.StatusCode != 202 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitFor(t, 30*time.Second, "hunt's alerts and the StopLogging alert", func() bool { return slices.Equal(h.es.ids(), want) })
	waitFor(t, 30*time.Second, "every body but the closing one acknowledged", func() bool { return len(h.spool()) == 1 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, false,
		count{"records in the future (input_future_total)", testutil.ToFloat64(h.m.InputFuture.WithLabelValues("http")), 2},
		count{"late matches (the future records moved the watermark)", testutil.ToFloat64(h.m.Late), 0})
	var a struct {
		Timestamp string                         `json:"@timestamp"`
		Subst     *struct{ From, Reason string } `json:"time_substitute"`
	}
	if err := json.Unmarshal(h.es.docs[stopIDs[0]], &a); err != nil {
		t.Fatal(err)
	}
	if a.Subst == nil || !strings.Contains(a.Subst.Reason, "2099-06-01T00:00:01Z") || !strings.HasPrefix(a.Timestamp, "2026-12-01T00:00:00") {
		t.Errorf("the alert on the future record: @timestamp %s, time_substitute %+v; want the time it was received and why", a.Timestamp, a.Subst)
	}
}

// Redis, holding the state, goes down mid-stream (killed) and comes back
// empty a few seconds later: the checkpoints retry the commit meanwhile,
// acknowledging nothing, and serve goes on; in the end the sinks hold
// hunt's alerts, each delivered once, and every body but the sentinel's
// is acknowledged.
func TestStoreOutageRetried(t *testing.T) {
	srv := redistest.Start(t)
	rs, err := state.OpenRedis(context.Background(), srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	h := startHTTPWith(t, t.TempDir(), newFakeES(t), func(o *Options) {
		o.Store = rs
		o.StoreRetry = time.Minute
	})
	bodies := sampleBodies(t)
	post := func(b []byte) {
		t.Helper()
		if resp := h.post(b, nil); resp.StatusCode != 202 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	post(bodies[0])
	// a checkpoint with a watermark: every rule's state loaded
	waitFor(t, 30*time.Second, "a checkpoint with a watermark", func() bool {
		return testutil.ToFloat64(h.m.Checkpoints) > 0 && testutil.ToFloat64(h.m.Watermark) > 0
	})
	srv.Stop()
	for _, b := range append(bodies[1:], []byte(sentinel)) {
		post(b)
	}
	waitFor(t, 30*time.Second, "commits retried", func() bool { return testutil.ToFloat64(h.m.StoreRetries) >= 3 })
	if n := testutil.ToFloat64(h.m.Acked.WithLabelValues("http")); n != 0 {
		t.Errorf("%v bodies acknowledged while the state could not be committed", n)
	}
	srv.StartAgain(t)
	waitFor(t, 30*time.Second, "hunt's alerts", func() bool { return slices.Equal(h.es.ids(), want) })
	waitFor(t, 30*time.Second, "every body but the sentinel's acknowledged", func() bool { return len(h.spool()) == 1 })
	if err := h.stop(); err != nil {
		t.Fatalf("serve stopped with %v", err)
	}
	for id, n := range h.es.writes {
		if n != 1 {
			t.Errorf("alert %s indexed %d times", id, n)
		}
	}
	if got := linesIDs(t, h.out); len(got) != len(want) {
		t.Errorf("JSON Lines holds %d alerts, want hunt's %d, each once: %v", len(got), len(want), got)
	}
}
