package hunt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"github.com/trailhound/trailhound/record"
)

// With more than one worker, a large plain file of records one per line
// (JSON Lines, or a delivery file or an array laid out so) is read by byte
// ranges: each worker reads, splits, validates, parses and matches ranges
// of it, so that a record is matched on the core that read it. Handing
// chunks of one reader's records to another worker (pipeline.read) cost
// the other core its first reads of every record it was given: on 1 GB in
// one file, record.Key.Is took seven times the samples on two workers.
//
// Range k holds the records that start in [lineStart(k), lineStart(k+1)):
// a line break is taken for a record boundary, and checked. Each range is
// split speculatively from its first line, at the level of the file's
// first record (between top-level values, or inside the array of records
// it starts: record.Level); the range before it then says where its
// records really start: the first place between records at or after the
// boundary, found by its own scan (record.Scanner.Boundary), with its line
// number and its batches' place in the input. When that is where the
// speculative split started (always, in a file of one record per line),
// the split stands; else (a record spanning lines across the boundary) the
// range is split again from there. Nothing of a range is reported or
// matched before its start is confirmed, so records, lines, offsets and
// errors are exactly those of one sequential scan.

// rangeChunk is the size of the byte ranges (a variable: tests split small
// files).
var rangeChunk int64 = 1 << 20

// minRanges is how many ranges a file must hold to be split.
const minRanges = 4

// sniffBytes is how much of a file's start is read to see where its
// records are: its first record must end within them.
const sniffBytes = 64 << 10

// heldRanges is how many ranges' worth of records a range holds before it
// matches them: records running on past a range's end (a delivery file
// over many lines inside JSON Lines) are matched as they are read once the
// range's start is confirmed, and end a speculative scan.
const heldRanges = 4

// rangeRun is a file being read by ranges.
type rangeRun struct {
	in    *inputRun
	f     *os.File
	size  int64
	n     int          // ranges
	level record.Level // where the first record is: where a range's split starts

	next int          // the next range to take (under the hunt's lock on the next input)
	left atomic.Int64 // ranges not finished

	mu     sync.Mutex
	cond   *sync.Cond
	starts []rangeStart // [k]: where range k's records start, told by range k-1
	lines  []int64      // [k]: lineStart(k), -1 until found
}

// rangeStart is where a range's records start.
type rangeStart struct {
	at   record.Place
	seq  int  // its first batch's place in the input
	stop bool // reading stopped before (a read error, the hunt's end)
	set  bool
}

// task is a worker's next work: an input to read as a stream, or range k
// of a file read by ranges.
type task struct {
	in *inputRun
	rr *rangeRun
	k  int
}

