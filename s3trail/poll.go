package s3trail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/trailhound/trailhound/ledger"
	"github.com/trailhound/trailhound/record"
)

// Poller reads new CloudTrail objects by listing S3, for accounts without
// notifications and for backfills. Per account/region prefix it lists from a
// position kept in the ledger (StartAfter: the last key read, or the Start
// day when the prefix is new), so a restart resumes where it stopped and a
// whole bucket is never listed. The position stays Settle behind the newest
// delivery time, because S3 may show a file named with an earlier time after
// a later one; the ledger makes the re-listed files no-ops.
//
// Next hands out one batch per prefix at a time; Ack records its objects
// and moves the prefix's position, Release leaves both.
type Poller struct {
	Reader *Reader
	Ledger *ledger.Ledger
	Bucket string
	Prefix string    // the trail's key prefix, or a folder of the layout (see Reader.Discover)
	Start  time.Time // the first day read of a prefix without a position
	// Settle is how far behind the newest delivery time a position stays
	// (default 15 min).
	Settle time.Duration
	// Interval is the pause between polls that found nothing (default 1 min).
	Interval time.Duration
	// BatchSize is the most objects in a batch (default 100).
	BatchSize int
	// Now is the clock (tests set it).
	Now func() time.Time
	Log *slog.Logger

	mu       sync.Mutex
	prefixes []Prefix
	out      map[string]bool // prefixes with a batch out
	turn     int
	stats    PollStats
}

// PollStats counts what a poller did.
type PollStats struct {
	Listings int // listing requests of objects (pages)
	Listed   int // objects listed
	Skipped  int // listed objects read already (ledger) or digests
	Batches  int
}

// PollBatch is new objects of one prefix.
type PollBatch struct {
	Prefix  Prefix
	Objects []Object
	p       *Poller
	last    string // the last key listed, read or skipped
	done    bool
}

// Inputs are the batch's objects as hunt inputs.
func (b *PollBatch) Inputs() []record.Input {
	ins := make([]record.Input, len(b.Objects))
	for i, o := range b.Objects {
		ins[i] = b.p.Reader.Input(o)
	}
	return ins
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Poller) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// positionName names a prefix's position in the ledger.
func positionName(pr Prefix) string { return pr.URL() }

// settled is the greatest position allowed for a prefix now: the key a file
// delivered Settle ago would have.
func (p *Poller) settled(pr Prefix) string {
	settle := p.Settle
	if settle <= 0 {
		settle = 15 * time.Minute
	}
	t := p.now().UTC().Add(-settle)
	return fmt.Sprintf("%s%s/%s_CloudTrail_%s_%s", pr.Prefix, t.Format("2006/01/02"), pr.Account, pr.Region, t.Format("20060102T1504Z"))
}

