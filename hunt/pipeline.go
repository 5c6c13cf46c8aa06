package hunt

import (
	"context"
	"math"
	"sync"
	"sync/atomic"

	"github.com/trailhound/trailhound/detect"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record"
)

// Each worker reads an input of its own, splitting it into chunks of
// records that it parses and matches as it splits them. A worker with no
// input left helps the others: they copy chunks into batches for it while
// its queue is not full, so that one large input keeps every core busy,
// and many inputs are matched without a copy (pipeline.read). A large
// plain file of records one per line is read by byte ranges instead
// (ranges.go).

const (
	batchRecords = 512       // records per chunk, at most
	batchBytes   = 256 << 10 // bytes of records per chunk, at most unless one record is larger
	// largeRecord is the size past which a record's parser (one per record
	// of a batch, with Options.Prepare) is not kept for the next batch
	largeRecord = 256 << 10
)

// batch is a chunk of consecutive records of one input, copied out of the
// reader's buffer for another worker to match.
type batch struct {
	in   *inputRun
	seq  int // the batch's place in its input
	data []byte
	keys []record.Key // the records' Record.Keys and Nested, one after another
	kids []record.Kid // the records' Record.Kids, one after another
	recs []batchRecord
}

type batchRecord struct {
	end     int // in data, after the previous record's end
	keys    int // where its keys start in the batch's keys, its nested keys after
	nkeys   int // -1: the record has none (Record.Keys nil)
	nnested int
	kids    int // where its Kids start in the batch's kids (as many as keys; -1: none)
	depth   int
	line    int
	offset  int64
}

// record returns record i of the batch, whose data starts at start (the
// previous record's end).
func (b *batch) record(i, start int) record.Record {
	r := b.recs[i]
	rec := record.Record{Data: b.data[start:r.end], Line: r.line, Offset: r.offset, Depth: r.depth}
	if r.nkeys >= 0 {
		nested := r.keys + r.nkeys
		rec.Keys = b.keys[r.keys:nested:nested]
		rec.Nested = b.keys[nested : nested+r.nnested : nested+r.nnested]
		if r.kids >= 0 {
			rec.Kids = b.kids[r.kids : r.kids+r.nkeys : r.kids+r.nkeys]
		}
	}
	return rec
}

// batchPool keeps batches of batchBytes: a batch is never grown past it but
// for one record larger than that, and such a batch is not kept.
var batchPool = sync.Pool{New: func() any { return &batch{data: make([]byte, 0, batchBytes)} }}

// inputRun is an input being read and matched.
type inputRun struct {
	i     int
	path  string
	src   record.Input  // what to open (path names it)
	bound *atomic.Int64 // its watermark bound (see watermark)

	pending atomic.Int32 // batches not matched yet, plus one while reading

	mu        sync.Mutex
	next      int                  // the first batch not matched yet
	done      map[int]matchedBatch // batches matched out of order
	inOrder   int                  // records of the batches before next
	latest    int64                // latest event time of the batches before next
	unordered bool                 // out of time order by more than the lateness

	ftOnce sync.Once
	ft     stampedTime // the input's time, for records without event time
}

// fileTime is the input's time, worked out once.
func (in *inputRun) fileTime() stampedTime {
	in.ftOnce.Do(func() { in.ft = fileTime(in.src) })
	return in.ft
}

// progressEvery is how many records of an input, matched in order, raise
// its watermark bound: often enough to bound memory on one large input,
// seldom enough that records a little out of order within it are not late.
const progressEvery = 16384

// matched records that batch seq is matched. Each time the batches matched
// in order (up to the first one still being matched) reach another
// progressEvery records, it returns their latest event time and true: a
// bound on what the input delivered in order, which its watermark may
// follow. An input found out of time order by more than the lateness stops
// there: what its records may still be is unknown until it ends.
func (in *inputRun) matched(seq int, d matchedBatch, lateness int64) (int64, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.done == nil {
		in.done = map[int]matchedBatch{}
	}
	in.done[seq] = d
	before := in.inOrder / progressEvery
	for {
		d, ok := in.done[in.next]
		if !ok {
			break
		}
		delete(in.done, in.next)
		if d.disordered || in.inOrder > 0 && d.earliest < in.latest-lateness {
			in.unordered = true
		}
		in.latest = max(in.latest, d.latest)
		in.inOrder += d.n
		in.next++
	}
	return in.latest, !in.unordered && in.inOrder/progressEvery > before
}

