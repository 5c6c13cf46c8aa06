// Package sqsinput reads CloudTrail log objects as an SQS queue announces
// them (S3 event notifications, direct or through SNS or EventBridge, or
// CloudTrail's own SNS message), at least once and without reading an object
// twice:
//
//   - Next receives messages (long polling) and hands out one Batch per
//     message, with the objects it announces that the ledger does not know
//     (a redelivered notification is deleted at once, a no-op). Digest
//     files are skipped.
//   - While a batch is out, its message's visibility is extended, so no
//     other consumer receives it.
//   - The caller reads the batch's Inputs, delivers the alerts, commits its
//     state, and calls Ack: the objects go into the ledger, then the
//     message is deleted. Release (or Close, at shutdown) instead makes the
//     message visible again at once, for another try.
//   - A message that cannot be parsed, or that was received more than
//     MaxReceive times, is poison: logged, sent to the DLQ when one is
//     configured, and deleted, so it never blocks the queue.
//   - A message naming an object another batch is reading waits (its
//     visibility extended) until that batch is acked, then is a no-op, or
//     released, then goes out.
package sqsinput

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/aws/smithy-go"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailhound/trailhound/ledger"
	"github.com/trailhound/trailhound/notify"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/s3trail"
)

// Config configures a Consumer.
type Config struct {
	QueueURL string
	// DLQURL, when set, receives poison messages (their body unchanged)
	// before they are deleted from the queue.
	DLQURL string
	// MaxReceive: a message received more than this many times is poison
	// (default 5; negative: never).
	MaxReceive int
	// Visibility is how long a received message stays hidden from other
	// consumers; it is extended by this much every Visibility/3 while the
	// message is out (default 5 min; SQS counts whole seconds).
	Visibility time.Duration
	// Wait is how long one receive waits for messages (long polling;
	// default and most 20 s).
	Wait time.Duration
	// MaxMessages is the most messages one receive returns (1 to 10,
	// default 10).
	MaxMessages int
}

func (c *Config) defaults() error {
	if c.QueueURL == "" {
		return errors.New("sqs: no queue URL")
	}
	if c.MaxReceive == 0 {
		c.MaxReceive = 5
	}
	if c.Visibility <= 0 {
		c.Visibility = 5 * time.Minute
	}
	if c.Visibility < time.Second {
		c.Visibility = time.Second
	}
	if c.Wait <= 0 || c.Wait > 20*time.Second {
		c.Wait = 20 * time.Second
	}
	if c.MaxMessages <= 0 || c.MaxMessages > 10 {
		c.MaxMessages = 10
	}
	return nil
}

// NewClient makes an SQS client from the default AWS configuration chain;
// endpoint, when set, overrides the service's URL (an SQS-compatible server,
// tests). Without a configured region, us-east-1 is used.
func NewClient(ctx context.Context, endpoint string) (*sqs.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithLogger(s3trail.SDKLogger()))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// Consumer hands out the objects an SQS queue announces, a message at a
// time. Next may be called from one goroutine; Ack and Release from any.
type Consumer struct {
	sqs    *sqs.Client
	s3     *s3trail.Reader
	ledger *ledger.Ledger // nil: only the last recentSize objects acked in this process are known
	cfg    Config
	log    *slog.Logger

	mu       sync.Mutex
	out      map[*Batch]bool // received, not acked or released: ready, handed out or waiting
	ready    []*Batch        // to hand out
	waiting  []*Batch        // naming objects another batch reads
	reading  map[string]*Batch
	acked    recent // objects acked lately in this process (all of them without a ledger, within its size)
	stop     chan struct{}
	stopped  sync.WaitGroup
	closed   bool
	stats    Stats
	extendMu sync.Mutex // one extension round at a time
	empty    time.Time  // when the last receive that brought no message returned
}

// Stats counts what a consumer did.
type Stats struct {
	Received  int // messages received (every receipt)
	Batches   int // batches handed out
	Acked     int // messages deleted after Ack
	Released  int // messages made visible again
	NoOps     int // messages deleted with nothing to read (all objects read already, test events)
	Poison    int // poison messages
	Extended  int // visibility extensions
	Skipped   int // objects not read: digests, or read already (ledger)
	ExtendErr int // failed extensions
}

// New makes a consumer; it extends the visibility of the messages it has out
// until Close.
func New(client *sqs.Client, s3 *s3trail.Reader, l *ledger.Ledger, cfg Config, log *slog.Logger) (*Consumer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Consumer{sqs: client, s3: s3, ledger: l, cfg: cfg, log: log.With("queue", cfg.QueueURL),
		out: map[*Batch]bool{}, reading: map[string]*Batch{}, acked: recent{m: map[string]bool{}}, stop: make(chan struct{})}
	c.stopped.Add(1)
	go c.extendLoop()
	return c, nil
}

