package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/trailhound/trailhound/sqsinput"
)

// SQSInput reads the CloudTrail objects an SQS queue announces (S3 event
// notifications, direct, through SNS or EventBridge, or CloudTrail's own
// SNS message). Each object of a message is one batch, named by its s3://
// URL; the message is acknowledged (objects into the ledger, then the
// message deleted) once every one of its objects is, and released (visible
// again at once) when an object cannot be read, or at shutdown when it is
// not acknowledged yet. A notification redelivered after its objects were
// read is a no-op (the consumer's ledger).
type SQSInput struct {
	// Consumer is the queue's consumer; Close closes it.
	Consumer *sqsinput.Consumer
	Log      *slog.Logger // nil: slog.Default()
	// MinBackoff and MaxBackoff bound the wait after a failed receive or
	// object read, doubling while failures follow each other (default 1s
	// and 30s), so an S3 or SQS outage is not a busy loop and does not
	// turn every message into poison at once.
	MinBackoff, MaxBackoff time.Duration

	acks    sync.WaitGroup // acknowledgements under way
	hold    atomic.Pointer[hold]
	lastErr atomic.Pointer[failure]
	readyMu sync.Mutex
	readyAt time.Time
	ready   error
}

// hold is the wait after a start that followed a crash, or after a failed
// receive: until the messages the crashed process or the lost answer had
// out are visible again (the visibility timeout) and received.
type hold struct {
	until time.Time // they are visible again by then
	limit time.Time // the hold ends then whatever comes
}

// holdOut starts a hold: messages may be out of sight (taken by a process
// that crashed, or by a receive whose answer was lost) until the visibility
// timeout from now.
func (q *SQSInput) holdOut() {
	v := q.Consumer.Visibility()
	until := time.Now().Add(v + time.Second)
	q.hold.Store(&hold{until: until, limit: until.Add(max(v, time.Minute))})
}

// mayHaveTaken reports whether a failed receive may have taken messages
// out of sight: not when SQS answered with a client error (4xx:
// AccessDenied, a missing queue, throttling), nor when the request never
// left (no connection, no address). A hold then would stop every input's
// decisions for the whole outage, for nothing.
func mayHaveTaken(err error) bool {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	var dns *net.DNSError
	return !errors.As(err, &dns)
}

// Holding is true after a start that followed a crash (or without a
// ledger to tell) or after a failed receive, until the messages the crashed
// process or the lost answer had out, visible again after the visibility
// timeout, are received: a receive after it
// brought a message received for the first time (the queue hands out the
// older ones first) or nothing. Meanwhile the service's watermark waits,
// so those records are not late.
func (q *SQSInput) Holding() bool {
	h := q.hold.Load()
	if h == nil {
		return false
	}
	now := time.Now()
	if now.After(h.limit) || q.Consumer.LastEmptyReceive().After(h.until) {
		q.hold.CompareAndSwap(h, nil)
		return false
	}
	return true
}

// failure is the last receive or read failure and when it happened.
type failure struct {
	err error
	at  time.Time
}

// retry paces an input's retries after failures: waits doubling from min
// (default 1 s) to max (default 30 s, at least min), back to min after a
// success; the last failure is kept for /readyz.
type retry struct {
	min, max, next time.Duration
	last           *atomic.Pointer[failure]
}

func newRetry(minB, maxB time.Duration, last *atomic.Pointer[failure]) *retry {
	if minB <= 0 {
		minB = time.Second
	}
	if maxB < minB {
		maxB = max(30*time.Second, minB)
	}
	return &retry{min: minB, max: maxB, last: last}
}

// delay is how long the next wait lasts.
func (r *retry) delay() time.Duration { return min(max(2*r.next, r.min), r.max) }

// wait records err and waits before the next try; false when ctx ended.
func (r *retry) wait(ctx context.Context, err error) bool {
	r.last.Store(&failure{err, time.Now()})
	r.next = r.delay()
	select {
	case <-time.After(r.next):
		return true
	case <-ctx.Done():
		return false
	}
}

// ok records a success.
func (r *retry) ok() {
	r.next = 0
	r.last.Store(nil)
}

// Name is "sqs".
func (q *SQSInput) Name() string { return "sqs" }

