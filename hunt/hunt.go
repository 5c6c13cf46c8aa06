// Package hunt runs compiled rules over files, folders, gzip archives and
// standard input, in parallel, and collects alerts and a summary.
package hunt

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/detect"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/state"
)

// Options configure a hunt.
type Options struct {
	Paths []string
	// Inputs are read besides the Paths: inputs that are no local files
	// (objects in S3), each with its Open function.
	Inputs    []record.Input
	Workers   int         // default GOMAXPROCS
	MaxRecord int         // bytes; default record.DefaultMaxRecord
	Store     state.Store // rule state; default: in memory, forgotten after the hunt
	From, To  time.Time   // only events in [From, To) (zero: unbounded)
	Progress  *Progress   // when not nil, updated as the hunt reads
	GeoIP     *geoip.DB   // when not nil, fills source.geo and source.as
	// NoEntityMapping turns off the actor/target entity fields.
	NoEntityMapping bool
	// Lateness is how much older than the watermark a record may be and
	// still be on time (default DefaultLateness).
	Lateness time.Duration
	// Emit, when set, receives the alerts while the hunt reads, a batch at
	// a time in event-time order, as the watermark decides them; an error
	// stops the hunt. Without it the alerts are in Result.Alerts.
	Emit func([]alert.Alert) error
	// ProfileRules times every rule's evaluation (Summary.Profile).
	ProfileRules bool
	// Checkpoint, when positive and Store is set, commits the state while
	// the hunt runs, at most this often, right after a batch of alerts was
	// emitted and Flush returned: a hunt killed at any point and run again
	// over the same input loses and doubles no alert, and the rerun finds
	// the alerts already delivered known. Zero commits only through
	// Result.Commit.
	Checkpoint time.Duration
	// Flush, when set, is called before each checkpoint and returns once
	// every alert passed to Emit so far is delivered (the acknowledgement
	// the checkpoint waits for).
	Flush func() error
	// Commit, when set, is called each time the rules' state is committed
	// (each checkpoint, after Flush, and Result.Commit) to save, in the
	// same store, state kept outside the rules (pyrule's Panther KV cache).
	Commit func() error
	// Prepare, when set, is given each batch's records parsed, the events
	// (CloudTrail or ECS; with their place and, when they have none, their
	// file's time) before the rules see them, so that a rule runtime
	// evaluates a batch in one go and attaches its results to the events
	// (pyrule sends its Python rules' events to a worker in one call).
	// The events are valid until Prepare's batch is matched.
	Prepare func(evs []*event.Event)
}

// Progress is what a running hunt has done so far, for a progress display.
// Run sets the totals before it reads; the counters grow as it reads.
type Progress struct {
	FilesTotal  int
	BytesTotal  int64        // on disk; 0 when unknown (stdin, FIFOs)
	FilesDone   atomic.Int64 // files finished
	BytesOnDisk atomic.Int64 // bytes read from the files (compressed, for .gz)
	Records     atomic.Int64 // records read
	Matches     atomic.Int64 // rule matches so far
	Alerts      atomic.Int64 // alerts decided so far
}

// InputError is a problem with the input, with its place. An error means
// input was lost (a record or region not evaluated); a warning (Warning set)
// means the record was still read and evaluated (a missing ',' between
// array elements, duplicate keys).
type InputError struct {
	File    string
	Line    int   // 0 when unknown
	Offset  int64 // -1 when unknown
	Err     error
	Warning bool
}