// Batch is one message's objects to read.
type Batch struct {
	MessageID    string
	Kind         string    // the notification's form (notify.Kind*)
	ReceiveCount int       // ApproximateReceiveCount
	Sent         time.Time // when the message was sent (its age is now - Sent)
	Received     time.Time // when the receive that brought it returned
	Objects      []notify.Object

	c       *Consumer
	receipt string
	all     []notify.Object // everything the message names, digests and objects read left out
	mu      sync.Mutex
	etags   []string // ETags from GetObject, per object
	done    bool
}

// Inputs are the batch's objects as hunt inputs, named s3://bucket/key and
// read with GetObject when opened.
func (b *Batch) Inputs() []record.Input {
	ins := make([]record.Input, len(b.Objects))
	for i, o := range b.Objects {
		ins[i] = record.Input{Path: "s3://" + o.Bucket + "/" + o.Key, Size: max(o.Size, 0), ModTime: o.Time,
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				rc, etag, err := b.c.s3.Open(ctx, o.Bucket, o.Key)
				if err == nil {
					b.mu.Lock()
					b.etags[i] = etag
					b.mu.Unlock()
				}
				return rc, err
			}}
	}
	return ins
}

// Fetch reads the batch's objects whole, as stored (gzip or plain), each
// named by its s3:// URL (the same when the message is delivered again),
// for a caller that takes bytes rather than readers.
func (b *Batch) Fetch(ctx context.Context) ([]s3trail.Fetched, error) {
	out := make([]s3trail.Fetched, len(b.Objects))
	for i, o := range b.Objects {
		name := "s3://" + o.Bucket + "/" + o.Key
		rc, etag, err := b.c.s3.Open(ctx, o.Bucket, o.Key)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b.mu.Lock()
		b.etags[i] = etag
		b.mu.Unlock()
		out[i] = s3trail.Fetched{Name: name, Data: data}
	}
	return out, nil
}

func objKey(o notify.Object) string { return o.Bucket + "/" + o.Key }

// Next returns the next batch to read, receiving messages as needed; it
// waits until one comes or ctx ends. Every batch must end with Ack or
// Release (Close releases those still out).
func (c *Consumer) Next(ctx context.Context) (*Batch, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errors.New("sqs: consumer closed")
		}
		if len(c.ready) > 0 {
			b := c.ready[0]
			c.ready = c.ready[1:]
			c.stats.Batches++
			c.mu.Unlock()
			return b, nil
		}
		c.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out, err := c.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(c.cfg.QueueURL),
			MaxNumberOfMessages:         int32(c.cfg.MaxMessages),
			WaitTimeSeconds:             int32(c.cfg.Wait / time.Second),
			VisibilityTimeout:           int32(c.cfg.Visibility / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp},
		}, noRetry)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("sqs: receiving from %s: %w", c.cfg.QueueURL, err)
		}
		now := time.Now()
		if len(out.Messages) == 0 {
			c.mu.Lock()
			c.empty = now
			c.mu.Unlock()
		}
		for _, m := range out.Messages {
			c.accept(ctx, m, now)
		}
	}
}

// noRetry turns off the SDK's retries of a receive. A receive whose answer
// is lost (the connection fails while the answer is read) has still taken
// its messages out of sight for the visibility timeout; a retry the caller
// never hears of would hide that, and those messages would come back late.
// The error goes to the caller instead, which retries knowing it.
func noRetry(o *sqs.Options) { o.RetryMaxAttempts = 1 }

