package sqsinput

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/builtin"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/hunt"
	"github.com/trailhound/trailhound/ledger"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/s3trail"
	"github.com/trailhound/trailhound/s3trail/s3test"
	"github.com/trailhound/trailhound/sqsinput/sqstest"
	"github.com/trailhound/trailhound/syncbuf"
)

const bucket = "trail-bucket"

func s3Notification(key, etag string, size int) string {
	return sqstest.S3Event(bucket, key, etag, size)
}
func sns(msg string) string { return sqstest.SNS(msg) }
func eventBridge(key, etag string, size int) string {
	return sqstest.EventBridge(bucket, key, etag, size)
}
func cloudTrailSNS(keys ...string) string { return sqstest.CloudTrailSNS(bucket, keys...) }

// world is S3 with the samples delivered as CloudTrail does, an SQS server
// with a queue and a DLQ, and a ledger.
type world struct {
	s3     *s3test.Server
	sqs    *sqstest.Server
	ds     []s3test.Delivery
	etags  map[string]string
	reader *s3trail.Reader
	ledger string // path
	logs   *syncbuf.Buffer
	log    *slog.Logger
}

func newWorld(t *testing.T) *world {
	w := &world{s3: s3test.New(t), sqs: sqstest.New(t, "trail", "dlq"), etags: map[string]string{}, ledger: filepath.Join(t.TempDir(), "ledger.db"), logs: &syncbuf.Buffer{}}
	w.ds = s3test.Deliveries(t, "../testdata/samples", "")
	if len(w.ds) < 6 {
		t.Fatalf("%d deliveries from the samples, want 6 or more", len(w.ds))
	}
	for _, d := range w.ds {
		w.etags[d.Key] = strings.Trim(w.s3.Put(t, bucket, d.Key, d.Body), `"`)
	}
	w.reader = &s3trail.Reader{S3: w.s3.Client}
	w.log = slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return w
}