func (e InputError) Error() string {
	if e.File == "" {
		return e.Err.Error()
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d (byte %d): %v", e.File, e.Line, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

// Summary describes a finished hunt.
type Summary struct {
	Files         int
	Digests       int            // digest files recognised and skipped
	Skipped       []record.Skip  // files and folders inside walked folders not read, and why
	Records       int64          // CloudTrail / ECS events evaluated
	NonCloudTrail int64          // JSON documents that are not CloudTrail events (skipped, counted)
	DigestRecords int64          // digest documents found inside files
	BytesRead     int64          // decompressed bytes scanned
	BytesOnDisk   int64          // input size on disk
	Errors        []InputError   // input errors: input not evaluated (the rest of the input was still read)
	ErrorCount    int            // all input errors (Errors keeps the first 1000)
	Warnings      []InputError   // input warnings: records still read and evaluated
	WarningCount  int            // all input warnings (Warnings keeps the first 1000)
	Alerts        map[string]int // rule.Rule.Key -> alerts (Rules is keyed so too)
	Rules         map[string]detect.RuleStats
	Duplicates    int                  // matches of a record already seen (the same event delivered twice)
	Withheld      int                  // alerts over max_signals in every run that could have raised them
	Suppressed    int                  // alerts folded into an earlier one by alert_suppression
	Known         int                  // alerts an earlier hunt raised already (state)
	Signals       int                  // Panther signal rules' matches (CreateAlert: false)
	NoTime        int                  // matches of records without event time that rules needing it skipped
	Profile       []engine.RuleProfile // with ProfileRules: per rule, most costly first
	Late          int                  // matches older than the watermark by more than the lateness (still used where their window survives)
	Unordered     int                  // inputs without a time in their name whose records were out of time order by more than the lateness: decided when they ended
	Elapsed       time.Duration
}

// Result is a finished hunt: its alerts and summary. Commit saves the rule
// state; call it once the alerts are delivered.
type Result struct {
	Alerts  []alert.Alert
	Summary Summary
	proc    *detect.Processor
	commit  func() error // Options.Commit
	ranges  int64        // byte ranges of files read by ranges (ranges.go)
	aheads  int64        // gzip inputs decompressed ahead (record.DecompressAhead)
}

// Commit saves the state the hunt changed, and calls Options.Commit.
func (r *Result) Commit() error {
	if err := r.proc.Commit(); err != nil {
		return err
	}
	if r.commit != nil {
		return r.commit()
	}
	return nil
}

const maxKeptErrors = 1000

// advanceEvery is how many records an input's end waits for since the last
// advance before it advances the processor, unless a checkpoint is due (an
// input's own progress advances every progressEvery of its records).
// Advancing at every input's end went through every rule each time: over
// the corpus's real logs (5,372 files, 41,000 records) 1,887 advances took
// 180 ms of a 0.65 s hunt. Alerts wait for at most that many more records;
// the end is Finish's.
const advanceEvery = 1024

// queuedPerWorker is how many chunks the queue to the workers done reading
// holds per worker: enough to keep them busy while the worker reading
// advances the processor and writes the alerts it returns, which it does
// every progressEvery records and which took 3-28 ms on 1 GB of records in
// one file (a chunk is matched in about half a millisecond). With 2 per
// worker that file took 1.40 s on two workers, with 8 1.30, with 16 1.25
// (32: the same), for 33 MB more peak RSS (a chunk is its records, up to
// batchBytes, and their keys). Such a plain file is now read by ranges
// (ranges.go); a large gzip file or standard input still goes this way.
const queuedPerWorker = 16

// Run hunts over the inputs with the engine's rules and returns the alerts,
// sorted by time.
func Run(ctx context.Context, eng *engine.Engine, opts Options) (*Result, error) {
	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	walked := record.Walk(opts.Paths)
	walked.Inputs = append(walked.Inputs, opts.Inputs...)
	lateness := opts.Lateness
	if lateness <= 0 {
		lateness = DefaultLateness
	}
	wm := newWatermark(orderInputs(walked.Inputs), lateness)
	store := opts.Store
	if store == nil {
		store = state.NewMemory()
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	proc, err := detect.New(eng.Rules(), store, detect.Options{From: opts.From, To: opts.To, Parallel: workers})
	if err != nil {
		return nil, err
	}
	sum := Summary{Files: len(walked.Inputs), Digests: len(walked.Digests), Skipped: walked.Skipped, Alerts: map[string]int{}}
	for _, in := range walked.Inputs {
		sum.BytesOnDisk += in.Size
	}
	prog := opts.Progress
	if prog == nil {
		prog = &Progress{}
	}
	prog.FilesTotal, prog.BytesTotal = len(walked.Inputs), sum.BytesOnDisk

	var (
		mu       sync.Mutex
		inputErr = func(e InputError) {
			mu.Lock()
			if e.Warning {
				sum.WarningCount++
				if len(sum.Warnings) < maxKeptErrors {
					sum.Warnings = append(sum.Warnings, e)
				}
			} else {
				sum.ErrorCount++
				if len(sum.Errors) < maxKeptErrors {
					sum.Errors = append(sum.Errors, e)
				}
			}
			mu.Unlock()
		}
	)
	for _, err := range walked.Errors {
		inputErr(InputError{Offset: -1, Err: err})
	}
	// Alerts go out as the watermark passes them: whichever worker finds
	// it moved advances the processor (one at a time) and emits.
	var (
		advMu      sync.Mutex
		lastW      = int64(math.MinInt64)
		advancedAt int64 // prog.Records at the last advance
		lastCkpt   = time.Now()
		collected  []alert.Alert
		failed     error             // writing alerts or advancing failed: the hunt stops
		scratches  []*engine.Scratch // profiling ones
	)
	emit := func(as []alert.Alert) {
		prog.Alerts.Add(int64(len(as)))
		if opts.Emit == nil {
			if collected == nil { // the processor's array: no copy of the first
				collected = as
			} else {
				collected = append(collected, as...)
			}
			return
		}
		if len(as) > 0 && failed == nil { // interrupted: what was found is still written
			if err := opts.Emit(as); err != nil {
				failed = fmt.Errorf("writing alerts: %w", err)
				cancel(failed)
			}
		}
	}
	// ended: called at an input's end, which waits for advanceEvery records.
	advance := func(wait, ended bool) {
		if wait {
			advMu.Lock()
		} else if !advMu.TryLock() {
			return
		}
		defer advMu.Unlock()
		checkpointDue := opts.Checkpoint > 0 && opts.Store != nil && time.Since(lastCkpt) >= opts.Checkpoint
		if ended && prog.Records.Load()-advancedAt < advanceEvery && !checkpointDue {
			return
		}
		w := wm.current()
		if w <= lastW || w == math.MaxInt64 { // the end is Finish's
			return
		}
		lastW = w
		advancedAt = prog.Records.Load()
		as, err := proc.Advance(time.Unix(0, w))
		if err != nil {
			failed = err
			cancel(err)
			return
		}
		emit(as)
		if checkpointDue && failed == nil {
			if err := checkpoint(opts.Flush, proc, opts.Commit); err != nil {
				failed = err
				cancel(err)
			}
			lastCkpt = time.Now()
		}
	}
	var unordered atomic.Int64 // inputs without a time in their name, found out of order
	pl := &pipeline{ctx: ctx, eng: eng, maxRecord: opts.MaxRecord, lateness: int64(lateness), prog: prog, inputErr: inputErr, prepare: opts.Prepare, ahead: workers > 1,
		progress: func(in *inputRun, latest int64) {
			wm.seen(in.i, in.bound, latest)
			advance(false, false)
		},
		finished: func(in *inputRun) {
			if in.unordered && wm.times[in.i] == unnamed {
				unordered.Add(1)
			}
			wm.finish(in.i)
			advance(true, true)
			prog.FilesDone.Add(1)
		},
	}
	newMatcher := func() *matcher {
		m := &matcher{p: event.Parser{GeoIP: opts.GeoIP, NoEntityMapping: opts.NoEntityMapping}, s: engine.NewScratch(), col: proc.NewCollector()}
		if opts.ProfileRules {
			m.s.Profile(eng)
			mu.Lock()
			scratches = append(scratches, m.s)
			mu.Unlock()
		}
		return m
	}
	// Readers take the next input themselves: handing each over from a
	// feeding goroutine woke a thread per file, a tenth of the time of a
	// hunt over small files. An input is started (in order) when taken:
	// one not yet opened still holds the watermark back (else another
	// worker could advance past all its records).
	// With more than one worker, a large plain file of records one per line
	// is read by ranges (ranges.go): workers take its ranges before the
	// next input.
	var (
		nextMu sync.Mutex
		nextIn int
		ranged *rangeRun // the file whose ranges are being taken
	)
	next := func() (t task) {
		nextMu.Lock()
		defer nextMu.Unlock()
		if ranged != nil && ctx.Err() != nil { // the ranges not taken are not read
			for ; ranged.next < ranged.n; ranged.next++ {
				pl.rangeDone(ranged, ranged.next, record.RangeStart{Stop: true})
			}
		}
		if ranged != nil && ranged.next < ranged.n {
			t = task{rr: ranged, k: ranged.next}
			ranged.next++
			return t
		}
		ranged = nil
		if nextIn == len(walked.Inputs) || ctx.Err() != nil {
			return t
		}
		i := nextIn
		nextIn++
		in := &inputRun{i: i, path: walked.Inputs[i].Path, src: walked.Inputs[i], bound: wm.start(i)}
		walked.Inputs[i] = record.Input{} // the run holds it now: a hunt over a million files lets their names go as it reads them
		if workers > 1 {
			if ranged = pl.openRanges(in); ranged != nil {
				ranged.next = 1
				return task{rr: ranged}
			}
		}
		return task{in: in}
	}
	// Workers read inputs until none is left, then match the chunks that
	// the workers still reading give them; the last to finish reading
	// closes the queue.
	var (
		wg      sync.WaitGroup
		queue   = make(chan *batch, queuedPerWorker*workers)
		helping atomic.Int32 // workers done reading
		handOff func() bool  // nil with one worker: nobody to give a chunk to
	)
	if workers > 1 {
		handOff = func() bool { return helping.Load() > 0 && len(queue) < cap(queue) }
	}
	give := func(b *batch) { queue <- b }
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := newMatcher()
			for t := next(); t.in != nil || t.rr != nil; t = next() {
				if t.rr != nil {
					pl.readRange(t.rr, t.k, m)
				} else {
					pl.read(t.in, m, handOff, give)
				}
			}
			if int(helping.Add(1)) == workers {
				close(queue)
			}
			for b := range queue {
				pl.match(m, b)
			}
		}()
	}
	wg.Wait()
	records, other, digests, bytes := &pl.records, &pl.other, &pl.digests, &pl.bytes
	sum.Unordered = int(unordered.Load())
	sum.Records, sum.NonCloudTrail, sum.DigestRecords, sum.BytesRead = records.Load(), other.Load(), digests.Load(), bytes.Load()
	for _, es := range [][]InputError{sum.Errors, sum.Warnings} {
		sort.SliceStable(es, func(i, j int) bool {
			if es[i].File != es[j].File {
				return es[i].File < es[j].File
			}
			return es[i].Offset < es[j].Offset
		})
	}
	if failed != nil {
		return nil, failed
	}
	final, stats, err := proc.Finish()
	if err != nil {
		return nil, err
	}
	emit(final)
	if failed != nil {
		return nil, failed
	}
	alert.Sort(collected)
	sum.Rules = stats
	if opts.ProfileRules {
		sum.Profile = eng.Profiles(scratches...)
	}
	for id, rs := range stats {
		sum.Alerts[id] = rs.Alerts
		sum.Duplicates += rs.Duplicates
		sum.Withheld += rs.Withheld
		sum.Suppressed += rs.Suppressed
		sum.Known += rs.Known
		sum.Signals += rs.Signals
		sum.NoTime += rs.NoTime
		sum.Late += rs.Late
	}
	sum.Elapsed = time.Since(start)
	return &Result{Alerts: collected, Summary: sum, proc: proc, commit: opts.Commit, ranges: pl.ranges.Load(), aheads: pl.aheads.Load()}, ctx.Err()
}

type fileStats struct {
	records, other, digests int64
}

// countingReader counts bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// checkpoint commits the state once the alerts emitted so far are
// delivered, then calls commit (Options.Commit).
func checkpoint(flush func() error, proc *detect.Processor, commit func() error) error {
	if flush != nil {
		if err := flush(); err != nil {
			return fmt.Errorf("checkpoint: delivering alerts: %w", err)
		}
	}
	if err := proc.Commit(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if commit != nil {
		if err := commit(); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

// stampedTime is the time that stands in for the event time of a file's
// records that have none, and where it comes from.
type stampedTime struct {
	t    time.Time
	from string // event.Event.FileTimeFrom
	what string // for messages
}

// cloudTrailName matches the time in a CloudTrail delivery file's name:
// <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<random>.json.gz.
var cloudTrailName = regexp.MustCompile(`_CloudTrail(?:-Insight)?_[a-z0-9-]+_(\d{8}T\d{4}Z)_`)

// nameTime is the time in a CloudTrail delivery file's name.
func nameTime(path string) (time.Time, bool) {
	if m := cloudTrailName.FindStringSubmatch(filepath.Base(path)); m != nil {
		if t, err := time.Parse("20060102T1504Z", m[1]); err == nil && event.TimeInRange(t) {
			return t, true
		}
	}
	return time.Time{}, false
}

// fileTime is the time of a file: the time in its name when it is a
// CloudTrail delivery file, else its modification time, else (standard
// input, or a time out of event.TimeInRange) now, when it is read.
func fileTime(in record.Input) stampedTime {
	path := in.Path
	if t, ok := nameTime(path); ok {
		return stampedTime{t, "file_name", "the time in the file name"}
	}
	if event.TimeInRange(in.ModTime) { // not zero (none) either
		return stampedTime{in.ModTime.UTC().Truncate(time.Second), "file_modified", "the file's modification time"}
	}
	if path != record.Stdin && in.Open == nil {
		if fi, err := os.Stat(path); err == nil && event.TimeInRange(fi.ModTime()) {
			return stampedTime{fi.ModTime().UTC().Truncate(time.Second), "file_modified", "the file's modification time"}
		}
	}
	return stampedTime{time.Now().UTC().Truncate(time.Second), "read", "the time it was read"}
}
