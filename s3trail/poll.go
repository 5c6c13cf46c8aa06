package s3trail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
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
// whole bucket is never listed.
//
// Several batches of a prefix may be out at once: the poller lists on from
// where its last listing stopped, and a prefix's position moves, in key
// order, only past objects all acknowledged (or read already): objects
// acknowledged out of order go into the ledger at once, and the position
// waits for those before them. The position also stays Settle behind the
// newest delivery time, because S3 may show a file named with an earlier
// time after a later one; the ledger makes the re-listed files no-ops.
//
// Poll (and Next) are called from one goroutine; Ack, Release, Started and
// NotBefore from any.
type Poller struct {
	Reader *Reader
	Ledger *ledger.Ledger
	Bucket string
	Prefix string    // the trail's key prefix, or a folder of the layout (see Reader.Discover)
	Start  time.Time // the first day read of a prefix without a position
	// Settle is how far behind the newest delivery time a position stays
	// (default 15 min): a file shows in a listing at most this long after
	// the time in its name.
	Settle time.Duration
	// Interval is the pause between polls that found nothing, and how
	// often the accounts and regions are looked for again (default 1 min).
	Interval time.Duration
	// BatchSize is the most objects in a batch (default 100).
	BatchSize int
	// Now is the clock (tests set it).
	Now func() time.Time
	Log *slog.Logger

	pollMu     sync.Mutex // one Poll at a time
	commitMu   sync.Mutex // one ledger commit at a time (positions only move on)
	mu         sync.Mutex
	order      []*prefixState
	byName     map[string]*prefixState
	out        map[string]*entry // handed out, not committed, by bucket/key
	discovered time.Time
	stats      PollStats
}

// prefixState is what the poller knows of one account/region prefix.
type prefixState struct {
	pr  Prefix
	pos string // the committed position (StartAfter), as in the ledger
	// listed is where the next listing starts after, when ahead of pos
	// ("": from pos); reset by Release, so released objects are listed
	// again.
	listed string
	// caughtUp is the wall time of the last listing that reached the end
	// of the prefix (zero while behind): no object named before it less
	// Settle is left to hand out.
	caughtUp time.Time
	queue    []*entry // handed out, in key order, until committed
	released int      // Releases so far: a listing under way when one came does not move listed
}

// entry is an object handed out.
type entry struct {
	ps      *prefixState
	ref     ledger.Ref
	started bool // the caller took it on (NotBefore no longer counts it)
	done    bool // acknowledged: in the ledger
}

// PollStats counts what a poller did.
type PollStats struct {
	Listings int // listing requests of objects (pages)
	Listed   int // objects listed
	Skipped  int // listed objects read already (ledger), handed out already, or digests
	Batches  int
}