// openRanges returns in as a rangeRun when it is a plain regular file of
// at least minRanges ranges that starts with a record on a line of its
// own, else nil (it is then read as a stream).
func (pl *pipeline) openRanges(in *inputRun) *rangeRun {
	if in.src.Open != nil || in.path == record.Stdin || in.src.Size < minRanges*rangeChunk {
		return nil
	}
	f, err := os.OpenFile(in.path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil // the stream's open reports it
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < minRanges*rangeChunk {
		f.Close()
		return nil
	}
	level, ok := firstLevel(f, st.Size())
	if !ok {
		f.Close()
		return nil
	}
	n := int((st.Size() + rangeChunk - 1) / rangeChunk)
	rr := &rangeRun{in: in, f: f, size: st.Size(), n: n, level: level, starts: make([]rangeStart, n+1), lines: make([]int64, n+1)}
	for k := range rr.lines {
		rr.lines[k] = -1
	}
	rr.lines[0], rr.lines[n] = 0, rr.size
	rr.cond = sync.NewCond(&rr.mu)
	rr.left.Store(int64(n))
	rr.starts[0] = rangeStart{at: record.Place{Line: 1}, set: true}
	in.latest = math.MinInt64
	in.pending.Store(1) // the reading, ended by the last range
	return rr
}

// firstLevel reads the start of f (size bytes) and returns where its first
// record is, when a line break follows it (else false: no records one per
// line, nothing for ranges to split at).
func firstLevel(f *os.File, size int64) (record.Level, bool) {
	head := make([]byte, min(size, sniffBytes))
	if _, err := f.ReadAt(head, 0); err != nil {
		return 0, false
	}
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b { // gzip
		return 0, false
	}
	sc := record.NewScanner(bytes.NewReader(head), 0)
	defer sc.Close()
	rec, err := sc.Next()
	if err != nil {
		return 0, false
	}
	at, ok := sc.Boundary()
	end := min(rec.Offset+int64(len(rec.Data)), at.Offset) // Data is re-encoded when it had duplicate keys
	return at.Level, ok && bytes.IndexByte(head[end:at.Offset], '\n') >= 0
}

// lineStart is the offset of the first line that starts at or after
// k*rangeChunk (the file's size when none does). What a search finds
// holds for every range it passes: a file with few line breaks is read
// once for them, not once per range.
func (rr *rangeRun) lineStart(k int) (int64, error) {
	rr.mu.Lock()
	found := rr.lines[k]
	rr.mu.Unlock()
	if found >= 0 {
		return found, nil
	}
	p := int64(k) * rangeChunk
	found = rr.size
	buf := make([]byte, 4<<10)
	for at := p - 1; at < rr.size; at += int64(len(buf)) {
		if at > p && len(buf) < 64<<10 {
			buf = make([]byte, 64<<10) // far from a line break: larger reads
		}
		n, err := rr.f.ReadAt(buf[:min(int64(len(buf)), rr.size-at)], at)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			found = at + int64(i) + 1
			break
		}
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("looking for a line break after byte %d: %w", p, err)
		}
	}
	rr.mu.Lock()
	for j := k; j < rr.n && int64(j)*rangeChunk <= found; j++ {
		rr.lines[j] = found
	}
	rr.mu.Unlock()
	return found, nil
}

// wait returns where range k's records start, once range k-1 has said.
func (rr *rangeRun) wait(k int) rangeStart {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for !rr.starts[k].set {
		rr.cond.Wait()
	}
	return rr.starts[k]
}

// tell says where range k's records start (the first word stands).
func (rr *rangeRun) tell(k int, s rangeStart) {
	s.set = true
	rr.mu.Lock()
	if !rr.starts[k].set {
		rr.starts[k] = s
	}
	rr.mu.Unlock()
	rr.cond.Broadcast()
}

