// Package synth multiplies real CloudTrail records into as much realistic
// data as a benchmark needs: copy k of every source record has its event time
// shifted by k periods and fresh, deterministic eventID and requestID values,
// so the output is reproducible and contains no duplicate events.
package synth

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record"
)

// Options configure a generation.
type Options struct {
	Sources  []string // files or folders of real CloudTrail logs
	Size     int64    // stop after writing this many (uncompressed) bytes
	OutDir   string
	Gzip     bool
	FileSize int64         // uncompressed bytes per output file (default 64 MiB)
	Period   time.Duration // time shift between copies (default 30 days)
	// Ordered writes a stream in event-time order, as CloudTrail delivers
	// it: the records sorted by time on a compacted timeline (a gap between
	// consecutive records longer than MaxGap shrinks to MaxGap), copy k
	// after copy k-1, in files named like CloudTrail delivery files after
	// the time of their last record. Period is then unused.
	Ordered bool
	MaxGap  time.Duration // ordered: the longest gap kept (default 1 minute)
	// FilePeriod (ordered) is the event time one file spans at most, as a
	// CloudTrail delivery file spans about 5 minutes (default 5 minutes).
	FilePeriod time.Duration
}

// orderedName is the CloudTrail-style name of an ordered output file.
func orderedName(last time.Time, seq int) string {
	return fmt.Sprintf("000000000000_CloudTrail_us-east-1_%s_synthetic%07d.json", last.UTC().Add(time.Minute-1).Truncate(time.Minute).Format("20060102T1504Z"), seq)
}

// recordTime is a record's event time: a CloudTrail record's eventTime, or
// an ECS document's @timestamp (Elasticsearch exports).
func recordTime(v *fastjson.Value) (time.Time, bool) {
	for _, f := range timeFields {
		if s := v.GetStringBytes(f); s != nil {
			t, err := time.Parse(time.RFC3339, string(s))
			return t, err == nil
		}
	}
	return time.Time{}, false
}

// timeFields are where records keep their event time, CloudTrail's first.
var timeFields = []string{"eventTime", "@timestamp"}

// setRecordTime sets the record's event time in the field it keeps it in
// (eventTime when it has none).
func setRecordTime(v *fastjson.Value, arena *fastjson.Arena, t time.Time) {
	if v.Exists("@timestamp") && !v.Exists("eventTime") {
		v.Set("@timestamp", arena.NewString(t.Format("2006-01-02T15:04:05.000Z07:00")))
		return
	}
	v.Set("eventTime", arena.NewString(t.Format(time.RFC3339)))
}

// compactTimes sorts recs by event time and returns each record's time on a
// timeline where no gap exceeds maxGap, starting at the first record's time,
// and the timeline's length. Records without a usable time keep the time
// of the record before them.
func compactTimes(p *fastjson.Parser, recs [][]byte, maxGap time.Duration) ([]time.Time, time.Duration) {
	orig := make([]time.Time, len(recs))
	for i, r := range recs {
		if v, err := p.ParseBytes(r); err == nil {
			orig[i], _ = recordTime(v)
		}
	}
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return orig[idx[a]].Before(orig[idx[b]]) })
	sorted := make([][]byte, len(recs))
	times := make([]time.Time, len(recs))
	var at, prev time.Time // the compacted and the original time of the last timed record
	for n, i := range idx {
		sorted[n] = recs[i]
		t := orig[i]
		switch {
		case t.IsZero(): // no usable time: it keeps its own
			continue
		case prev.IsZero():
			at = t
		default:
			at = at.Add(min(t.Sub(prev), maxGap))
		}
		prev = t
		times[n] = at
	}
	copy(recs, sorted)
	var first time.Time
	for _, t := range times {
		if !t.IsZero() {
			first = t
			break
		}
	}
	return times, at.Sub(first) + maxGap
}

// Result says what was written.
type Result struct {
	Files   []string
	Records int64
	Bytes   int64 // uncompressed
}

// Load reads the CloudTrail records of the sources. Other documents are left
// out; bad records are logged as warnings and left out; a file that cannot be
// read is an error.
func Load(sources []string) ([][]byte, error) {
	walked := record.Walk(sources)
	if err := errors.Join(walked.Errors...); err != nil {
		return nil, err
	}
	var out [][]byte
	var p event.Parser
	for _, in := range walked.Inputs {
		rc, err := record.Open(in.Path)
		if err != nil {
			return nil, err
		}
		var bad []string
		err = record.ForEach(rc, 0, func(rec record.Record) error {
			if ev, err := p.Parse(rec.Data); err == nil && ev.Kind == event.KindCloudTrail {
				out = append(out, append([]byte(nil), rec.Data...))
			}
			return nil
		}, func(pe *record.PosError) { bad = append(bad, pe.Error()) })
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.Path, err)
		}
		for _, b := range bad {
			slog.Warn("problem in a source file (as hunt reports it)", "file", in.Path, "problem", b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CloudTrail records in %v", sources)
	}
	return out, nil
}