// matchedBatch is what the watermark needs of a batch.
type matchedBatch struct {
	n                int   // records
	earliest, latest int64 // event times
	disordered       bool  // a record older than one before it by more than the lateness
}

// pipeline runs the two stages over the inputs it is given.
type pipeline struct {
	ctx       context.Context
	eng       *engine.Engine
	maxRecord int
	lateness  int64
	prog      *Progress
	inputErr  func(InputError)
	// progress is called with an input's in-order latest event time every
	// progressEvery records matched; finished when all of an input is.
	progress func(in *inputRun, latest int64)
	finished func(in *inputRun)
	prepare  func(evs []*event.Event) // Options.Prepare
	// ahead: gzip files of record.AheadMin or more are decompressed on a
	// goroutine of their own (more than one worker: with one, the hunt
	// keeps to one core)
	ahead bool

	records, other, digests, bytes atomic.Int64
	ranges                         atomic.Int64 // ranges read (ranges.go)
	aheads                         atomic.Int64 // inputs decompressed ahead
}

// matcher is one goroutine's parsing and matching state.
type matcher struct {
	p   event.Parser
	s   *engine.Scratch
	col *detect.Collector
	// with Options.Prepare, a batch's records are all parsed before any is
	// matched: a parser per record, and the events
	ps  []*event.Parser
	evs []*event.Event
}

// split opens input in and passes its records to fn, then calls last:
// the input counts as being read until then.
func (pl *pipeline) split(in *inputRun, fn func(record.Record) error, last func()) {
	in.latest = math.MinInt64
	in.pending.Store(1)
	defer pl.done(in)
	if rc, err := record.OpenInput(pl.ctx, in.src, &pl.prog.BytesOnDisk); err != nil {
		pl.inputErr(InputError{File: in.path, Offset: -1, Err: err})
	} else {
		if pl.ahead && in.src.Size >= record.AheadMin {
			var ok bool
			if rc, ok = record.DecompressAhead(rc); ok {
				pl.aheads.Add(1)
			}
		}
		pl.bytes.Add(splitRecords(pl.ctx, rc, in.path, pl.maxRecord, pl.inputErr, fn))
		rc.Close()
	}
	last()
}

// read splits input in into chunks of records and matches each with m as
// it is split, straight from the reader's buffer. A chunk that another
// worker could take (handOff says so: it has no input left to read and
// little queued) is copied into a batch instead and given to it, so that
// one large input keeps every core busy while many inputs cost no copy.
// With Options.Prepare every chunk is a batch: m matches its own in turn.
// Chunks are counted as batches, in order, for the watermark.
func (pl *pipeline) read(in *inputRun, m *matcher, handOff func() bool, give func(*batch)) {
	var (
		seq, n, size int
		mine         bool   // m matches the chunk
		b            *batch // the chunk copied, when it is one
		t            tally  // the chunk matched in line
	)
	end := func() {
		in.pending.Add(1)
		switch {
		case b == nil:
			t.mb.n = n
			pl.matchedBatch(in, seq, &t)
		case mine:
			pl.match(m, b)
		default:
			give(b) // b belongs to the worker that takes it from now on
		}
		seq, n, size, b = seq+1, 0, 0, nil
	}
	pl.split(in, func(rec record.Record) error {
		if n >= batchRecords || n > 0 && size+len(rec.Data) > batchBytes {
			if err := pl.ctx.Err(); err != nil {
				return err
			}
			end()
		}
		if n == 0 {
			mine = handOff == nil || !handOff()
			if !mine || pl.prepare != nil {
				b = pl.newBatch(in, seq)
			} else {
				t = newTally()
			}
		}
		if b != nil {
			b.add(rec)
		} else if ns, ok := matchOne(pl.eng, &m.p, m.s, m.col, pl.prog, pl.inputErr, rec, in.path, in.fileTime, &t.st); ok {
			t.seen(ns, pl.lateness)
		}
		n++
		size += len(rec.Data)
		return nil
	}, func() {
		if n > 0 {
			end()
		}
	})
}