func (q *SQSInput) log() *slog.Logger {
	if q.Log == nil {
		return slog.Default()
	}
	return q.Log
}

// Run receives messages and delivers their objects until ctx ends.
func (q *SQSInput) Run(ctx context.Context, deliver func(*Batch) error) error {
	if q.Consumer == nil {
		return errors.New("sqs input: no consumer")
	}
	rt := newRetry(q.MinBackoff, q.MaxBackoff, &q.lastErr)
	clean, err := q.Consumer.Start()
	if err != nil {
		q.log().Warn("sqs: ledger", "error", err)
	}
	if !clean {
		q.holdOut()
		q.log().Info("sqs: the last run did not stop cleanly: decisions wait until the messages it had out are visible again and received", "visibility", q.Consumer.Visibility().String())
	}
	for {
		b, err := q.Consumer.Next(ctx)
		if ctx.Err() != nil {
			return nil // Close releases what is out
		}
		if err != nil {
			// The answer may be lost with messages in it, out of sight
			// until the visibility timeout: their records must not be late.
			if mayHaveTaken(err) {
				q.holdOut()
			}
			q.log().Warn("sqs: receiving", "error", err, "retry_in", rt.delay().String())
			if !rt.wait(ctx, err) {
				return nil
			}
			continue
		}
		objs, err := b.Fetch(ctx)
		if err != nil {
			// The message comes back at once; after max_receive failed
			// tries it is poison (logged, to the DLQ).
			if rerr := b.Release(context.WithoutCancel(ctx)); rerr != nil {
				q.log().Warn("sqs: releasing a message", "message_id", b.MessageID, "error", rerr)
			}
			if ctx.Err() != nil {
				return nil
			}
			q.log().Warn("sqs: reading the objects of a message; released for another try", "message_id", b.MessageID,
				"receive_count", b.ReceiveCount, "error", err)
			if !rt.wait(ctx, fmt.Errorf("message %s: %w", b.MessageID, err)) {
				return nil
			}
			continue
		}
		rt.ok()
		// A message received for the first time after the hold's wait: the
		// ones the crashed process had out came before it. The hold ends
		// once its objects are delivered.
		var ends *hold
		if h := q.hold.Load(); h != nil && b.ReceiveCount == 1 && b.Received.After(h.until) {
			ends = h
		}
		if len(objs) == 0 { // not handed out by the consumer; kept safe
			q.ack(b)
			continue
		}
		left := new(atomic.Int32)
		left.Store(int32(len(objs)))
		for _, o := range objs {
			err := deliver(&Batch{Name: o.Name, Data: o.Data, Ack: func() {
				if left.Add(-1) == 0 {
					q.ack(b)
				}
			}})
			if err != nil {
				return nil // stopping: not acknowledged, released by Close and received again
			}
		}
		if ends != nil {
			q.hold.CompareAndSwap(ends, nil)
		}
	}
}

// ack acknowledges a message in the background: the service calls Ack from
// its checkpoint loop, which should not wait on SQS.
func (q *SQSInput) ack(b *sqsinput.Batch) {
	q.acks.Add(1)
	go func() {
		defer q.acks.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Ack(ctx); err != nil {
			// Received again later: the ledger makes it a no-op when its
			// objects were recorded.
			q.log().Warn("sqs: acknowledging a message", "message_id", b.MessageID, "error", err)
		}
	}()
}

// Close waits for the acknowledgements under way, then closes the consumer,
// releasing the messages not acknowledged so they are received again at
// once (here after a restart, or by another consumer).
func (q *SQSInput) Close() error {
	q.acks.Wait()
	if q.Consumer == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return q.Consumer.Close(ctx)
}

// Ready reports a receive or read failure of the last minute (failures
// that follow each other keep it fresh), else whether the queue can be
// read (GetQueueAttributes, at most once a minute).
func (q *SQSInput) Ready() error {
	if p := q.lastErr.Load(); p != nil && time.Since(p.at) < time.Minute {
		return fmt.Errorf("sqs: %w", p.err)
	}
	q.readyMu.Lock()
	defer q.readyMu.Unlock()
	if !q.readyAt.IsZero() && time.Since(q.readyAt) < time.Minute {
		return q.ready
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := q.Consumer.Check(ctx)
	q.ready, q.readyAt = err, time.Now()
	return err
}
