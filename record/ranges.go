package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
)

// Ranges is a large regular file of records one per line (JSON Lines, or
// a delivery file or an array laid out so), read in byte ranges by several
// goroutines at once, each splitting, validating and using the records of
// its own ranges.
//
// Range k holds the records that start in [Bounds(k)): from the first line
// start at or after k*chunk to the first at or after (k+1)*chunk. A line
// break is taken for a record boundary, and checked: a range is scanned
// speculatively from its first line, at the level of the file's first
// record (between top-level values, or inside the array of records it
// starts); the scan of the range before it then says where its records
// really start (Tell, Wait): the first place between records at or after
// the boundary, found by Scanner.Boundary, with its line number. When that
// is where the speculative scan started (always, in a file of one record
// per line), the scan stands, its lines shifted by the difference; else (a
// record spanning lines across the boundary) the range is scanned again
// from there. A reader that uses nothing of a range before its start is
// confirmed sees exactly the records, lines, offsets and errors of one
// sequential scan.
type Ranges struct {
	f     *os.File
	size  int64
	chunk int64

	mu     sync.Mutex
	cond   *sync.Cond
	starts []RangeStart // [k]: where range k's records start, told by range k-1
	lines  []int64      // [k]: the first line start at or after k*chunk, -1 until found
	guess  Level        // the level of the latest start told: where the next guesses start
}

// RangeStart is where a range's records start.
type RangeStart struct {
	At   Place
	Seq  int  // the reader's count of what came before (hunt: batches)
	Stop bool // reading stopped before (a read error, the end of the work)
	set  bool
}

// DefaultRangeChunk is the size of the byte ranges readers use.
const DefaultRangeChunk = 1 << 20

// MinRanges is how many ranges a file must hold to be worth splitting.
const MinRanges = 4

// sniffBytes is how much of a file's start OpenRanges reads to see where
// its records are: its first record must end within them.
const sniffBytes = 64 << 10

// OpenRanges opens path for reading by ranges of chunk bytes when it is a
// regular file of at least minRanges ranges that starts with a record
// followed by a line break; else it returns nil, and the file is to be
// read as a stream (whose open reports any error).
func OpenRanges(path string, chunk int64, minRanges int) *Ranges {
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < int64(minRanges)*chunk {
		f.Close()
		return nil
	}
	level, ok := firstLevel(f, st.Size())
	if !ok {
		f.Close()
		return nil
	}
	n := int((st.Size() + chunk - 1) / chunk)
	rr := &Ranges{f: f, size: st.Size(), chunk: chunk, guess: level, starts: make([]RangeStart, n+1), lines: make([]int64, n+1)}
	for k := range rr.lines {
		rr.lines[k] = -1
	}
	rr.lines[0], rr.lines[n] = 0, rr.size
	rr.cond = sync.NewCond(&rr.mu)
	rr.starts[0] = RangeStart{At: Place{Line: 1}, set: true}
	return rr
}

// firstLevel reads the start of f (size bytes) and returns where its first
// record is, when a line break follows it (else false: no records one per
// line, nothing for ranges to split at).
func firstLevel(f *os.File, size int64) (Level, bool) {
	head := make([]byte, min(size, sniffBytes))
	if _, err := f.ReadAt(head, 0); err != nil {
		return 0, false
	}
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b { // gzip
		return 0, false
	}
	sc := NewScanner(bytes.NewReader(head), 0)
	defer sc.Close()
	rec, err := sc.Next()
	if err != nil {
		return 0, false
	}
	at, ok := sc.Boundary()
	end := min(rec.Offset+int64(len(rec.Data)), at.Offset) // Data is re-encoded when it had duplicate keys
	return at.Level, ok && bytes.IndexByte(head[end:at.Offset], '\n') >= 0
}

// Len is the number of ranges.
func (rr *Ranges) Len() int { return len(rr.lines) - 1 }

// Close closes the file.
func (rr *Ranges) Close() error { return rr.f.Close() }

// Bounds returns where range k starts and ends: the first line starts at
// or after k*chunk and (k+1)*chunk (the file's size when none does).
func (rr *Ranges) Bounds(k int) (from, to int64, err error) {
	if from, err = rr.lineStart(k); err == nil {
		to, err = rr.lineStart(k + 1)
	}
	return from, to, err
}

// Guess is where a speculative scan of a range that starts at from (Bounds)
// starts: its lines are counted from 1, and its level is that of the
// latest start told (at first, of the file's first record: a file whose
// records change level, an array of them followed by JSON Lines, is
// guessed wrong once, not at every range).
func (rr *Ranges) Guess(from int64) Place {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return Place{Offset: from, Line: 1, Level: rr.guess}
}

// Known reports whether range k has been told where its records start:
// nothing to guess (with one reader, always).
func (rr *Ranges) Known(k int) bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.starts[k].set
}

