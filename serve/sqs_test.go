package serve

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trailhound/trailhound/ledger"
	"github.com/trailhound/trailhound/s3trail"
	"github.com/trailhound/trailhound/s3trail/s3test"
	"github.com/trailhound/trailhound/sqsinput"
	"github.com/trailhound/trailhound/sqsinput/sqstest"
)

const trailBucket = "trail-bucket"

// sqsWorld is S3 holding the samples as CloudTrail delivers them, and an
// SQS queue.
type sqsWorld struct {
	s3    *s3test.Server
	sqs   *sqstest.Server
	ds    []s3test.Delivery
	etags map[string]string
	// maxMessages is the most messages a receive of input takes (0: 10).
	maxMessages int
}

func newSQSWorld(t *testing.T) *sqsWorld {
	w := &sqsWorld{s3: s3test.New(t), sqs: sqstest.New(t, "trail"), etags: map[string]string{}}
	w.ds = s3test.Deliveries(t, samples, "")
	for _, d := range w.ds {
		w.etags[d.Key] = strings.Trim(w.s3.Put(t, trailBucket, d.Key, d.Body), `"`)
	}
	return w
}

// input is an SQS input over the world with a ledger at path (closed when
// the test ends; the returned func closes it earlier, for a restart).
func (w *sqsWorld) input(t *testing.T, ledgerPath string, maxReceive int) (*SQSInput, func()) {
	t.Helper()
	l, err := ledger.Open(ledgerPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	log := testLog(t)
	c, err := sqsinput.New(w.sqs.Client(), &s3trail.Reader{S3: w.s3.Client, Log: log}, l,
		sqsinput.Config{QueueURL: w.sqs.QueueURL("trail"), Wait: time.Second, Visibility: 3 * time.Second, MaxReceive: maxReceive, MaxMessages: w.maxMessages}, log)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeLedger := func() {
		if !closed {
			closed = true
			l.Close()
		}
	}
	t.Cleanup(closeLedger)
	return &SQSInput{Consumer: c, Log: log, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, closeLedger
}

func sqsBatches(h *harness) float64 {
	return testutil.ToFloat64(h.m.Batches.WithLabelValues("sqs"))
}

// The samples, delivered to S3 as CloudTrail lays them out and announced on
// SQS (direct S3 events and SNS-wrapped ones, newest first, one announced
// twice; the last with the sentinel in one CloudTrail SNS message), give
// hunt's alerts; every object is read once; every message is deleted but the
// sentinel's, whose window is still open: though its other object is
// acknowledged, the message is not deleted; released at the stop, it is
// received again after a restart, both its objects are read again, and
// nothing is indexed twice.
func TestSQSServeMatchesHunt(t *testing.T) {
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	w := newSQSWorld(t)
	if len(w.ds) < 4 {
		t.Fatalf("%d deliveries from the samples, want 4 or more", len(w.ds))
	}
	last := w.ds[len(w.ds)-1] // announced with the sentinel
	var msgs []string
	for i, d := range w.ds[:len(w.ds)-1] {
		m := sqstest.S3Event(trailBucket, d.Key, w.etags[d.Key], len(d.Body))
		if i%2 == 1 {
			m = sqstest.SNS(m)
		}
		msgs = append(msgs, m)
	}
	slices.Reverse(msgs) // newest first: out of order, within the lateness
	dup := w.ds[0]
	msgs = append(msgs, sqstest.SNS(sqstest.S3Event(trailBucket, dup.Key, w.etags[dup.Key], len(dup.Body)))) // announced twice
	for _, m := range msgs {
		w.sqs.Send("trail", m, 0)
	}

	dir := t.TempDir()
	ledgerPath := filepath.Join(dir, "ledger.db")
	es := newFakeES(t)
	in, closeLedger := w.input(t, ledgerPath, 0)
	h := startHTTP(t, dir, es, in)
	waitFor(t, 20*time.Second, "every object delivered", func() bool { return sqsBatches(h) >= float64(len(w.ds)-1) })

	// The sentinel moves event time past every window of the samples; sent
	// once they are all read, so none of them is late.
	const sentinelKey = "AWSLogs/210987654321/CloudTrail/us-east-1/2099/01/01/210987654321_CloudTrail_us-east-1_20990101T0005Z_sentinel.json"
	w.s3.Put(t, trailBucket, sentinelKey, []byte(sentinel))
	w.sqs.Send("trail", sqstest.CloudTrailSNS(trailBucket, last.Key, sentinelKey), 0)

	waitFor(t, 20*time.Second, "hunt's alerts in Elasticsearch", func() bool { return slices.Equal(es.ids(), want) })
	waitFor(t, 30*time.Second, "every message but the sentinel's deleted", func() bool {
		_, _, deleted := w.sqs.Counts("trail")
		return deleted >= len(msgs)
	})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := sqsBatches(h), float64(len(w.ds)+1); got != want {
		t.Errorf("%v objects delivered, want %v: the duplicate announcement was read again", got, want)
	}
	if got := jsonlIDs(t, h.out); !slices.Equal(got, want) {
		t.Errorf("JSON Lines ids\n got %v\nwant %v", got, want)
	}
	// Released; a receive given up at the stop may still take it on the
	// server, for the visibility timeout, as SQS may.
	visible, inFlight, deleted := w.sqs.Counts("trail")
	if visible+inFlight != 1 || deleted != len(msgs) || in.Consumer.Stats().Released != 1 {
		t.Errorf("queue: %d visible, %d in flight, %d deleted; want the sentinel's message released and the %d others deleted",
			visible, inFlight, deleted, len(msgs))
	}

	// Restart: the sentinel's message, never acknowledged, comes back with
	// both its objects.
	closeLedger()
	in2, _ := w.input(t, ledgerPath, 0)
	h = startHTTP(t, dir, es, in2)
	waitFor(t, 20*time.Second, "the sentinel's message received again", func() bool { return sqsBatches(h) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := sqsBatches(h); got != 2 {
		t.Errorf("%v objects delivered after the restart, want 2 (the sentinel's message's)", got)
	}
	if !slices.Equal(es.ids(), want) {
		t.Errorf("Elasticsearch ids after the restart\n got %v\nwant %v", es.ids(), want)
	}
	for id, n := range es.writes {
		if n != 1 {
			t.Errorf("alert %s indexed %d times", id, n)
		}
	}
	if visible, inFlight, _ := w.sqs.Counts("trail"); visible+inFlight != 1 || in2.Consumer.Stats().Released != 1 {
		t.Errorf("queue after the restart: %d visible, %d in flight; want the sentinel's message released", visible, inFlight)
	}
}

// An object that cannot be read releases its message, which comes back and
// is read once the object is there; the service does not stop.
func TestSQSFetchErrorReleases(t *testing.T) {
	w := newSQSWorld(t)
	d := w.ds[0]
	const missing = "AWSLogs/210987654321/CloudTrail/us-east-1/2026/11/03/missing.json.gz"
	w.sqs.Send("trail", sqstest.S3Event(trailBucket, missing, "x", 10), 0)
	dir := t.TempDir()
	in, _ := w.input(t, filepath.Join(dir, "ledger.db"), -1) // never poison
	h := startHTTP(t, dir, newFakeES(t), in)
	waitFor(t, 30*time.Second, "the message released twice", func() bool { return in.Consumer.Stats().Released >= 2 })
	if err := in.Ready(); err == nil || !strings.Contains(err.Error(), "missing.json.gz") {
		t.Errorf("Ready while the object is missing: %v", err)
	}
	w.s3.Put(t, trailBucket, missing, d.Body)
	waitFor(t, 30*time.Second, "the object delivered", func() bool { return sqsBatches(h) == 1 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if err := in.Ready(); err != nil {
		t.Errorf("Ready after the object was read: %v", err)
	}
}

// A receive whose answer is lost on the way has still taken its messages
// (the samples' deliveries) out of sight for the visibility timeout, while
// the next receives bring deliveries hours later. The input holds the
// watermark until the lost ones are back, so none of their records is
// late and the alerts are hunt's. (Without the hold, or with the SDK
// retrying the receive unseen, the samples' matches were late.)
func TestSQSLostReceiveAnswerHolds(t *testing.T) {
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	w := newSQSWorld(t)
	w.maxMessages = len(w.ds)
	for _, d := range w.ds {
		w.sqs.Send("trail", sqstest.S3Event(trailBucket, d.Key, w.etags[d.Key], len(d.Body)), 0)
	}
	// later deliveries of one quiet record each (no rule matches it)
	latest := w.ds[len(w.ds)-1]
	at, ok := s3trail.NameTime(filepath.Base(latest.Key))
	if !ok {
		t.Fatalf("%s: not named like a CloudTrail file", latest.Key)
	}
	for _, later := range []time.Duration{time.Hour, 2 * time.Hour, 24 * time.Hour} {
		when := at.Add(later)
		key := fmt.Sprintf("AWSLogs/210987654321/CloudTrail/us-east-1/%s/210987654321_CloudTrail_us-east-1_%s_quiet.json", when.Format("2006/01/02"), when.Format("20060102T1504Z"))
		body := strings.Replace(sentinel, "2099-01-01T00:00:00Z", when.Format(time.RFC3339), 1)
		etag := strings.Trim(w.s3.Put(t, trailBucket, key, []byte(body)), `"`)
		w.sqs.Send("trail", sqstest.S3Event(trailBucket, key, etag, len(body)), 0)
	}
	w.sqs.LoseAnswers("ReceiveMessage", 1)
	dir := t.TempDir()
	in, _ := w.input(t, filepath.Join(dir, "ledger.db"), 0)
	es := newFakeES(t)
	h := startHTTP(t, dir, es, in)
	waitFor(t, 30*time.Second, "every object delivered", func() bool { return sqsBatches(h) >= float64(len(w.ds)+3) })
	const sentinelKey = "AWSLogs/210987654321/CloudTrail/us-east-1/2099/01/01/210987654321_CloudTrail_us-east-1_20990101T0005Z_sentinel.json"
	w.sqs.Send("trail", sqstest.S3Event(trailBucket, sentinelKey, strings.Trim(w.s3.Put(t, trailBucket, sentinelKey, []byte(sentinel)), `"`), len(sentinel)), 0)
	waitFor(t, 20*time.Second, "hunt's alerts in Elasticsearch", func() bool { return slices.Equal(es.ids(), want) })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if late := testutil.ToFloat64(h.m.Late); late != 0 {
		t.Errorf("%v late matches: the lost answer's records came after the watermark had passed them", late)
	}
	if got := es.ids(); !slices.Equal(got, want) {
		t.Errorf("Elasticsearch ids\n got %v\nwant %v", got, want)
	}
}

// A receive that SQS answers with an error (AccessDenied: a permission
// taken away) or that never reaches it (nothing listens) has taken no
// message: an outage of such failures does not hold the watermark (which
// holds every input's decisions), and once the queue answers again its
// messages give hunt's alerts, none late.
func TestSQSOutageWithoutLostAnswers(t *testing.T) {
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	w := newSQSWorld(t)
	for _, d := range w.ds {
		w.sqs.Send("trail", sqstest.S3Event(trailBucket, d.Key, w.etags[d.Key], len(d.Body)), 0)
	}
	const sentinelKey = "AWSLogs/210987654321/CloudTrail/us-east-1/2099/01/01/210987654321_CloudTrail_us-east-1_20990101T0005Z_sentinel.json"
	w.sqs.Send("trail", sqstest.S3Event(trailBucket, sentinelKey, strings.Trim(w.s3.Put(t, trailBucket, sentinelKey, []byte(sentinel)), `"`), len(sentinel)), 0)
	codes := make([]string, 40)
	for i := range codes {
		codes[i] = "AccessDenied"
	}
	w.sqs.Fail("ReceiveMessage", codes...)
	dir := t.TempDir()
	in, _ := w.input(t, filepath.Join(dir, "ledger.db"), 0)
	es := newFakeES(t)
	h := startHTTP(t, dir, es, in)
	waitFor(t, 30*time.Second, "three failed receives", func() bool { return w.sqs.Calls("ReceiveMessage") >= 3 })
	if w.sqs.Calls("ReceiveMessage") < len(codes) && in.Holding() {
		t.Errorf("holding the watermark after receives SQS answered with AccessDenied")
	}
	if err := in.Ready(); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("Ready during the outage: %v, want the AccessDenied", err)
	}
	waitFor(t, 30*time.Second, "hunt's alerts in Elasticsearch", func() bool { return slices.Equal(es.ids(), want) })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if late := testutil.ToFloat64(h.m.Late); late != 0 {
		t.Errorf("%v late matches", late)
	}

	// nothing listens where the queue should be
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")},
		func(o *sqs.Options) { o.BaseEndpoint = aws.String(dead.URL) })
	c, err := sqsinput.New(client, &s3trail.Reader{S3: w.s3.Client}, l, sqsinput.Config{QueueURL: dead.URL + "/123456789012/trail", Wait: time.Second, Visibility: 3 * time.Second}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	in = &SQSInput{Consumer: c, Log: testLog(t), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx, func(*Batch) error { return nil }) }()
	waitFor(t, 30*time.Second, "a failed receive", func() bool { return in.lastErr.Load() != nil })
	if in.Holding() {
		t.Errorf("holding the watermark after receives that reached no server")
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	in.Close()
}
