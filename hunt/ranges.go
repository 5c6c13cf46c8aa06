package hunt

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/trailhound/trailhound/record"
)

// With more than one worker, a large plain file of records one per line
// (JSON Lines, or a delivery file or an array laid out so) is read by byte
// ranges (record.Ranges): each worker reads, splits, validates, parses and
// matches ranges of it, so that a record is matched on the core that read
// it. Handing chunks of one reader's records to another worker
// (pipeline.read) cost the other core its first reads of every record it
// was given: on 1 GB in one file, record.Key.Is took seven times the
// samples on two workers. Nothing of a range is reported or matched before
// its start is confirmed, so records, lines, offsets and errors are
// exactly those of one sequential scan.

// rangeChunk is the size of the byte ranges (a variable: tests split small
// files).
var rangeChunk int64 = record.DefaultRangeChunk

// heldRanges is how many ranges' worth of records a range holds before it
// matches them: records running on past a range's end (a delivery file
// over many lines inside JSON Lines) are matched as they are read once the
// range's start is confirmed, and end a speculative scan.
const heldRanges = 4

// rangeRun is a file being read by ranges.
type rangeRun struct {
	*record.Ranges
	in   *inputRun
	n    int          // ranges
	next int          // the next range to take (under the hunt's lock on the next input)
	left atomic.Int64 // ranges not finished
}

// task is a worker's next work: an input to read as a stream, or range k
// of a file read by ranges.
type task struct {
	in *inputRun
	rr *rangeRun
	k  int
}

// openRanges returns in as a rangeRun when it is a plain regular file of
// at least record.MinRanges ranges that starts with a record on a line of its
// own, else nil (it is then read as a stream).
func (pl *pipeline) openRanges(in *inputRun) *rangeRun {
	if in.src.Open != nil || in.path == record.Stdin || in.src.Size < record.MinRanges*rangeChunk {
		return nil
	}
	rs := record.OpenRanges(in.path, rangeChunk, record.MinRanges)
	if rs == nil {
		return nil
	}
	rr := &rangeRun{Ranges: rs, in: in, n: rs.Len()}
	rr.left.Store(int64(rr.n))
	in.latest = math.MinInt64
	in.pending.Store(1) // the reading, ended by the last range
	return rr
}

// rangeSplit is one scan of a range: its records in batches, and what the
// scanner reported, with the lines of the scan.
type rangeSplit struct {
	record.RangeScan
	batches []*batch
	errs    []*record.PosError
	sent    int // batches matched while the scan went on (heldRanges)
}

// discard gives the batches back.
func (sp *rangeSplit) discard() {
	for _, b := range sp.batches {
		recycle(b)
	}
	sp.batches = nil
}

// scanRange scans the records that start in [from.Offset, to). With m
// (the start confirmed, its first batch's place seq), the records held
// past heldRanges ranges are matched, and the errors before them
// reported, as the scan goes on; without (a speculative scan, its lines
// counted from 1), the scan gives up there, or a range past to
// (record.Ranges.Scan), and scanRange returns nil.
func (pl *pipeline) scanRange(rr *rangeRun, from record.Place, to int64, m *matcher, seq int) *rangeSplit {
	sp := &rangeSplit{}
	var b *batch
	held := int64(0)
	sp.RangeScan = rr.Scan(pl.ctx, from, to, m == nil, pl.maxRecord, func(rec record.Record) bool {
		if b == nil || len(b.recs) >= batchRecords || len(b.recs) > 0 && len(b.data)+len(rec.Data) > batchBytes {
			b = pl.newBatch(rr.in, len(sp.batches))
			sp.batches = append(sp.batches, b)
		}
		b.add(rec)
		if held += int64(len(rec.Data)); held > heldRanges*rangeChunk {
			if m == nil {
				return false
			}
			pl.flush(rr, sp, m, seq)
			b, held = nil, 0
		}
		return true
	}, func(pe *record.PosError) { sp.errs = append(sp.errs, pe) })
	if sp.Stopped {
		sp.discard()
		return nil
	}
	return sp
}

// flush reports the errors and matches the records a split with a
// confirmed start holds so far.
func (pl *pipeline) flush(rr *rangeRun, sp *rangeSplit, m *matcher, seq int) {
	for _, pe := range sp.errs {
		pl.inputErr(posError(rr.in.path, pe))
	}
	sp.errs = nil
	for _, b := range sp.batches {
		b.seq = seq + sp.sent
		sp.sent++
		rr.in.pending.Add(1)
		pl.match(m, b)
	}
	sp.batches = nil
}

// readRange reads range k of rr and matches its records with m.
func (pl *pipeline) readRange(rr *rangeRun, k int, m *matcher) {
	in := rr.in
	next := record.RangeStart{Stop: true} // unless told otherwise below
	defer func() { pl.rangeDone(rr, k, next) }()
	from, to, err := rr.Bounds(k)
	var sp *rangeSplit
	if err == nil && pl.ctx.Err() == nil {
		if k == 0 { // the file's start: confirmed
			sp = pl.scanRange(rr, record.Place{Line: 1}, to, m, 0)
		} else if from < to && !rr.Known(k) { // else no record starts here, or no need to guess
			sp = pl.scanRange(rr, rr.Guess(from), to, nil, 0)
		}
	}
	st := rr.Wait(k)
	if st.Stop || err != nil {
		if sp != nil {
			sp.discard()
		}
		if err != nil && !st.Stop {
			pl.inputErr(InputError{File: in.path, Offset: -1, Err: err})
		}
		return
	}
	delta := 0
	if sp != nil && sp.Confirmed(st.At) {
		delta = st.At.Line - sp.First.Line
	} else { // a record spans the boundary, or the scan gave up: split again where the records start
		if sp != nil {
			sp.discard()
		}
		if pl.ctx.Err() != nil {
			return
		}
		sp = pl.scanRange(rr, st.At, to, m, st.Seq)
	}
	seq := st.Seq + sp.sent
	if sp.ReadErr == nil || !errors.Is(sp.ReadErr, pl.ctx.Err()) {
		next = record.RangeStart{At: sp.End, Seq: seq + len(sp.batches), Stop: sp.ReadErr != nil}
		next.At.Line += delta
	}
	read := sp.End.Offset - st.At.Offset
	pl.ranges.Add(1)
	pl.bytes.Add(read)
	pl.prog.BytesOnDisk.Add(read)
	for _, pe := range sp.errs {
		pe.Shift(delta)
		pl.inputErr(posError(in.path, pe))
	}
	if sp.ReadErr != nil && !errors.Is(sp.ReadErr, pl.ctx.Err()) {
		pl.inputErr(InputError{File: in.path, Offset: -1, Err: fmt.Errorf("after %d bytes: %w", sp.End.Offset, sp.ReadErr)})
	}
	for i, b := range sp.batches {
		b.seq = seq + i
		for j := range b.recs {
			b.recs[j].line += delta
		}
	}
	rr.Tell(k+1, next) // before matching: the next range waits for it
	for _, b := range sp.batches {
		in.pending.Add(1)
		pl.match(m, b)
	}
}

// rangeDone ends range k of rr, telling the next range where it starts
// (unless it was told already); the last range to end ends the reading.
func (pl *pipeline) rangeDone(rr *rangeRun, k int, next record.RangeStart) {
	rr.Tell(k+1, next)
	if rr.left.Add(-1) == 0 {
		rr.Close()
		pl.done(rr.in)
	}
}