// lineStart is the offset of the first line that starts at or after
// k*chunk (the file's size when none does). What a search finds holds for
// every range it passes: a file with few line breaks is read once for
// them, not once per range.
func (rr *Ranges) lineStart(k int) (int64, error) {
	rr.mu.Lock()
	found := rr.lines[k]
	rr.mu.Unlock()
	if found >= 0 {
		return found, nil
	}
	p := int64(k) * rr.chunk
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
	for j := k; j < rr.Len() && int64(j)*rr.chunk <= found; j++ {
		rr.lines[j] = found
	}
	rr.mu.Unlock()
	return found, nil
}

// Wait returns where range k's records start, once range k-1 has said.
func (rr *Ranges) Wait(k int) RangeStart {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for !rr.starts[k].set {
		rr.cond.Wait()
	}
	return rr.starts[k]
}

// Tell says where range k's records start (the first word stands). Every
// range must tell the next, even when it stops: the next waits for it.
func (rr *Ranges) Tell(k int, s RangeStart) {
	s.set = true
	rr.mu.Lock()
	if !rr.starts[k].set {
		rr.starts[k] = s
		if !s.Stop {
			rr.guess = s.At.Level
		}
	}
	rr.mu.Unlock()
	rr.cond.Broadcast()
}

// RangeScan is what one scan of a range found.
type RangeScan struct {
	First   Place // where its first record starts (white space skipped)
	End     Place // where the next range's records start (after a read error: where reading stopped)
	ReadErr error // reading failed (or ctx ended): nothing after End was read
	Read    int64 // bytes read
	Stopped bool  // the record function asked to stop, or a speculative scan gave up
}

// Confirmed reports whether the scan started where the range's records
// really start (at), and so stands, its lines shifted by at.Line -
// First.Line.
func (s RangeScan) Confirmed(at Place) bool {
	return !s.Stopped && s.First.Offset == at.Offset && s.First.Level == at.Level
}

// Scan scans the records that start in [from.Offset, to), calling rec with
// each (its Data valid until rec returns) until rec returns false, and bad
// with each record error. A scan from the file's start checks its first
// bytes as a stream's. It reads up to to in reads as large as the scanner
// asks, and past it (the rest of a record that spans the end) in reads of
// at most pastEnd bytes: a buffer's worth would read most of the next
// range for nothing. A speculative scan (from a guess) gives up (Stopped)
// once it has read a range's size past to: a wrong guess can find no
// boundary for the rest of the file (inside an array of values that are
// no records), and every range reading to the end would make the reading
// quadratic; the scan from the confirmed start reads what it must. It
// gives up too after speculativeErrors errors: a guess at the wrong level
// can see an error on every line where the true scan sees one.
func (rr *Ranges) Scan(ctx context.Context, from Place, to int64, speculative bool, max int, rec func(Record) bool, bad func(*PosError)) (s RangeScan) {
	r := &rangeReader{ctx: ctx, r: io.NewSectionReader(rr.f, from.Offset, rr.size-from.Offset), left: to - from.Offset, stop: math.MaxInt64}
	if speculative {
		r.stop = to - from.Offset + rr.chunk
	}
	var sc *Scanner
	if from.Offset == 0 {
		sc = NewScanner(r, max)
	} else {
		sc = NewScannerAt(r, max, from)
	}
	defer sc.Close()
	defer func() { s.Read = r.n }()
	errs := 0
	s.First, _ = sc.Boundary()
	for {
		at, ok := sc.Boundary()
		if ok && at.Offset >= to {
			s.End = at
			return s
		}
		got, err := sc.Next()
		if err != nil {
			var pe *PosError
			if errors.As(err, &pe) {
				if errs++; speculative && errs > speculativeErrors {
					s.Stopped = true
					return s
				}
				bad(pe)
				continue
			}
			if errors.Is(err, errGaveUp) {
				s.Stopped = true
				return s
			}
			if err != io.EOF {
				s.ReadErr = err
			}
			s.End, _ = sc.Boundary()
			if s.ReadErr != nil {
				s.End.Offset = from.Offset + r.n // where reading stopped
			}
			return s
		}
		if !rec(got) {
			s.Stopped = true
			return s
		}
	}
}

// rangeReader reads a range of a file until ctx ends. It reads up to the
// range's end in reads as large as asked, and past it in reads of at most
// pastEnd bytes.
type rangeReader struct {
	ctx  context.Context
	r    io.Reader
	n    int64 // bytes read
	left int64 // bytes before the range's end
	stop int64 // bytes after which to give up (errGaveUp)
}

// speculativeErrors is how many errors a speculative scan reports before
// it gives up.
const speculativeErrors = 1000

// errGaveUp ends a speculative scan that read too far past its range.
var errGaveUp = errors.New("speculative scan gave up")

// pastEnd is the most a rangeReader reads at a time past its range's end.
const pastEnd = 16 << 10

func (r *rangeReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.n >= r.stop {
		return 0, errGaveUp
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
