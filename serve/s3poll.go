package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailhound/trailhound/hunt"
	"github.com/trailhound/trailhound/s3trail"
)

// S3PollConfig is the S3 polling input: new CloudTrail objects found by
// listing the bucket where CloudTrail delivers them. AWS credentials and
// region come from the default chain.
type S3PollConfig struct {
	URL      string        `yaml:"url"`      // s3://bucket[/trail-prefix or a folder of the AWSLogs layout]
	From     string        `yaml:"from"`     // YYYY-MM-DD: the first day read of an account/region never read (default: today)
	Interval time.Duration `yaml:"interval"` // pause between listings that found nothing (default 1m)
	Settle   time.Duration `yaml:"settle"`   // how late S3 may show a file after the time in its name (default 15m)
	Endpoint string        `yaml:"endpoint"` // an S3-compatible store, path-style (default: AWS)
	Ledger   string        `yaml:"ledger"`   // objects read and listing positions (default STATE.ledger)
}

// Check checks the section (nil is fine: no S3 polling).
func (c *S3PollConfig) Check() error {
	if c == nil {
		return nil
	}
	if c.URL == "" {
		return errors.New("url is needed (s3://bucket[/prefix])")
	}
	if _, _, err := s3trail.ParseURL(c.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if _, err := c.FromDay(); err != nil {
		return err
	}
	if c.Interval < 0 || c.Settle < 0 {
		return errors.New("interval and settle cannot be negative")
	}
	return nil
}

// FromDay is From as a time (zero when not set).
func (c *S3PollConfig) FromDay() (time.Time, error) {
	if c.From == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", c.From)
	if err != nil {
		return time.Time{}, fmt.Errorf("from %q: want YYYY-MM-DD", c.From)
	}
	return t, nil
}

// S3PollInput reads new CloudTrail objects by listing S3 (s3trail.Poller):
// each object is one batch, named by its s3:// URL. Several objects of a
// prefix are out at once; an acknowledged object goes into the ledger at
// once, and the prefix's listing position moves past it once every object
// listed before it is acknowledged too, so a restart lists on from there,
// reads what was not acknowledged, and skips what was.
//
// Its watermark comes from the object names (Watermarker): no object left
// to read, of the prefixes listed, was delivered before the poller's
// NotBefore, and a file holds events up to Lateness older than its name.
type S3PollInput struct {
	Poller *s3trail.Poller
	// Lateness is how much older than the time in its name a file's
	// records may be (default hunt.DefaultLateness: CloudTrail delivers
	// within about 15 minutes).
	Lateness time.Duration
	// Fetchers is how many objects are read from S3 at once (default 4).
	Fetchers int
	Log      *slog.Logger // nil: slog.Default()
	// MinBackoff and MaxBackoff bound the wait after a failed listing or
	// read, doubling while failures follow each other (default 1s, 30s).
	MinBackoff, MaxBackoff time.Duration

	mu        sync.Mutex
	acked     []s3trail.Object // acknowledged, not in the ledger yet
	wake      chan struct{}
	stop      chan struct{}
	stopped   chan struct{}
	once      sync.Once
	closeOnce sync.Once
	lastErr   atomic.Pointer[failure]
}

// Name is "s3poll".
func (q *S3PollInput) Name() string { return "s3poll" }

func (q *S3PollInput) log() *slog.Logger {
	if q.Log == nil {
		return slog.Default()
	}
	return q.Log
}

// LowWatermark is the poller's NotBefore less the lateness.
func (q *S3PollInput) LowWatermark() (time.Time, bool) {
	t, ok := q.Poller.NotBefore()
	if !ok {
		return time.Time{}, false
	}
	l := q.Lateness
	if l <= 0 {
		l = hunt.DefaultLateness
	}
	return t.Add(-l), true
}

// Ready reports a listing or read failure of the last minute.
func (q *S3PollInput) Ready() error {
	if p := q.lastErr.Load(); p != nil && time.Since(p.at) < time.Minute {
		return fmt.Errorf("s3 poll: %w", p.err)
	}
	return nil
}

// start starts the committer, once: it records the acknowledged objects in
// the ledger in the background (the service acknowledges from its
// checkpoint loop, which should not wait on the disk for each object).
func (q *S3PollInput) start() {
	q.once.Do(func() {
		q.wake, q.stop, q.stopped = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go q.commitLoop()
	})
}

func (q *S3PollInput) commitLoop() {
	defer close(q.stopped)
	for {
		select {
		case <-q.wake:
		case <-q.stop:
			return
		}
		if err := q.flush(); err != nil {
			q.log().Warn("s3 poll: recording acknowledged objects; tried again", "error", err)
			select {
			case <-time.After(time.Second):
			case <-q.stop:
				return
			}
			q.signal()
		}
	}
}

func (q *S3PollInput) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// flush records the objects acknowledged so far (one ledger commit); on
// failure they are kept for the next try.
func (q *S3PollInput) flush() error {
	q.mu.Lock()
	objs := q.acked
	q.acked = nil
	q.mu.Unlock()
	if len(objs) == 0 {
		return nil
	}
	if err := q.Poller.Ack(objs...); err != nil {
		q.mu.Lock()
		q.acked = append(objs, q.acked...)
		q.mu.Unlock()
		return err
	}
	return nil
}

func (q *S3PollInput) ack(o s3trail.Object) {
	q.mu.Lock()
	q.acked = append(q.acked, o)
	q.mu.Unlock()
	q.signal()
}

// Run lists and delivers new objects until ctx ends.
func (q *S3PollInput) Run(ctx context.Context, deliver func(*Batch) error) error {
	if q.Poller == nil || q.Poller.Reader == nil || q.Poller.Ledger == nil {
		return errors.New("s3 poll input: no poller, reader or ledger")
	}
	q.start()
	rt := newRetry(q.MinBackoff, q.MaxBackoff, &q.lastErr)
	wait := func(err error) bool {
		q.log().Warn("s3 poll: failed; trying again", "error", err, "retry_in", rt.delay().String())
		return rt.wait(ctx, err)
	}
	for {
		b, err := q.Poller.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if !wait(err) {
				return nil
			}
			continue
		}
		stopping, err := q.deliverAll(ctx, b, deliver)
		if stopping {
			return nil
		}
		if err != nil {
			if !wait(err) {
				return nil
			}
			continue
		}
		rt.ok()
	}
}