// accept sorts a received message: poison, a no-op, waiting, or ready.
func (c *Consumer) accept(ctx context.Context, m types.Message, received time.Time) {
	id := aws.ToString(m.MessageId)
	count, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	var sent time.Time
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		sent = time.UnixMilli(ms).UTC()
	}
	c.mu.Lock()
	c.stats.Received++
	c.mu.Unlock()
	b := &Batch{MessageID: id, ReceiveCount: count, Sent: sent, Received: received, c: c, receipt: aws.ToString(m.ReceiptHandle)}
	// Receipts that ended in a clean stop's release are not held against
	// the message: only failed reads and crashes count.
	tries := count
	if c.ledger != nil && c.cfg.MaxReceive > 0 && count > c.cfg.MaxReceive {
		n, err := c.ledger.Releases(id)
		if err != nil {
			c.log.Error("sqs: ledger", "err", err)
		}
		tries -= n
	}
	if c.cfg.MaxReceive > 0 && tries > c.cfg.MaxReceive {
		c.poison(ctx, b, aws.ToString(m.Body), fmt.Errorf("received %d times (%d of them released by a stop), more than max_receive (%d): its objects failed to be read every time, or the process died while reading them", count, count-tries, c.cfg.MaxReceive))
		return
	}
	msg, err := notify.Parse([]byte(aws.ToString(m.Body)))
	if err != nil {
		c.poison(ctx, b, aws.ToString(m.Body), err)
		return
	}
	b.Kind = msg.Kind
	for _, why := range msg.Ignored {
		c.log.Info("sqs: message announces nothing to read", "message_id", id, "what", why)
	}
	named := map[string]bool{}
	for _, o := range msg.Objects {
		if named[objKey(o)] { // named twice in one message
			continue
		}
		named[objKey(o)] = true
		if record.IsDigestName(o.Key) {
			c.log.Debug("sqs: CloudTrail digest file not read", "message_id", id, "object", "s3://"+objKey(o))
			c.count(func(s *Stats) { s.Skipped++ })
			continue
		}
		b.all = append(b.all, o)
	}
	c.mu.Lock()
	c.out[b] = true
	c.mu.Unlock()
	c.settle(ctx, b)
}

func (c *Consumer) count(fn func(*Stats)) {
	c.mu.Lock()
	fn(&c.stats)
	c.mu.Unlock()
}

// settle decides what becomes of a message that is out and not handed out:
// its objects read already are dropped; when another batch reads one of the
// rest it waits; when none is left it is deleted; else it is ready.
func (c *Consumer) settle(ctx context.Context, b *Batch) {
	inLedger := make([]bool, len(b.all))
	if c.ledger != nil {
		for i, o := range b.all {
			s, err := c.ledger.Seen(ledger.Ref{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag})
			if err != nil {
				c.log.Error("sqs: ledger", "err", err) // read it again rather than lose it
			}
			inLedger[i] = s
		}
	}
	// One critical section from here to the decision: an Ack records its
	// objects as acked before it stops reading them, so an object is
	// always either acked or being read, never neither in between.
	c.mu.Lock()
	var todo []notify.Object
	for i, o := range b.all {
		if inLedger[i] || c.acked.has(objKey(o)) {
			c.log.Debug("sqs: object read already", "message_id", b.MessageID, "object", "s3://"+objKey(o))
			c.stats.Skipped++
			continue
		}
		todo = append(todo, o)
	}
	for _, o := range todo {
		if other := c.reading[objKey(o)]; other != nil && other != b {
			c.waiting = append(c.waiting, b)
			c.mu.Unlock()
			c.log.Debug("sqs: message waits for another reading the same object", "message_id", b.MessageID, "other", other.MessageID, "object", "s3://"+objKey(o))
			return
		}
	}
	if len(todo) == 0 {
		delete(c.out, b)
		c.stats.NoOps++
		c.mu.Unlock()
		if err := c.delete(ctx, b); err != nil {
			c.log.Warn("sqs: deleting a message with nothing to read", "message_id", b.MessageID, "err", err)
		}
		return
	}
	for _, o := range todo {
		c.reading[objKey(o)] = b
	}
	b.Objects, b.etags = todo, make([]string, len(todo))
	c.ready = append(c.ready, b)
	c.mu.Unlock()
}

// poison logs a message that cannot be read, sends it to the DLQ when there
// is one, and deletes it.
func (c *Consumer) poison(ctx context.Context, b *Batch, body string, why error) {
	c.count(func(s *Stats) { s.Poison++ })
	c.log.Error("sqs: poison message", "message_id", b.MessageID, "receive_count", b.ReceiveCount, "err", why, "body", truncate(body, 2048))
	if c.cfg.DLQURL != "" {
		if _, err := c.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(c.cfg.DLQURL), MessageBody: aws.String(body)}); err != nil {
			// Kept on the queue: SQS delivers it again, and the DLQ is tried again.
			c.log.Error("sqs: sending a poison message to the DLQ failed; it stays on the queue", "message_id", b.MessageID, "dlq", c.cfg.DLQURL, "err", err)
			return
		}
	}
	if err := c.delete(ctx, b); err != nil {
		c.log.Error("sqs: deleting a poison message", "message_id", b.MessageID, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (c *Consumer) delete(ctx context.Context, b *Batch) error {
	_, err := c.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.cfg.QueueURL), ReceiptHandle: aws.String(b.receipt)})
	if err != nil {
		return fmt.Errorf("sqs: deleting message %s: %w", b.MessageID, err)
	}
	return nil
}

