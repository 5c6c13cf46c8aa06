package hunt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/trailhound/trailhound/detect"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/rule"
)

// Scanner is one goroutine's way from a batch of bytes to rule matches:
// records are split, parsed and matched, and the matches go to its
// collector. serve scans the bodies and messages its inputs deliver with
// it; hunt's pipeline shares its per-record step (matchOne).
type Scanner struct {
	Engine    *engine.Engine
	Parser    *event.Parser
	Scratch   *engine.Scratch
	Collector *detect.Collector
	MaxRecord int              // bytes; default record.DefaultMaxRecord
	Errors    func(InputError) // input errors and warnings, with their place
	Progress  *Progress        // when not nil, counts records and matches
}

// ScanStats is what a scan read.
type ScanStats struct {
	Records, Other, Digests, Bytes int64
	// Latest and Earliest are the latest and earliest event times read
	// (Unix ns; math.MinInt64 and math.MaxInt64 when no record had one).
	Latest, Earliest int64
}

// Stamp is the time that stands in for the event time of an input's
// records that have none, and where it comes from (event.Event.FileTimeFrom).
type Stamp struct {
	Time time.Time
	From string // event.Event.FileTimeFrom
	What string // for messages: "the time it was read"
}

// Scan reads the records of r (already decompressed), named name in errors
// and alerts (event.File). stamp gives the time of records without event
// time (called at most once, at the first).
func (s *Scanner) Scan(ctx context.Context, r io.Reader, name string, stamp func() Stamp) ScanStats {
	st := ScanStats{Latest: math.MinInt64, Earliest: math.MaxInt64}
	prog := s.Progress
	if prog == nil {
		prog = &Progress{}
	}
	maxRecord := s.MaxRecord
	if maxRecord <= 0 {
		maxRecord = record.DefaultMaxRecord
	}
	n := 0
	var ft *stampedTime // the input's time, for records without event time
	stampOnce := func() stampedTime {
		if ft == nil {
			x := stamp()
			ft = &stampedTime{x.Time, x.From, x.What}
		}
		return *ft
	}
	var fs fileStats
	st.Bytes = splitRecords(ctx, r, name, maxRecord, s.Errors, func(rec record.Record) error {
		if n++; n&1023 == 0 {
			prog.Records.Add(1024)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		ns, ok := matchOne(s.Engine, s.Parser, s.Scratch, s.Collector, prog, s.Errors, rec, name, stampOnce, &fs)
		if ok {
			st.Latest, st.Earliest = max(st.Latest, ns), min(st.Earliest, ns)
		}
		return nil
	})
	prog.Records.Add(int64(n & 1023))
	st.Records, st.Other, st.Digests = fs.records, fs.other, fs.digests
	return st
}

// splitRecords calls fn with each record of r (record.ForEach), reports
// what the splitter finds wrong, and a read error with how far it got, as
// input errors of name (not the end of ctx: the caller stopped), and
// returns the bytes read: the splitting hunt's pipeline and Scanner share.
func splitRecords(ctx context.Context, r io.Reader, name string, maxRecord int, inputErr func(InputError), fn func(record.Record) error) int64 {
	cr := &countingReader{r: r}
	err := record.ForEach(cr, maxRecord, fn, func(pe *record.PosError) {
		inputErr(posError(name, pe))
	})
	if err != nil && !errors.Is(err, ctx.Err()) {
		inputErr(InputError{File: name, Offset: -1, Err: fmt.Errorf("after %d bytes: %w", cr.n, err)})
	}
	return cr.n
}

// posError is what the splitter found wrong at a place of file, as an
// input error.
func posError(file string, pe *record.PosError) InputError {
	return InputError{File: file, Line: pe.Line, Offset: pe.Offset, Err: errors.New(pe.Message()), Warning: pe.Warning}
}

// matchOne parses one record and runs the rules on it, its matches going to
// col: the step hunt's pipeline and Scanner share. It counts the record in
// st, reports a parse error or a missing event time (the record then runs,
// for the rules that need none, at stamp's time) and returns its event time
// (ok false when it has none or is not an event).
func matchOne(eng *engine.Engine, p *event.Parser, s *engine.Scratch, col *detect.Collector, prog *Progress, inputErr func(InputError),
	rec record.Record, file string, stamp func() stampedTime, st *fileStats) (ns int64, ok bool) {
	ev, ns, ok := parseOne(p, inputErr, rec, file, stamp, st)
	if ev != nil {
		matchEvent(eng, s, col, prog, ev)
	}
	return ns, ok
}

// parseOne is matchOne's first half: it returns the record's event (nil
// when it is not one the rules see: an error, a digest, another kind).
func parseOne(p *event.Parser, inputErr func(InputError), rec record.Record, file string, stamp func() stampedTime, st *fileStats) (ev *event.Event, ns int64, ok bool) {
	line, offset := rec.Line, rec.Offset
	ev, err := p.ParseRecord(rec) // splitRecords validated it
	if err != nil {
		inputErr(InputError{File: file, Line: line, Offset: offset, Err: err})
		return nil, 0, false
	}
	ev.File, ev.Line, ev.Offset = file, line, offset
	switch ev.Kind {
	case event.KindCloudTrail, event.KindECS:
		st.records++
		if t, err := ev.EventTime(); err == nil {
			ns, ok = t.UnixNano(), true
		} else {
			ft := stamp()
			ev.FileTime, ev.FileTimeFrom = ft.t, ft.from
			inputErr(InputError{File: file, Line: line, Offset: offset, Err: fmt.Errorf(
				"no event time (%w): rules that need none ran on it with %s, %s; rules that keep state in event time skipped it",
				err, ft.what, ft.t.Format(time.RFC3339))})
		}
	case event.KindDigest:
		st.digests++
		return nil, 0, false
	default:
		st.other++
		return nil, 0, false
	}
	return ev, ns, ok
}

// matchEvent is matchOne's second half: the rules on an event.
func matchEvent(eng *engine.Engine, s *engine.Scratch, col *detect.Collector, prog *Progress, ev *event.Event) {
	eng.Match(ev, s, func(r *rule.Rule) {
		prog.Matches.Add(1)
		col.Add(r, ev)
	})
}