// Next returns a batch of new objects, polling until there is one or ctx
// ends.
func (p *Poller) Next(ctx context.Context) (*PollBatch, error) {
	for {
		b, err := p.Poll(ctx)
		if err != nil || b != nil {
			return b, err
		}
		interval := p.Interval
		if interval <= 0 {
			interval = time.Minute
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Poll lists the prefixes without a batch out, from their positions, in
// turn, and returns the first batch of new objects found, or nil when a
// whole round found none. The prefixes are found again (Discover) at the
// start of each round, so new accounts and regions join.
func (p *Poller) Poll(ctx context.Context) (*PollBatch, error) {
	if p.Start.IsZero() {
		return nil, errors.New("s3 polling needs a start date")
	}
	p.mu.Lock()
	if p.out == nil {
		p.out = map[string]bool{}
	}
	p.mu.Unlock()
	n := -1 // prefixes in a round, known after the first Discover
	for tried := 0; n < 0 || tried < n; tried++ {
		p.mu.Lock()
		wrap := p.prefixes == nil || p.turn >= len(p.prefixes)
		p.mu.Unlock()
		if wrap {
			ps, err := p.Reader.Discover(ctx, p.Bucket, p.Prefix)
			if err != nil {
				return nil, err
			}
			p.mu.Lock()
			p.prefixes, p.turn = ps, 0
			p.mu.Unlock()
		}
		if n < 0 {
			p.mu.Lock()
			n = len(p.prefixes)
			p.mu.Unlock()
		}
		p.mu.Lock()
		pr := p.prefixes[p.turn]
		p.turn++
		busy := p.out[positionName(pr)]
		p.mu.Unlock()
		if busy {
			continue
		}
		b, err := p.list(ctx, pr)
		if err != nil || b != nil {
			return b, err
		}
	}
	return nil, nil
}

var errFull = errors.New("batch full")

// list lists a prefix from its position; it returns a batch of the objects
// not read yet, or nil (having moved the position past objects read
// already).
func (p *Poller) list(ctx context.Context, pr Prefix) (*PollBatch, error) {
	name := positionName(pr)
	pos, err := p.Ledger.Position(name)
	if err != nil {
		return nil, err
	}
	if pos == "" {
		pos = pr.Prefix + p.Start.UTC().Format("2006/01/02") // sorts before that day's folder
	}
	size := p.BatchSize
	if size <= 0 {
		size = 100
	}
	b := &PollBatch{Prefix: pr, p: p, last: pos}
	listed, skipped := 0, 0
	err = p.Reader.List(ctx, pr, pos, func(o Object) error {
		listed++
		if !record.IsDigestName(o.Key) {
			seen, err := p.Ledger.Seen(ledger.Ref{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag})
			if err != nil {
				return err
			}
			if !seen {
				b.Objects = append(b.Objects, o)
			} else {
				skipped++
			}
		} else {
			skipped++
		}
		b.last = o.Key
		if len(b.Objects) == size {
			return errFull
		}
		return nil
	})
	p.mu.Lock()
	p.stats.Listed += listed
	p.stats.Skipped += skipped
	p.stats.Listings++
	p.mu.Unlock()
	if err != nil && !errors.Is(err, errFull) {
		return nil, err
	}
	if len(b.Objects) == 0 {
		// Nothing new: move past what was read already (within Settle).
		if next := min(b.last, p.settled(pr)); next > pos {
			if err := p.Ledger.SetPosition(name, next); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	p.mu.Lock()
	p.out[name] = true
	p.stats.Batches++
	p.mu.Unlock()
	p.log().Debug("s3 poll: new objects", "prefix", pr.URL(), "objects", len(b.Objects), "after", pos)
	return b, nil
}

// Ack records the batch's objects as read and moves its prefix's position
// past them (no further than Settle behind now), in one ledger commit. Its
// signature is sqsinput.Batch's, so that a caller treats both alike.
func (b *PollBatch) Ack(context.Context) error {
	if b.done {
		return errors.New("s3 poll: batch acked or released already")
	}
	b.done = true
	p := b.p
	refs := make([]ledger.Ref, len(b.Objects))
	for i, o := range b.Objects {
		refs[i] = ledger.Ref{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag}
	}
	name := positionName(b.Prefix)
	pos, err := p.Ledger.Position(name)
	if err == nil {
		next := min(b.last, p.settled(b.Prefix))
		if next < pos {
			next = pos
		}
		err = p.Ledger.SetPosition(name, next, refs...)
	}
	p.mu.Lock()
	delete(p.out, name)
	p.mu.Unlock()
	return err
}

// Release gives the batch up: its objects are listed again.
func (b *PollBatch) Release(context.Context) error {
	if b.done {
		return errors.New("s3 poll: batch acked or released already")
	}
	b.done = true
	b.p.mu.Lock()
	delete(b.p.out, positionName(b.Prefix))
	b.p.mu.Unlock()
	return nil
}

// Stats returns what the poller did so far.
func (p *Poller) Stats() PollStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Fetch reads the batch's objects whole.
func (b *PollBatch) Fetch(ctx context.Context) ([]Fetched, error) {
	return b.p.Reader.Fetch(ctx, b.Objects)
}

// NotBefore is a time before which no object the poller has yet to hand out
// (or hands out again after a Release) was delivered: the lowest delivery
// time of the prefixes' positions (the Start day for a prefix without one).
// A file holds events from before its delivery time, so a caller's
// watermark is this less CloudTrail's delivery delay. ok is false before
// the first Poll found the prefixes.
func (p *Poller) NotBefore() (t time.Time, ok bool, err error) {
	p.mu.Lock()
	prefixes := append([]Prefix(nil), p.prefixes...)
	p.mu.Unlock()
	if len(prefixes) == 0 {
		return time.Time{}, false, nil
	}
	for _, pr := range prefixes {
		pos, err := p.Ledger.Position(positionName(pr))
		if err != nil {
			return time.Time{}, false, err
		}
		pt := p.Start.UTC().Truncate(24 * time.Hour)
		if pos != "" {
			if kt, ok := keyTime(pr, pos); ok {
				pt = kt
			}
		}
		if !ok || pt.Before(t) {
			t, ok = pt, true
		}
	}
	return t, ok, nil
}

var positionTime = regexp.MustCompile(`_(\d{8}T\d{4}Z)(?:_[^/]*)?$`)

// keyTime is the delivery time a key (or position) under a prefix stands
// for: the time in a CloudTrail file name, else its day folder.
func keyTime(pr Prefix, key string) (time.Time, bool) {
	if m := positionTime.FindStringSubmatch(key); m != nil {
		if t, err := time.Parse("20060102T1504Z", m[1]); err == nil {
			return t, true
		}
	}
	rest := strings.TrimPrefix(key, pr.Prefix)
	if len(rest) >= 10 {
		if t, err := time.Parse("2006/01/02", rest[:10]); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