// PollBatch is new objects of one prefix.
type PollBatch struct {
	Prefix  Prefix
	Objects []Object
	p       *Poller
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

func (p *Poller) settle() time.Duration {
	if p.Settle <= 0 {
		return 15 * time.Minute
	}
	return p.Settle
}

func (p *Poller) interval() time.Duration {
	if p.Interval <= 0 {
		return time.Minute
	}
	return p.Interval
}

// positionName names a prefix's position in the ledger.
func positionName(pr Prefix) string { return pr.URL() }

func objectName(bucket, key string) string { return bucket + "/" + key }

// settledKey is the greatest position allowed for a prefix at wall time
// now: the key a file delivered Settle before would have.
func (p *Poller) settledKey(pr Prefix, now time.Time) string {
	t := now.UTC().Add(-p.settle())
	return fmt.Sprintf("%s%s/%s_CloudTrail_%s_%s", pr.Prefix, t.Format("2006/01/02"), pr.Account, pr.Region, t.Format("20060102T1504Z"))
}

// startKey is the position of a prefix never read: before the Start day's
// folder.
func (p *Poller) startKey(pr Prefix) string {
	return pr.Prefix + p.Start.UTC().Format("2006/01/02") // sorts before that day's folder
}

// cursor is where a prefix's next listing starts after: its position, or
// where the last listing stopped, but no later than Settle behind now.
// Called with p.mu.
func (p *Poller) cursor(ps *prefixState, now time.Time) string {
	c := ps.pos
	if ps.listed > c {
		c = max(c, min(ps.listed, p.settledKey(ps.pr, now)))
	}
	return c
}

// Next returns a batch of new objects, polling until there is one or ctx
// ends.
func (p *Poller) Next(ctx context.Context) (*PollBatch, error) {
	for {
		b, err := p.Poll(ctx)
		if err != nil || b != nil {
			return b, err
		}
		t := time.NewTimer(p.interval())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Poll lists the prefixes from their cursors, the one furthest behind in
// time first (so objects come roughly in time order across accounts and
// regions), and returns the first batch of new objects found, or nil when
// none has any. The prefixes are found again (Discover) every Interval, so
// new accounts and regions join.
func (p *Poller) Poll(ctx context.Context) (*PollBatch, error) {
	if p.Start.IsZero() {
		return nil, errors.New("s3 polling needs a start date")
	}
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	if err := p.discover(ctx); err != nil {
		return nil, err
	}
	now := p.now()
	p.mu.Lock()
	order := slices.Clone(p.order)
	at := make(map[*prefixState]time.Time, len(order))
	for _, ps := range order {
		at[ps], _ = keyTime(ps.pr, p.cursor(ps, now))
	}
	p.mu.Unlock()
	slices.SortStableFunc(order, func(a, b *prefixState) int { return at[a].Compare(at[b]) })
	for _, ps := range order {
		b, err := p.list(ctx, ps, now)
		if err != nil || b != nil {
			return b, err
		}
	}
	return nil, nil
}

// discover finds the prefixes, at the first poll and every Interval, and
// loads the positions of new ones.
func (p *Poller) discover(ctx context.Context) error {
	p.mu.Lock()
	due := p.order == nil || p.now().Sub(p.discovered) >= p.interval()
	p.mu.Unlock()
	if !due {
		return nil
	}
	prs, err := p.Reader.Discover(ctx, p.Bucket, p.Prefix)
	if err != nil {
		return err
	}
	var added []*prefixState
	for _, pr := range prs {
		p.mu.Lock()
		_, known := p.byName[positionName(pr)]
		p.mu.Unlock()
		if known {
			continue
		}
		pos, err := p.Ledger.Position(positionName(pr))
		if err != nil {
			return err
		}
		if pos == "" {
			pos = p.startKey(pr)
		}
		added = append(added, &prefixState{pr: pr, pos: pos})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byName == nil {
		p.byName, p.out = map[string]*prefixState{}, map[string]*entry{}
	}
	for _, ps := range added {
		p.byName[positionName(ps.pr)] = ps
		p.order = append(p.order, ps)
	}
	p.discovered = p.now()
	return nil
}

var errFull = errors.New("batch full")

// list lists a prefix from its cursor; it returns a batch of the objects
// neither read nor handed out yet, or nil (having moved the position past
// objects read already).
func (p *Poller) list(ctx context.Context, ps *prefixState, now time.Time) (*PollBatch, error) {
	p.mu.Lock()
	from := p.cursor(ps, now)
	gen := ps.released
	p.mu.Unlock()
	size := p.BatchSize
	if size <= 0 {
		size = 100
	}
	b := &PollBatch{Prefix: ps.pr, p: p}
	last := from
	listed, skipped := 0, 0
	err := p.Reader.List(ctx, ps.pr, from, func(o Object) error {
		listed++
		last = o.Key
		if record.IsDigestName(o.Key) {
			skipped++
			return nil
		}
		// Handed out is looked at before the ledger: an object acknowledged
		// meanwhile is in the ledger before it leaves the handed out.
		p.mu.Lock()
		_, out := p.out[objectName(o.Bucket, o.Key)]
		p.mu.Unlock()
		seen := out
		if !out {
			var err error
			if seen, err = p.Ledger.Seen(ledger.Ref{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag}); err != nil {
				return err
			}
		}
		if seen {
			skipped++
			return nil
		}
		b.Objects = append(b.Objects, o)
		if len(b.Objects) == size {
			return errFull
		}
		return nil
	})
	full := errors.Is(err, errFull)
	if err != nil && !full {
		return nil, err
	}
	p.mu.Lock()
	p.stats.Listed += listed
	p.stats.Skipped += skipped
	p.stats.Listings++
	switch {
	case ps.released != gen:
		// a Release came meanwhile: list from the position again
	case last > ps.listed || ps.listed == "":
		ps.listed = max(last, ps.pos)
	}
	if full || ps.released != gen {
		ps.caughtUp = time.Time{}
	} else {
		ps.caughtUp = now
	}
	for _, o := range b.Objects {
		e := &entry{ps: ps, ref: ledger.Ref{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag}}
		p.out[objectName(o.Bucket, o.Key)] = e
		i, _ := slices.BinarySearchFunc(ps.queue, o.Key, func(e *entry, k string) int { return strings.Compare(e.ref.Key, k) })
		ps.queue = slices.Insert(ps.queue, i, e)
	}
	if len(b.Objects) > 0 {
		p.stats.Batches++
	}
	p.mu.Unlock()
	if len(b.Objects) == 0 {
		// Nothing new: move past what was read already (within Settle).
		return nil, p.settleEmpty(ps, now)
	}
	p.log().Debug("s3 poll: new objects", "prefix", ps.pr.URL(), "objects", len(b.Objects), "after", from)
	return b, nil
}

// plan returns the positions that move (by ledger name) once the objects
// marked done are in the ledger: past the last of the done objects at the
// head of a prefix's queue, or, with nothing else handed out, to where the
// listing stopped; never later than Settle behind now, never back. Called
// with p.mu.
func (p *Poller) plan(pss []*prefixState, now time.Time) map[string]string {
	move := map[string]string{}
	for _, ps := range pss {
		cand := ""
		n := 0
		for n < len(ps.queue) && ps.queue[n].done {
			cand = ps.queue[n].ref.Key
			n++
		}
		if n == len(ps.queue) {
			cand = max(cand, ps.listed)
		}
		if next := min(cand, p.settledKey(ps.pr, now)); next > ps.pos {
			move[positionName(ps.pr)] = next
		}
	}
	return move
}

// committed takes the positions written as the prefixes' own and forgets
// the done objects at the head of their queues (they are in the ledger).
// Called with p.mu.
func (p *Poller) committed(pss []*prefixState, move map[string]string) {
	for _, ps := range pss {
		n := 0
		for n < len(ps.queue) && ps.queue[n].done {
			delete(p.out, objectName(ps.queue[n].ref.Bucket, ps.queue[n].ref.Key))
			n++
		}
		ps.queue = slices.Delete(ps.queue, 0, n)
		if pos, ok := move[positionName(ps.pr)]; ok && pos > ps.pos {
			ps.pos = pos
		}
	}
}

// Ack records objects handed out as read, in one ledger commit with the
// positions that move past them: a prefix's position moves only past
// objects all acknowledged, so one acknowledged before those listed before
// it waits for them (and a restart meanwhile hands out only those).
// Objects not handed out are an error.
func (p *Poller) Ack(objs ...Object) error {
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	now := p.now()
	refs := make([]ledger.Ref, 0, len(objs))
	var es []*entry
	var pss []*prefixState
	p.mu.Lock()
	for _, o := range objs {
		e := p.out[objectName(o.Bucket, o.Key)]
		if e == nil || e.done {
			p.mu.Unlock()
			return fmt.Errorf("s3 poll: %s acknowledged but not out", o.URL())
		}
		es = append(es, e)
		refs = append(refs, e.ref)
		if !slices.Contains(pss, e.ps) {
			pss = append(pss, e.ps)
		}
	}
	for _, e := range es {
		e.done = true
	}
	move := p.plan(pss, now)
	p.mu.Unlock()
	// The objects leave the handed out only once in the ledger: listed
	// again meanwhile, they are skipped either way.
	err := p.Ledger.SetPositions(move, refs...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		for _, e := range es {
			e.done = false
		}
		return err
	}
	p.committed(pss, move)
	return nil
}

// settleEmpty moves a prefix's position past what was listed and read
// already, when nothing of it is out.
func (p *Poller) settleEmpty(ps *prefixState, now time.Time) error {
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	p.mu.Lock()
	move := p.plan([]*prefixState{ps}, now)
	p.mu.Unlock()
	if len(move) == 0 {
		return nil
	}
	if err := p.Ledger.SetPositions(move); err != nil {
		return err
	}
	p.mu.Lock()
	p.committed([]*prefixState{ps}, move)
	p.mu.Unlock()
	return nil
}

// Release gives objects handed out up: they (and the objects listed after
// them that are not out) are listed again.
func (p *Poller) Release(objs ...Object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range objs {
		e := p.out[objectName(o.Bucket, o.Key)]
		if e == nil || e.done {
			continue
		}
		delete(p.out, objectName(o.Bucket, o.Key))
		e.ps.queue = slices.DeleteFunc(e.ps.queue, func(x *entry) bool { return x == e })
		e.ps.listed = "" // from the position again
		e.ps.caughtUp = time.Time{}
		e.ps.released++
	}
}

// Started says the caller has taken the objects on: NotBefore no longer
// counts them (the caller's own accounting does until it has read them).
func (p *Poller) Started(objs ...Object) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range objs {
		if e := p.out[objectName(o.Bucket, o.Key)]; e != nil {
			e.started = true
		}
	}
}

// Ack records the batch's objects as read (see Poller.Ack). Its signature
// is sqsinput.Batch's, so that a caller treats both alike.
func (b *PollBatch) Ack(context.Context) error {
	if b.done {
		return errors.New("s3 poll: batch acked or released already")
	}
	b.done = true
	return b.p.Ack(b.Objects...)
}

// Release gives the batch up: its objects are listed again.
func (b *PollBatch) Release(context.Context) error {
	if b.done {
		return errors.New("s3 poll: batch acked or released already")
	}
	b.done = true
	b.p.Release(b.Objects...)
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

// NotBefore is a time before which no object the poller has yet to hand
// out (or hands out again after a Release), or has handed out and not seen
// Started, was delivered, by the times in their names: per prefix, the
// time of the cursor its next listing starts after, or, when its last
// listing reached the end, that listing's time less Settle (files show
// within Settle); the least of them. A file holds events from before its
// delivery time, so a caller's watermark is this less CloudTrail's
// delivery delay. Before the first Poll found the prefixes it is the Start
// day (ok is false without one).
func (p *Poller) NotBefore() (t time.Time, ok bool) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.order) == 0 {
		return p.Start.UTC().Truncate(24 * time.Hour), !p.Start.IsZero()
	}
	for _, ps := range p.order {
		pt, known := keyTime(ps.pr, p.cursor(ps, now))
		if !known {
			pt = p.Start.UTC().Truncate(24 * time.Hour)
		}
		if !ps.caughtUp.IsZero() {
			pt = ps.caughtUp.UTC().Add(-p.settle())
		}
		for _, e := range ps.queue {
			if e.started || e.done {
				continue
			}
			if et, known := keyTime(ps.pr, e.ref.Key); known && et.Before(pt) {
				pt = et
			}
		}
		if !ok || pt.Before(t) {
			t, ok = pt, true
		}
	}
	return t, ok
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
