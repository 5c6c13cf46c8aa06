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

// Scanner is one goroutine's way from an input's bytes to rule matches:
// records are split, parsed and matched, and the matches go to its
// collector. hunt reads files with it; serve, the bodies and messages its
// inputs deliver.
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
// time (called at most once, at the first); every, when not nil, is called
// every 16,384 records with the latest event time so far.
func (s *Scanner) Scan(ctx context.Context, r io.Reader, name string, stamp func() Stamp, every func(latest int64)) ScanStats {
	st := ScanStats{Latest: math.MinInt64, Earliest: math.MaxInt64}
	prog := s.Progress
	if prog == nil {
		prog = &Progress{}
	}
	maxRecord := s.MaxRecord
	if maxRecord <= 0 {
		maxRecord = record.DefaultMaxRecord
	}
	cr := &countingReader{r: r}
	n := 0
	var ft Stamp // the input's time, for records without event time
	err := record.ForEach(cr, maxRecord, func(rec record.Record) error {
		if n++; n&1023 == 0 {
			prog.Records.Add(1024)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if n&16383 == 0 && every != nil {
				every(st.Latest)
			}
		}
		ev, err := s.Parser.Parse(rec.Data)
		if err != nil {
			s.Errors(InputError{File: name, Line: rec.Line, Offset: rec.Offset, Err: err})
			return nil
		}
		ev.File, ev.Line, ev.Offset = name, rec.Line, rec.Offset
		switch ev.Kind {
		case event.KindCloudTrail, event.KindECS:
			st.Records++
			if t, err := ev.EventTime(); err == nil {
				st.Latest, st.Earliest = max(st.Latest, t.UnixNano()), min(st.Earliest, t.UnixNano())
			} else {
				if ft.From == "" {
					ft = stamp()
				}
				ev.FileTime, ev.FileTimeFrom = ft.Time, ft.From
				s.Errors(InputError{File: name, Line: rec.Line, Offset: rec.Offset, Err: fmt.Errorf(
					"no event time (%w): rules that need none ran on it with %s, %s; rules that keep state in event time skipped it",
					err, ft.What, ft.Time.Format(time.RFC3339))})
			}
		case event.KindDigest:
			st.Digests++
			return nil
		default:
			st.Other++
			return nil
		}
		s.Engine.Match(ev, s.Scratch, func(r *rule.Rule) {
			prog.Matches.Add(1)
			s.Collector.Add(r, ev)
		})
		return nil
	}, func(pe *record.PosError) {
		s.Errors(InputError{File: name, Line: pe.Line, Offset: pe.Offset, Err: errors.New(pe.Msg), Warning: pe.Warning})
	})
	prog.Records.Add(int64(n & 1023))
	if err != nil && !errors.Is(err, ctx.Err()) {
		s.Errors(InputError{File: name, Offset: -1, Err: fmt.Errorf("after %d bytes: %w", cr.n, err)})
	}
	st.Bytes = cr.n
	return st
}