// uuidFrom derives a UUID-shaped id from a seed.
func uuidFrom(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	s := hex.EncodeToString(h.Sum(nil))
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// Generate writes delivery files ({"Records":[...]}, one record per line)
// until opts.Size bytes are written.
func Generate(ctx context.Context, recs [][]byte, opts Options) (Result, error) {
	if opts.FileSize <= 0 {
		opts.FileSize = 64 << 20
	}
	if opts.Period <= 0 {
		opts.Period = 30 * 24 * time.Hour
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return Result{}, err
	}
	// Earlier output in the folder goes first, so that it holds exactly what
	// this run writes; other files are left alone.
	old, err := filepath.Glob(filepath.Join(opts.OutDir, "synthetic_*.json*"))
	if err != nil {
		return Result{}, err
	}
	olderOrdered, _ := filepath.Glob(filepath.Join(opts.OutDir, "*_CloudTrail_*_synthetic*.json*"))
	old = append(old, olderOrdered...)
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return Result{}, fmt.Errorf("removing earlier output: %w", err)
		}
	}
	var res Result
	var p fastjson.Parser
	var times []time.Time // ordered: each record's time on the compacted timeline
	var span time.Duration
	if opts.Ordered {
		if opts.MaxGap <= 0 {
			opts.MaxGap = time.Minute
		}
		if opts.FilePeriod <= 0 {
			opts.FilePeriod = 5 * time.Minute
		}
		recs = append([][]byte(nil), recs...)
		times, span = compactTimes(&p, recs, opts.MaxGap)
	}
	var last time.Time // ordered: the time of the last record written
	var arena fastjson.Arena
	var line []byte
	var w *writer
	defer func() {
		if w != nil {
			w.close()
		}
	}()
	for k := 0; res.Bytes < opts.Size; k++ {
		shift := time.Duration(k) * opts.Period
		if opts.Ordered {
			shift = time.Duration(k) * span
		}
		for i, raw := range recs {
			if res.Bytes >= opts.Size {
				break
			}
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			v, err := p.ParseBytes(raw)
			if err != nil {
				return res, fmt.Errorf("source record %d: %w", i, err)
			}
			arena.Reset()
			if opts.Ordered && !times[i].IsZero() {
				last = times[i].Add(shift).UTC()
				setRecordTime(v, &arena, last)
			}
			if k > 0 {
				if t, ok := recordTime(v); ok && !opts.Ordered {
					setRecordTime(v, &arena, t.Add(shift).UTC())
				}
				seed := fmt.Sprint(k, "/", i)
				v.Set("eventID", arena.NewString(uuidFrom("event", seed, string(v.GetStringBytes("eventID")))))
				if v.Exists("requestID") {
					v.Set("requestID", arena.NewString(uuidFrom("request", seed, string(v.GetStringBytes("requestID")))))
				}
			}
			line = event.AppendJSON(line[:0], v)
			if w == nil || w.n >= opts.FileSize || (opts.Ordered && !w.first && last.Sub(w.start) >= opts.FilePeriod) {
				if w != nil {
					if err := w.close(); err != nil {
						return res, err
					}
					if opts.Ordered {
						if err := w.rename(&res, orderedName(w.last, len(res.Files)-1), opts.Gzip); err != nil {
							return res, err
						}
					}
				}
				name := fmt.Sprintf("synthetic_%05d.json", len(res.Files))
				if opts.Gzip {
					name += ".gz"
				}
				path := filepath.Join(opts.OutDir, name)
				if w, err = newWriter(path, opts.Gzip); err != nil {
					return res, err
				}
				res.Files = append(res.Files, path)
			}
			if w.first {
				w.start = last
			}
			w.last = last
			n, err := w.record(line)
			if err != nil {
				return res, err
			}
			res.Bytes += int64(n)
			res.Records++
		}
	}
	if w != nil {
		err := w.close()
		if err == nil && opts.Ordered {
			err = w.rename(&res, orderedName(w.last, len(res.Files)-1), opts.Gzip)
		}
		w = nil
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

type writer struct {
	start time.Time // ordered: the time of the first record written
	last  time.Time // ordered: the time of the last record written
	f     *os.File
	zw    *gzip.Writer
	bw    *bufio.Writer
	n     int64
	first bool
}

func newWriter(path string, gz bool) (*writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &writer{f: f, first: true}
	var dst io.Writer = f
	if gz {
		w.zw = gzip.NewWriter(f)
		dst = w.zw
	}
	w.bw = bufio.NewWriterSize(dst, 1<<20)
	_, err = w.bw.WriteString("{\"Records\":[\n")
	return w, err
}

func (w *writer) record(b []byte) (int, error) {
	if !w.first {
		w.bw.WriteString(",\n")
	}
	w.first = false
	n, err := w.bw.Write(b)
	w.n += int64(n) + 2
	return n + 2, err
}

// rename gives the closed file written last its final name.
func (w *writer) rename(res *Result, name string, gz bool) error {
	if gz {
		name += ".gz"
	}
	i := len(res.Files) - 1
	to := filepath.Join(filepath.Dir(res.Files[i]), name)
	if err := os.Rename(res.Files[i], to); err != nil {
		return err
	}
	res.Files[i] = to
	return nil
}

func (w *writer) close() error {
	w.bw.WriteString("\n]}\n")
	err := w.bw.Flush()
	if w.zw != nil {
		if e := w.zw.Close(); err == nil {
			err = e
		}
	}
	if e := w.f.Close(); err == nil {
		err = e
	}
	return err
}