// rangeSplit is one scan of a range: its records in batches, and what the
// scanner reported, with the lines of the scan.
type rangeSplit struct {
	batches []*batch
	errs    []*record.PosError
	readErr error        // reading failed: nothing after it is read
	first   record.Place // where the first record starts (white space skipped)
	end     record.Place // where the next range's records start
	sent    int          // batches matched while the scan went on (heldRanges)
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
// counted from 1), the scan gives up there and scanRange returns nil.
func (pl *pipeline) scanRange(rr *rangeRun, from record.Place, to int64, m *matcher, seq int) *rangeSplit {
	r := &rangeReader{ctx: pl.ctx, r: io.NewSectionReader(rr.f, from.Offset, rr.size-from.Offset), left: to - from.Offset}
	var sc *record.Scanner
	if from.Offset == 0 {
		sc = record.NewScanner(r, pl.maxRecord) // checks the stream's first bytes
	} else {
		sc = record.NewScannerAt(r, pl.maxRecord, from)
	}
	defer sc.Close()
	sp := &rangeSplit{}
	sp.first, _ = sc.Boundary()
	var b *batch
	held := int64(0)
	for {
		at, ok := sc.Boundary()
		if ok && at.Offset >= to {
			sp.end = at
			break
		}
		rec, err := sc.Next()
		if err != nil {
			var pe *record.PosError
			if errors.As(err, &pe) {
				sp.errs = append(sp.errs, pe)
				continue
			}
			if err != io.EOF {
				sp.readErr = err
			}
			sp.end, _ = sc.Boundary()
			if sp.readErr != nil {
				sp.end.Offset = from.Offset + r.n
			}
			break
		}
		if b == nil || len(b.recs) >= batchRecords || len(b.recs) > 0 && len(b.data)+len(rec.Data) > batchBytes {
			b = pl.newBatch(rr.in, len(sp.batches))
			sp.batches = append(sp.batches, b)
		}
		b.add(rec)
		if held += int64(len(rec.Data)); held > heldRanges*rangeChunk {
			if m == nil {
				sp.discard()
				return nil
			}
			pl.flush(rr, sp, m, seq)
			b, held = nil, 0
		}
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
	next := rangeStart{stop: true} // unless told otherwise below
	defer func() { pl.rangeDone(rr, k, next) }()
	from, err := rr.lineStart(k)
	to := rr.size
	if err == nil {
		to, err = rr.lineStart(k + 1)
	}
	var sp *rangeSplit
	if err == nil && pl.ctx.Err() == nil {
		if k == 0 { // the file's start: confirmed
			sp = pl.scanRange(rr, record.Place{Line: 1}, to, m, 0)
		} else if from < to { // else no record starts here
			sp = pl.scanRange(rr, record.Place{Offset: from, Line: 1, Level: rr.level}, to, nil, 0)
		}
	}
	st := rr.wait(k)
	if st.stop || err != nil {
		if sp != nil {
			sp.discard()
		}
		if err != nil && !st.stop {
			pl.inputErr(InputError{File: in.path, Offset: -1, Err: err})
		}
		return
	}
	delta := 0
	if sp != nil && sp.first.Offset == st.at.Offset && sp.first.Level == st.at.Level {
		delta = st.at.Line - sp.first.Line
	} else { // a record spans the boundary, or the scan gave up: split again where the records start
		if sp != nil {
			sp.discard()
		}
		if pl.ctx.Err() != nil {
			return
		}
		sp = pl.scanRange(rr, st.at, to, m, st.seq)
	}
	seq := st.seq + sp.sent
	if sp.readErr == nil || !errors.Is(sp.readErr, pl.ctx.Err()) {
		next = rangeStart{at: sp.end, seq: seq + len(sp.batches), stop: sp.readErr != nil}
		next.at.Line += delta
	}
	read := sp.end.Offset - st.at.Offset
	pl.ranges.Add(1)
	pl.bytes.Add(read)
	pl.prog.BytesOnDisk.Add(read)
	for _, pe := range sp.errs {
		pe.Line += delta
		if pe.RecordLine != 0 {
			pe.RecordLine += delta
		}
		pl.inputErr(posError(in.path, pe))
	}
	if sp.readErr != nil && !errors.Is(sp.readErr, pl.ctx.Err()) {
		pl.inputErr(InputError{File: in.path, Offset: -1, Err: fmt.Errorf("after %d bytes: %w", sp.end.Offset, sp.readErr)})
	}
	for i, b := range sp.batches {
		b.seq = seq + i
		for j := range b.recs {
			b.recs[j].line += delta
		}
	}
	rr.tell(k+1, next) // before matching: the next range waits for it
	for _, b := range sp.batches {
		in.pending.Add(1)
		pl.match(m, b)
	}
}

// rangeDone ends range k of rr, telling the next range where it starts
// (unless it was told already); the last range to end ends the reading.
func (pl *pipeline) rangeDone(rr *rangeRun, k int, next rangeStart) {
	rr.tell(k+1, next)
	if rr.left.Add(-1) == 0 {
		rr.f.Close()
		pl.done(rr.in)
	}
}

// rangeReader reads a range of a file until the hunt ends, counting what it
// read. It reads up to the range's end in reads as large as asked, and
// past it (the rest of a record that spans the end) in reads of at most
// pastEnd bytes: the scanner asks for a buffer's worth, which past the end
// read most of the next range for nothing.
type rangeReader struct {
	ctx  context.Context
	r    io.Reader
	n    int64
	left int64 // bytes before the range's end
}

// pastEnd is the most a rangeReader reads at a time past its range's end.
const pastEnd = 16 << 10

func (r *rangeReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.left > 0 {
		b = b[:min(int64(len(b)), r.left)]
	} else {
		b = b[:min(len(b), pastEnd)]
	}
	n, err := r.r.Read(b)
	r.n += int64(n)
	r.left -= int64(n)
	return n, err
}