// add copies rec to the end of the batch.
func (b *batch) add(rec record.Record) {
	b.data = append(b.data, rec.Data...)
	br := batchRecord{end: len(b.data), keys: len(b.keys), nkeys: -1, kids: -1, depth: rec.Depth, line: rec.Line, offset: rec.Offset}
	if rec.Keys != nil {
		b.keys = append(append(b.keys, rec.Keys...), rec.Nested...)
		br.nkeys, br.nnested = len(rec.Keys), len(rec.Nested)
		if len(rec.Kids) == len(rec.Keys) {
			br.kids = len(b.kids)
			b.kids = append(b.kids, rec.Kids...)
		}
	}
	b.recs = append(b.recs, br)
}

// tally is what matching a batch's records adds up.
type tally struct {
	mb matchedBatch
	st fileStats
}

func newTally() tally {
	return tally{mb: matchedBatch{earliest: math.MaxInt64, latest: math.MinInt64}}
}

// seen counts a record's event time.
func (t *tally) seen(ns, lateness int64) {
	mb := &t.mb
	if mb.latest != math.MinInt64 && ns < mb.latest-lateness {
		mb.disordered = true
	}
	mb.earliest, mb.latest = min(mb.earliest, ns), max(mb.latest, ns)
}

// matchedBatch adds batch seq's tally to the run's and to its input's
// watermark, and counts the batch done.
func (pl *pipeline) matchedBatch(in *inputRun, seq int, t *tally) {
	pl.prog.Records.Add(int64(t.mb.n))
	pl.records.Add(t.st.records)
	pl.other.Add(t.st.other)
	pl.digests.Add(t.st.digests)
	if latest, ok := in.matched(seq, t.mb, pl.lateness); ok {
		pl.progress(in, latest)
	}
	pl.done(in)
}

// recycle returns a batch to the pool, unless a record larger than a batch
// grew it.
func recycle(b *batch) {
	b.in = nil
	if cap(b.data) <= batchBytes {
		batchPool.Put(b)
	}
}

func (pl *pipeline) newBatch(in *inputRun, seq int) *batch {
	b := batchPool.Get().(*batch)
	b.in, b.seq, b.data, b.keys, b.kids, b.recs = in, seq, b.data[:0], b.keys[:0], b.kids[:0], b.recs[:0]
	return b
}

// done counts down an input's outstanding work (a batch, or the reading);
// the last one finishes the input.
func (pl *pipeline) done(in *inputRun) {
	if in.pending.Add(-1) == 0 {
		pl.finished(in)
	}
}

// match parses and matches a batch's records, then recycles the batch.
func (pl *pipeline) match(m *matcher, b *batch) {
	in := b.in
	t := newTally()
	t.mb.n = len(b.recs)
	st := &t.st
	seen := func(ns int64) { t.seen(ns, pl.lateness) }
	start := 0
	if pl.prepare != nil {
		for len(m.ps) < len(b.recs) {
			m.ps = append(m.ps, &event.Parser{GeoIP: m.p.GeoIP, NoEntityMapping: m.p.NoEntityMapping})
		}
		m.evs = m.evs[:0]
		for i, r := range b.recs {
			ev, ns, ok := parseOne(m.ps[i], pl.inputErr, b.record(i, start), in.path, in.fileTime, st)
			start = r.end
			if ok {
				seen(ns)
			}
			if ev != nil {
				m.evs = append(m.evs, ev)
			}
		}
		pl.prepare(m.evs)
		for _, ev := range m.evs {
			matchEvent(pl.eng, m.s, m.col, pl.prog, ev)
		}
		clear(m.evs)
		start = 0
		for i, r := range b.recs { // a parser keeps its largest record's buffers: let a large one go
			if r.end-start > largeRecord {
				m.ps[i] = &event.Parser{GeoIP: m.p.GeoIP, NoEntityMapping: m.p.NoEntityMapping}
			}
			start = r.end
		}
	} else {
		for i, r := range b.recs {
			ns, ok := matchOne(pl.eng, &m.p, m.s, m.col, pl.prog, pl.inputErr, b.record(i, start), in.path, in.fileTime, st)
			start = r.end
			if ok {
				seen(ns)
			}
		}
	}
	seq := b.seq
	recycle(b)
	pl.matchedBatch(in, seq, &t)
}