// Ack records the batch's objects as read (in the ledger) and deletes its
// message. Call it once the alerts of its records are delivered and the
// state is committed. An error leaves the message to be delivered again;
// the objects recorded make that a no-op.
func (b *Batch) Ack(ctx context.Context) error {
	if !b.finish() {
		return fmt.Errorf("sqs: message %s acked or released already", b.MessageID)
	}
	c := b.c
	refs := make([]ledger.Ref, len(b.Objects))
	b.mu.Lock()
	for i, o := range b.Objects {
		etag := b.etags[i]
		if etag == "" {
			etag = o.ETag
		}
		refs[i] = ledger.Ref{Bucket: o.Bucket, Key: o.Key, ETag: etag}
	}
	b.mu.Unlock()
	var err error
	if c.ledger != nil {
		err = c.ledger.Done(refs...)
	}
	if err == nil {
		c.mu.Lock()
		for _, o := range b.Objects {
			c.acked.add(objKey(o))
		}
		c.mu.Unlock()
		err = c.delete(ctx, b)
	}
	c.finished(ctx, b, func(s *Stats) { s.Acked++ })
	return err
}

// Release makes the batch's message visible again at once (for another try,
// here or in another consumer) without recording its objects.
func (b *Batch) Release(ctx context.Context) error {
	if !b.finish() {
		return fmt.Errorf("sqs: message %s acked or released already", b.MessageID)
	}
	err := b.c.release(ctx, b)
	b.c.finished(ctx, b, func(s *Stats) { s.Released++ })
	return err
}

func (b *Batch) finish() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return false
	}
	b.done = true
	return true
}

func (c *Consumer) release(ctx context.Context, b *Batch) error {
	_, err := c.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(c.cfg.QueueURL), ReceiptHandle: aws.String(b.receipt), VisibilityTimeout: 0})
	var api smithy.APIError
	switch {
	case err == nil:
	case errors.As(err, &api) && api.ErrorCode() == "ReceiptHandleIsInvalid":
		// received again since (its visibility ran out while this process
		// was stalled) or deleted: it is not this consumer's to release,
		// and nothing of it is lost
		c.log.Warn("sqs: a message to release was received again or deleted since: nothing to release", "message_id", b.MessageID, "err", err)
	default:
		return fmt.Errorf("sqs: releasing message %s: %w", b.MessageID, err)
	}
	return nil
}

// finished takes a batch off the books and settles the messages that waited
// for its objects.
func (c *Consumer) finished(ctx context.Context, b *Batch, stat func(*Stats)) {
	c.mu.Lock()
	stat(&c.stats)
	delete(c.out, b)
	for _, o := range b.Objects {
		if c.reading[objKey(o)] == b {
			delete(c.reading, objKey(o))
		}
	}
	waiting := c.waiting
	c.waiting = nil
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return
	}
	for _, w := range waiting {
		c.settle(ctx, w)
	}
}

// extendLoop extends the visibility of the messages out, every third of the
// visibility timeout, until Close.
func (c *Consumer) extendLoop() {
	defer c.stopped.Done()
	t := time.NewTicker(c.cfg.Visibility / 3)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.extend()
		}
	}
}

func (c *Consumer) extend() {
	c.extendMu.Lock()
	defer c.extendMu.Unlock()
	c.mu.Lock()
	var bs []*Batch
	for b := range c.out {
		bs = append(bs, b)
	}
	c.mu.Unlock()
	secs := int32(c.cfg.Visibility / time.Second)
	for _, b := range bs {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Visibility/3)
		_, err := c.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(c.cfg.QueueURL), ReceiptHandle: aws.String(b.receipt), VisibilityTimeout: secs})
		cancel()
		c.mu.Lock()
		if err != nil {
			if c.out[b] { // not acked or released meanwhile
				c.stats.ExtendErr++
				c.log.Warn("sqs: extending a message's visibility failed; another consumer may receive it", "message_id", b.MessageID, "err", err)
			}
		} else {
			c.stats.Extended++
		}
		c.mu.Unlock()
	}
}

// recentSize is how many acked objects a consumer remembers in memory.
const recentSize = 10000

// recent is a set that keeps the last recentSize keys added.
type recent struct {
	m     map[string]bool
	order []string
	next  int
}

func (r *recent) has(k string) bool { return r.m[k] }