func (w *world) consumer(t *testing.T, l *ledger.Ledger, cfg Config) *Consumer {
	t.Helper()
	if cfg.QueueURL == "" {
		cfg.QueueURL = w.sqs.QueueURL("trail")
	}
	if cfg.Wait == 0 {
		cfg.Wait = time.Second
	}
	c, err := New(w.sqs.Client(), w.reader, l, cfg, w.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (w *world) openLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(w.ledger, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// next is Next with a deadline; nil when nothing came by then (and the
// server has noticed the receive given up).
func (w *world) next(t *testing.T, c *Consumer, within time.Duration) *Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	b, err := c.Next(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		if !w.sqs.WaitIdle(2 * time.Second) {
			t.Fatal("the SQS server still serves a receive given up")
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// read reads a batch's inputs to the end and counts their records.
func read(t *testing.T, b *Batch) (int, error) {
	t.Helper()
	n := 0
	for _, in := range b.Inputs() {
		rc, err := record.OpenInput(context.Background(), in, nil)
		if err != nil {
			return n, err
		}
		err = record.ForEach(rc, 1<<20, func(record.Record) error { n++; return nil }, func(pe *record.PosError) { t.Errorf("%s: %s", in.Path, pe.Message()) })
		rc.Close()
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Every form of notification, duplicated, late and out of order, a test
// event, a digest and a poison message: every object is read exactly once,
// the redeliveries are no-ops, the poison goes to the log and the DLQ, and
// the queue ends empty. The objects the batches hand out raise the alerts a
// hunt over the samples raises.
func TestEveryObjectReadOnce(t *testing.T) {
	w := newWorld(t)
	ds := w.ds
	var msgs []string
	for i, d := range ds {
		etag, size := w.etags[d.Key], len(d.Body)
		switch i % 4 {
		case 0:
			msgs = append(msgs, s3Notification(d.Key, etag, size))
		case 1:
			msgs = append(msgs, sns(s3Notification(d.Key, etag, size)))
		case 2:
			msgs = append(msgs, eventBridge(d.Key, etag, size))
		case 3:
			if i+1 < len(ds) { // CloudTrail names two objects in one message
				msgs = append(msgs, cloudTrailSNS(d.Key, ds[i+1].Key))
			} else {
				msgs = append(msgs, cloudTrailSNS(d.Key))
			}
		}
	}
	// i%4 == 3 named ds[i+1] too; its own message (i%4 == 0) duplicates it.
	dupNow := s3Notification(ds[1].Key, w.etags[ds[1].Key], len(ds[1].Body)) // while the first may be out
	dupLate := cloudTrailSNS(ds[2].Key, ds[2].Key)                           // after the first is acked; the key twice
	testEvent := `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-03T13:00:00.000Z","Bucket":"` + bucket + `"}`
	digest := s3Notification("AWSLogs/210987654321/CloudTrail-Digest/us-east-1/2026/11/03/210987654321_CloudTrail-Digest_us-east-1_t_us-east-1_20261103T140000Z.json.gz", "d", 10)
	poison := `{"not":"a notification"}`
	slices.Reverse(msgs) // newest first: out of order
	for _, m := range append(msgs, dupNow, testEvent, digest, poison) {
		w.sqs.Send("trail", m, 0)
	}
	w.sqs.Send("trail", dupLate, 2*time.Second) // late: after its object was read

	c := w.consumer(t, w.openLedger(t), Config{DLQURL: w.sqs.QueueURL("dlq")})
	reads := map[string]int{}
	var inputs []record.Input
	records := 0
	for {
		b := w.next(t, c, 3*time.Second)
		if b == nil {
			break
		}
		n, err := read(t, b)
		if err != nil {
			t.Fatal(err)
		}
		records += n
		for _, o := range b.Objects {
			reads[o.Key]++
		}
		inputs = append(inputs, b.Inputs()...)
		if err := b.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range ds {
		if reads[d.Key] != 1 {
			t.Errorf("%s read %d times, want once", d.Key, reads[d.Key])
		}
	}
	if len(reads) != len(ds) || records != 18 {
		t.Errorf("%d objects, %d records read; want %d and 18", len(reads), records, len(ds))
	}
	if vis, inflight, _ := w.sqs.Counts("trail"); vis+inflight != 0 {
		t.Errorf("queue holds %d visible and %d in-flight messages, want none", vis, inflight)
	}
	if got := w.sqs.Bodies("dlq"); !slices.Equal(got, []string{poison}) {
		t.Errorf("DLQ holds %q, want the poison message", got)
	}
	st := c.Stats()
	// No-ops: both duplicates, the test event, the digest, and the message
	// of an object the CloudTrail message named already.
	if st.Poison != 1 || st.NoOps < 4 || st.Acked+st.NoOps+st.Poison != len(msgs)+5 {
		t.Errorf("stats %+v; want 1 poison, 4+ no-ops, every message deleted", st)
	}
	logs := w.logs.String()
	for _, want := range []string{"poison message", "top-level keys: not", "s3:TestEvent", "digest file not read", "object read already"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}

	// The batches' inputs, hunted, raise the samples' alerts.
	rules, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	got, err := hunt.Run(context.Background(), eng, hunt.Options{Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	want, err := hunt.Run(context.Background(), eng, hunt.Options{Paths: []string{"../testdata/samples"}})
	if err != nil {
		t.Fatal(err)
	}
	if g, wnt := alertIDs(got), alertIDs(want); len(wnt) == 0 || !slices.Equal(g, wnt) {
		t.Errorf("alert ids from SQS\n %v\nwant (the samples')\n %v", g, wnt)
	}
}

func alertIDs(r *hunt.Result) []string {
	var ids []string
	for _, a := range r.Alerts {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return ids
}

// While a batch is out its message stays hidden (its visibility extended);
// Release and Close make it visible again at once.
func TestVisibilityExtendedAndReleased(t *testing.T) {
	w := newWorld(t)
	id := w.sqs.Send("trail", s3Notification(w.ds[0].Key, "", 1), 0)
	c := w.consumer(t, nil, Config{Visibility: time.Second})
	other := w.consumer(t, nil, Config{Visibility: time.Second})
	b := w.next(t, c, 3*time.Second)
	if b == nil || b.MessageID != id || b.ReceiveCount != 1 || b.Sent.IsZero() {
		t.Fatalf("batch %+v", b)
	}
	// Three visibility timeouts later, no other consumer has received it.
	if b2 := w.next(t, other, 3*time.Second); b2 != nil {
		t.Fatalf("another consumer received message %s while it was out", b2.MessageID)
	}
	ext := 0
	for _, ch := range w.sqs.Changes() {
		if ch.MessageID == id && ch.Visibility == time.Second {
			ext++
		}
	}
	if ext < 3 || c.Stats().Extended < 3 {
		t.Errorf("%d visibility extensions (stats %+v), want 3 or more in 3 s", ext, c.Stats())
	}
	fs, err := b.Fetch(context.Background())
	if err != nil || len(fs) != 1 || fs[0].Name != "s3://"+bucket+"/"+w.ds[0].Key || !bytes.Equal(fs[0].Data, w.ds[0].Body) {
		t.Errorf("Fetch: %d objects, %v", len(fs), err)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(context.Background()); err == nil {
		t.Error("Ack after Release: no error")
	}
	start := time.Now()
	b2 := w.next(t, other, 3*time.Second)
	if b2 == nil || b2.MessageID != id || b2.ReceiveCount != 2 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("after Release: batch %+v after %s, want message %s again at once", b2, time.Since(start), id)
	}
	// Shutdown releases what is out.
	if err := other.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vis, _, _ := w.sqs.Counts("trail"); vis != 1 {
		t.Errorf("after Close: %d visible, want 1", vis)
	}
	if chs := w.sqs.Changes(); chs[len(chs)-1].Visibility != 0 {
		t.Errorf("last change %+v, want visibility 0", chs[len(chs)-1])
	}
	if _, err := other.Next(context.Background()); err == nil {
		t.Error("Next after Close: no error")
	}
}

// A notification whose object cannot be read is released after each try;
// received more than MaxReceive times, it is poison: logged, sent to the
// DLQ, deleted.
func TestPoisonAfterMaxReceive(t *testing.T) {
	w := newWorld(t)
	body := s3Notification("AWSLogs/210987654321/CloudTrail/us-east-1/2026/11/03/gone.json.gz", "", 1)
	w.sqs.Send("trail", body, 0)
	c := w.consumer(t, w.openLedger(t), Config{MaxReceive: 2, DLQURL: w.sqs.QueueURL("dlq")})
	tries := 0
	for {
		b := w.next(t, c, 2*time.Second)
		if b == nil {
			break
		}
		tries++
		if _, err := read(t, b); err == nil || !strings.Contains(err.Error(), "gone.json.gz") {
			t.Fatalf("reading a missing object: %v", err)
		}
		if err := b.Release(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if tries != 2 {
		t.Errorf("%d tries, want 2 (max_receive)", tries)
	}
	if got := w.sqs.Bodies("dlq"); !slices.Equal(got, []string{body}) {
		t.Errorf("DLQ holds %q", got)
	}
	if vis, inflight, deleted := w.sqs.Counts("trail"); vis+inflight != 0 || deleted != 1 {
		t.Errorf("queue: %d visible, %d in flight, %d deleted", vis, inflight, deleted)
	}
	if logs := w.logs.String(); !strings.Contains(logs, "received 3 times (0 of them released by a stop), more than max_receive (2)") {
		t.Errorf("log lacks the poison reason:\n%s", logs)
	}
}

// A message out at every stop (its window still open) is released by each
// and received again by the next consumer more than MaxReceive times: the
// releases are in the ledger, so it is not poison, and it is read and
// acknowledged in the end. A receipt that ends in a crash (no Close) still
// counts.
func TestStopReleasesAreNotPoison(t *testing.T) {
	w := newWorld(t)
	d := w.ds[0]
	id := w.sqs.Send("trail", s3Notification(d.Key, w.etags[d.Key], len(d.Body)), 0)
	l := w.openLedger(t)
	const maxReceive = 2
	for i := range maxReceive + 2 {
		c := w.consumer(t, l, Config{MaxReceive: maxReceive, DLQURL: w.sqs.QueueURL("dlq")})
		b := w.next(t, c, 5*time.Second)
		if b == nil || b.ReceiveCount != i+1 {
			t.Fatalf("stop %d: batch %v, want the message received for the %d. time", i, b, i+1)
		}
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := l.Releases(id); n != maxReceive+2 || err != nil {
		t.Errorf("releases recorded: %d, %v", n, err)
	}
	c := w.consumer(t, l, Config{MaxReceive: maxReceive, DLQURL: w.sqs.QueueURL("dlq")})
	b := w.next(t, c, 5*time.Second)
	if b == nil {
		t.Fatal("the message released at each stop became poison")
	}
	if err := b.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.sqs.Bodies("dlq"); len(got) != 0 {
		t.Errorf("DLQ holds %q", got)
	}
	if c.Stats().Poison != 0 {
		t.Errorf("stats: %+v", c.Stats())
	}
}

// Start tells whether the consumer before stopped cleanly: the first with
// a ledger did (none ran), one not closed did not, one closed did.
func TestStartTellsACrash(t *testing.T) {
	w := newWorld(t)
	l := w.openLedger(t)
	for i, want := range []bool{true, false} {
		c := w.consumer(t, l, Config{})
		if clean, err := c.Start(); clean != want || err != nil {
			t.Errorf("start %d: clean %v (%v), want %v", i, clean, err, want)
		}
	}
	c := w.consumer(t, l, Config{})
	c.Start()
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if clean, _ := w.consumer(t, l, Config{}).Start(); !clean {
		t.Error("after a Close: not clean")
	}
	if clean, _ := w.consumer(t, nil, Config{}).Start(); clean {
		t.Error("without a ledger: clean")
	}
}

// A notification delivered again after a restart finds its object in the
// ledger: the message is deleted, nothing is read.
func TestRedeliveryAfterRestartIsNoOp(t *testing.T) {
	w := newWorld(t)
	note := eventBridge(w.ds[0].Key, w.etags[w.ds[0].Key], len(w.ds[0].Body))
	w.sqs.Send("trail", note, 0)
	l := w.openLedger(t)
	c := w.consumer(t, l, Config{})
	b := w.next(t, c, 3*time.Second)
	if b == nil {
		t.Fatal("no batch")
	}
	if _, err := read(t, b); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	l.Close()

	w.sqs.Send("trail", note, 0)
	w.sqs.Send("trail", cloudTrailSNS(w.ds[0].Key), 0) // the same object, in another form (no ETag)
	c2 := w.consumer(t, w.openLedger(t), Config{})
	if b := w.next(t, c2, 2*time.Second); b != nil {
		t.Fatalf("redelivered notification handed out: %+v", b.Objects)
	}
	if st := c2.Stats(); st.NoOps != 2 || st.Batches != 0 {
		t.Errorf("stats %+v, want 2 no-ops", st)
	}
	if vis, inflight, deleted := w.sqs.Counts("trail"); vis+inflight != 0 || deleted != 3 {
		t.Errorf("queue: %d visible, %d in flight, %d deleted", vis, inflight, deleted)
	}
	// The object written again (another ETag) is new.
	w.sqs.Send("trail", eventBridge(w.ds[0].Key, "another-etag", 5), 0)
	if b := w.next(t, c2, 2*time.Second); b == nil || b.Objects[0].Key != w.ds[0].Key {
		t.Errorf("rewritten object not handed out: %+v\n%s", b, w.logs.String())
	}
}

// Two messages naming one object at once: the second waits while the first
// is out; after Ack it is a no-op, after Release it goes out.
func TestConcurrentDuplicates(t *testing.T) {
	for _, ack := range []bool{true, false} {
		name := map[bool]string{true: "ack", false: "release"}[ack]
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			key := w.ds[0].Key
			first := w.sqs.Send("trail", s3Notification(key, w.etags[key], 1), 0)
			second := w.sqs.Send("trail", cloudTrailSNS(key), 0)
			c := w.consumer(t, nil, Config{})
			b := w.next(t, c, 3*time.Second)
			if b == nil || b.MessageID != first {
				t.Fatalf("first batch %+v", b)
			}
			if b2 := w.next(t, c, 1500*time.Millisecond); b2 != nil {
				t.Fatalf("the duplicate went out while the first was out: %+v", b2)
			}
			if ack {
				b.Ack(context.Background())
				if b2 := w.next(t, c, 1500*time.Millisecond); b2 != nil {
					t.Fatalf("the duplicate went out after the first was acked: %+v", b2)
				}
				if deleted := w.sqs.Deleted("trail"); !slices.Equal(deleted, []string{first, second}) {
					t.Errorf("deleted %v, want both", deleted)
				}
				return
			}
			b.Release(context.Background())
			got := map[string]bool{}
			for b2 := w.next(t, c, 1500*time.Millisecond); b2 != nil; b2 = w.next(t, c, 1500*time.Millisecond) {
				got[b2.MessageID] = true
				b2.Ack(context.Background())
			}
			if !got[second] {
				t.Errorf("after Release, batches %v, want the waiting message %s", got, second)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(nil, nil, nil, Config{}, nil); err == nil {
		t.Error("no error without a queue URL")
	}
	c := Config{QueueURL: "q", Visibility: time.Millisecond, Wait: time.Minute, MaxMessages: 50}
	if err := c.defaults(); err != nil || c.Visibility != time.Second || c.Wait != 20*time.Second || c.MaxMessages != 10 || c.MaxReceive != 5 {
		t.Errorf("defaults: %+v %v", c, err)
	}
}

func TestCheck(t *testing.T) {
	w := newWorld(t)
	w.sqs.SetVisibility("trail", 45*time.Second)
	w.sqs.SetRedrive("trail", `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":"3"}`)
	w.sqs.Send("trail", "x", 0)
	w.sqs.Send("trail", "y", 0)
	c := w.consumer(t, nil, Config{})
	info, err := c.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info != (QueueInfo{Visibility: 45 * time.Second, Messages: 2, RedriveMaxReceive: 3}) {
		t.Errorf("info %+v", info)
	}
	if !strings.Contains(w.logs.String(), "redrive policy moves a message to its DLQ after fewer receipts than max_receive") {
		t.Error("no warning of a redrive policy below max_receive")
	}
	missing := w.consumer(t, nil, Config{QueueURL: w.sqs.QueueURL("nope")})
	if _, err := missing.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "QueueDoesNotExist") || !strings.Contains(err.Error(), "/nope") {
		t.Errorf("missing queue: %v", err)
	}
}

// A caller (serve) treats SQS batches and S3 polling batches alike.
type batch interface {
	Inputs() []record.Input
	Fetch(context.Context) ([]s3trail.Fetched, error)
	Ack(context.Context) error
	Release(context.Context) error
}

var (
	_ batch = (*Batch)(nil)
	_ batch = (*s3trail.PollBatch)(nil)
)

func TestRecent(t *testing.T) {
	r := recent{m: map[string]bool{}}
	for i := range recentSize + 10 {
		r.add(strconv.Itoa(i))
	}
	r.add("15") // present: not added twice
	if len(r.m) != recentSize || r.has("9") || !r.has("10") || !r.has(strconv.Itoa(recentSize+9)) {
		t.Errorf("%d kept; has 9 %v, 10 %v", len(r.m), r.has("9"), r.has("10"))
	}
}

// A failed delete after the ledger recorded the objects (as a crash between
// the two would leave it): the message comes back after its visibility
// timeout and is a no-op. A failed visibility extension is counted and
// logged.
func TestAckFailureThenRedeliveryIsNoOp(t *testing.T) {
	w := newWorld(t)
	w.sqs.Send("trail", s3Notification(w.ds[0].Key, w.etags[w.ds[0].Key], 1), 0)
	c := w.consumer(t, w.openLedger(t), Config{Visibility: time.Second})
	b := w.next(t, c, 3*time.Second)
	if b == nil {
		t.Fatal("no batch")
	}
	if _, err := read(t, b); err != nil {
		t.Fatal(err)
	}
	w.sqs.Fail("ChangeMessageVisibility", "AccessDenied")
	time.Sleep(500 * time.Millisecond) // one extension, failed
	w.sqs.Fail("DeleteMessage", "AccessDenied")
	if err := b.Ack(context.Background()); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("Ack with a failing delete: %v", err)
	}
	if st := c.Stats(); st.ExtendErr != 1 {
		t.Errorf("stats %+v, want 1 failed extension", st)
	}
	if !strings.Contains(w.logs.String(), "extending a message's visibility failed") {
		t.Error("the failed extension was not logged")
	}
	// Redelivered after its visibility timeout: the ledger knows its object.
	if b := w.next(t, c, 3*time.Second); b != nil {
		t.Fatalf("redelivered message handed out again: %+v", b.Objects)
	}
	if st := c.Stats(); st.NoOps != 1 || st.Received != 2 {
		t.Errorf("stats %+v, want the redelivery received and deleted as a no-op", st)
	}
	if vis, inflight, deleted := w.sqs.Counts("trail"); vis+inflight != 0 || deleted != 1 {
		t.Errorf("queue: %d visible, %d in flight, %d deleted", vis, inflight, deleted)
	}
}

// An object named twice in one message is read once.
func TestKeyTwiceInOneMessage(t *testing.T) {
	w := newWorld(t)
	w.sqs.Send("trail", cloudTrailSNS(w.ds[0].Key, w.ds[0].Key, w.ds[1].Key), 0)
	c := w.consumer(t, nil, Config{})
	b := w.next(t, c, 3*time.Second)
	if b == nil || len(b.Objects) != 2 || b.Objects[0].Key != w.ds[0].Key || b.Objects[1].Key != w.ds[1].Key {
		t.Fatalf("batch %+v, want the two objects once each", b)
	}
	b.Ack(context.Background())
}

// At the stop, a message received again or deleted since (its receipt no
// longer valid: its visibility ran out while the process was stalled) has
// nothing to release, and the stop does not fail for it; another failure to
// release still does.
func TestCloseWithStaleReceipts(t *testing.T) {
	for _, tc := range []struct {
		code    string
		wantErr bool
	}{{"ReceiptHandleIsInvalid", false}, {"AccessDenied", true}} {
		w := newWorld(t)
		w.sqs.Send("trail", s3Notification(w.ds[0].Key, "", 1), 0)
		c := w.consumer(t, nil, Config{Visibility: time.Minute})
		if b := w.next(t, c, 3*time.Second); b == nil {
			t.Fatal("no batch")
		}
		w.sqs.Fail("ChangeMessageVisibility", tc.code)
		if err := c.Close(context.Background()); (err != nil) != tc.wantErr {
			t.Errorf("%s: Close: %v, want an error %v", tc.code, err, tc.wantErr)
		}
	}
}