// deliverAll reads a batch's objects, Fetchers at a time, and delivers them
// in key order. Objects not delivered (a read failed, or the service
// stops) are released, to be listed again.
func (q *S3PollInput) deliverAll(ctx context.Context, b *s3trail.PollBatch, deliver func(*Batch) error) (stopping bool, err error) {
	n := q.Fetchers
	if n <= 0 {
		n = 4
	}
	type fetched struct {
		data []byte
		err  error
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan fetched, len(b.Objects))
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	sem := make(chan struct{}, n)
	go func() {
		for i, o := range b.Objects {
			select {
			case sem <- struct{}{}:
			case <-fctx.Done():
				results[i] <- fetched{err: fctx.Err()}
				continue
			}
			go func() {
				defer func() { <-sem }()
				data, err := q.read(fctx, o)
				results[i] <- fetched{data, err}
			}()
		}
	}()
	for i, o := range b.Objects {
		r := <-results[i]
		if r.err != nil {
			q.Poller.Release(b.Objects[i:]...)
			if ctx.Err() != nil {
				return true, nil
			}
			return false, r.err
		}
		// Started once deliver has taken it: until then the poller's
		// NotBefore holds the watermark for it; after, the service's
		// accounting of batches in flight does.
		err := deliver(&Batch{Name: o.URL(), Data: r.data, Ack: func() { q.ack(o) }})
		if err != nil {
			q.Poller.Release(b.Objects[i:]...)
			return true, nil
		}
		q.Poller.Started(o)
	}
	return false, nil
}

// read reads an object whole.
func (q *S3PollInput) read(ctx context.Context, o s3trail.Object) ([]byte, error) {
	rc, _, err := q.Poller.Reader.Open(ctx, o.Bucket, o.Key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.URL(), err)
	}
	return data, nil
}

// Close records the objects acknowledged last (the service calls it after
// its last checkpoint).
func (q *S3PollInput) Close() error {
	q.start()
	q.closeOnce.Do(func() { close(q.stop) })
	<-q.stopped
	return q.flush()
}