func (r *recent) add(k string) {
	if r.m[k] {
		return
	}
	if len(r.order) < recentSize {
		r.order = append(r.order, k)
	} else {
		delete(r.m, r.order[r.next])
		r.order[r.next] = k
		r.next = (r.next + 1) % recentSize
	}
	r.m[k] = true
}

// Stats returns what the consumer did so far.
func (c *Consumer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// LastEmptyReceive is when the last receive that brought no message
// returned (zero: none yet).
func (c *Consumer) LastEmptyReceive() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.empty
}

// Visibility is the visibility timeout the consumer receives with.
func (c *Consumer) Visibility() time.Duration { return c.cfg.Visibility }

func (c *Consumer) runName() string { return "sqs-consumer:" + c.cfg.QueueURL }

// Start records in the ledger that a consumer of the queue runs, and
// reports whether the one before stopped cleanly (Close), or none ran
// with this ledger: when one did not (a crash; or there is no ledger to
// tell), the messages it had out come back only after the visibility
// timeout, after newer ones.
func (c *Consumer) Start() (cleanBefore bool, err error) {
	if c.ledger == nil {
		return false, nil
	}
	last, err := c.ledger.Position(c.runName())
	if err != nil {
		return false, err
	}
	return last != "running", c.ledger.SetPosition(c.runName(), "running")
}

// Close stops extending visibility and releases every message still out
// (handed out and not acked, ready, or waiting), so that they are delivered
// again at once, here after a restart or to another consumer. With a
// ledger, the releases are recorded first: the receipts they cause do not
// count toward MaxReceive (a message whose window stays open across many
// restarts is not poison; one that failed to be read, or was out when the
// process died, is counted).
func (c *Consumer) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var bs []*Batch
	for b := range c.out {
		bs = append(bs, b)
	}
	c.mu.Unlock()
	close(c.stop)
	c.stopped.Wait()
	var errs []error
	if c.ledger != nil {
		ids := make([]string, len(bs))
		for i, b := range bs {
			ids[i] = b.MessageID
		}
		if err := c.ledger.Released(ids...); err != nil {
			// then these receipts count toward max_receive
			c.log.Warn("sqs: recording the messages released at the stop", "err", err)
		}
	}
	for _, b := range bs {
		if !b.finish() {
			continue
		}
		if err := c.release(ctx, b); err != nil {
			errs = append(errs, err)
		}
		c.finished(ctx, b, func(s *Stats) { s.Released++ })
	}
	if c.ledger != nil && len(errs) == 0 {
		if err := c.ledger.SetPosition(c.runName(), "stopped"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// QueueInfo is what Check learned of the queue.
type QueueInfo struct {
	Visibility time.Duration // the queue's default visibility timeout
	Messages   int           // approximate number of messages waiting
	InFlight   int           // approximate number of messages received and not deleted
	// RedriveMaxReceive is the maxReceiveCount of the queue's own redrive
	// policy (0: none): SQS moves a message to its DLQ after that many
	// receipts, whatever MaxReceive says.
	RedriveMaxReceive int
}

// Check reads the queue's attributes (GetQueueAttributes), so that a queue
// that does not exist or may not be read is reported at start, and warns
// when the queue's own redrive policy moves messages away before MaxReceive.
func (c *Consumer) Check(ctx context.Context) (QueueInfo, error) {
	out, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(c.cfg.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameVisibilityTimeout, types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		return QueueInfo{}, fmt.Errorf("queue %s: %w", c.cfg.QueueURL, err)
	}
	var info QueueInfo
	a := out.Attributes
	if v, err := strconv.Atoi(a[string(types.QueueAttributeNameVisibilityTimeout)]); err == nil {
		info.Visibility = time.Duration(v) * time.Second
	}
	info.Messages, _ = strconv.Atoi(a[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	info.InFlight, _ = strconv.Atoi(a[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	if rp := a[string(types.QueueAttributeNameRedrivePolicy)]; rp != "" {
		var p struct {
			MaxReceiveCount json.Number `json:"maxReceiveCount"`
		}
		if err := json.Unmarshal([]byte(rp), &p); err == nil {
			n, _ := p.MaxReceiveCount.Int64()
			info.RedriveMaxReceive = int(n)
		}
	}
	if info.RedriveMaxReceive > 0 && c.cfg.MaxReceive > 0 && info.RedriveMaxReceive <= c.cfg.MaxReceive {
		c.log.Warn("sqs: the queue's redrive policy moves a message to its DLQ after fewer receipts than max_receive; trailhound will not see it as poison",
			"redrive_max_receive", info.RedriveMaxReceive, "max_receive", c.cfg.MaxReceive)
	}
	return info, nil
}
