package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/record/rangetest"
	"github.com/trailhound/trailhound/synth"
)

// rangedQueries are queries whose output shows any record lost, doubled,
// reordered or misread: rows in input order, and aggregations (a float
// sum's last digits show how the rows were split).
var rangedQueries = []string{
	`FROM x | KEEP event.id, event.action`,
	`FROM x | STATS n = COUNT(*), ids = COUNT_DISTINCT(event.id), first = MIN(event.id), last = MAX(event.id) BY event.provider`,
	`FROM x | EVAL w = 0.1 | STATS s = SUM(w), a = AVG(w), t = MAX(@timestamp) BY event.provider`,
	`event.provider: lambda.amazonaws.com and not event.id: a1*`,
}

// queryRanged runs query q over path with ranges of chunk bytes and
// returns its exit code, output and errors, and the ranges it read.
func queryRanged(t *testing.T, q, path string, chunk int64, workers int, more ...string) (code int, out, errs string, ranges int64) {
	t.Helper()
	defer func(c int64) { queryRangeChunk = c }(queryRangeChunk)
	queryRangeChunk = chunk
	before := rangesRead.Load()
	args := append([]string{"query", "-f", "jsonl", "-c", "event.id,event.action", "-w", fmt.Sprint(workers)}, more...)
	code, out, errs = runCmd(t, append(args, q, path)...)
	return code, out, errs, rangesRead.Load() - before
}

// A file read by ranges gives a query what one sequential scan gives: the
// same rows in the same order, the same aggregates, the same errors and
// warnings at the same lines, wherever the ranges' edges fall.
func TestQueryRangesAgreeWithStream(t *testing.T) {
	rec := func(id string) string {
		return `{"eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","eventID":"` + id +
			`","eventTime":"2026-01-01T00:00:00Z","requestParameters":{"action":"lambda:InvokeFunction","principal":"*"}}`
	}
	for _, tt := range rangetest.Layouts(rec) {
		t.Run(tt.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "big.jsonl")
			if err := os.WriteFile(path, []byte(tt.Data), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, q := range rangedQueries {
				wantCode, wantOut, wantErrs, _ := queryRanged(t, q, path, 1<<20, 1, "--max-record-size", "6000")
				if n := strings.Count(wantErrs, "trailhound: "); n < tt.Errs+tt.Warn {
					t.Fatalf("%s: the stream gives %d errors and warnings, want %d:\n%s", q, n, tt.Errs+tt.Warn, wantErrs)
				}
				if len(wantOut) == 0 {
					t.Fatalf("%s: only %q from the stream", q, wantOut)
				}
				for _, chunk := range rangetest.Chunks {
					for _, workers := range []int{2, 3} {
						code, out, errs, ranges := queryRanged(t, q, path, chunk, workers, "--max-record-size", "6000")
						if ranges == 0 {
							t.Fatalf("range %d, -w %d: the file was not read by ranges", chunk, workers)
						}
						if code != wantCode || out != wantOut || errs != wantErrs {
							t.Errorf("%s: range %d, -w %d (%d ranges) differs from the stream: exit %d\n%s%s\nwant: exit %d\n%s%s",
								q, chunk, workers, ranges, code, out, errs, wantCode, wantOut, wantErrs)
						}
					}
				}
			}
		})
	}
}

// FuzzQueryRangesAgreeWithStream: whatever a file holds, a query over it
// read by ranges (six or seven, on two workers) prints what it prints over
// one sequential scan, errors included. Run it with -fuzzminimizetime 20x:
// each run is a whole query, and minimizing each new input for the
// default minute leaves no time to fuzz.
func FuzzQueryRangesAgreeWithStream(f *testing.F) {
	rec := func(id string) string {
		return `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"` + id + `","eventTime":"2026-01-01T00:00:00Z"}`
	}
	for _, seed := range rangetest.Seeds(rec) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		chunk := int64(len(data) / 6)
		if chunk < 8 || len(data) > 64<<10 {
			return
		}
		path := filepath.Join(t.TempDir(), "in.jsonl")
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, q := range rangedQueries[:3] {
			wantCode, wantOut, wantErrs, _ := queryRanged(t, q, path, 1<<20, 1)
			code, out, errs, ranges := queryRanged(t, q, path, chunk, 2)
			if code != wantCode || out != wantOut || errs != wantErrs {
				t.Fatalf("%s: %d ranges differ from the stream: exit %d\n%s%s\nwant: exit %d\n%s%s", q, ranges, code, out, errs, wantCode, wantOut, wantErrs)
			}
		}
	})
}

// A gzip file decompressed ahead (more than one worker) gives a query
// what one worker reading it gives: the same rows, aggregates and errors,
// whole or truncated, whatever it holds.
func TestQueryGzipAhead(t *testing.T) {
	defer func(n int64) { record.AheadMin = n }(record.AheadMin)
	record.AheadMin = 0
	rec := func(id string) string {
		return `{"eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","eventID":"` + id +
			`","eventTime":"2026-01-01T00:00:00Z","requestParameters":{"action":"lambda:InvokeFunction","principal":"*"}}`
	}
	for _, tt := range rangetest.Layouts(rec) {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write([]byte(tt.Data))
		zw.Close()
		for _, cut := range []int{z.Len(), z.Len() * 3 / 4} {
			path := filepath.Join(t.TempDir(), "in.json.gz")
			if err := os.WriteFile(path, z.Bytes()[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			for _, q := range rangedQueries[:3] {
				wantCode, wantOut, wantErrs, _ := queryRanged(t, q, path, 1<<20, 1, "--max-record-size", "6000")
				before := decompressedAhead.Load()
				code, out, errs, _ := queryRanged(t, q, path, 1<<20, 2, "--max-record-size", "6000")
				if decompressedAhead.Load() == before {
					t.Fatalf("%s: not decompressed ahead", tt.Name)
				}
				if code != wantCode || out != wantOut || errs != wantErrs {
					t.Errorf("%s, %d of %d bytes: %s: -w 2 differs from -w 1: exit %d\n%s%s\nwant: exit %d\n%s%s",
						tt.Name, cut, z.Len(), q, code, out, errs, wantCode, wantOut, wantErrs)
				}
			}
		}
	}
}

// The real logs as one JSON Lines file: queries read by ranges on two
// workers print what one worker prints.
func TestQueryRangesRealLogs(t *testing.T) {
	logs := "../../../shared/corpus/cloudtrail-logs"
	if _, err := os.Stat(logs); err != nil {
		t.Skipf("shared corpus not found at %s: %v", logs, err)
	}
	path := filepath.Join(t.TempDir(), "all.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	n := 0
	for _, in := range record.Walk([]string{logs}).Inputs {
		rc, err := record.OpenContext(context.Background(), in.Path, nil)
		if err != nil {
			continue // what cannot be read is not needed here
		}
		_ = record.ForEach(rc, record.DefaultMaxRecord, func(rec record.Record) error {
			n++
			w.Write(rec.Data)
			return w.WriteByte('\n')
		}, func(*record.PosError) {})
		rc.Close()
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, q := range append(rangedQueries[1:], `FROM x | WHERE event.outcome == "failure" | STATS n = COUNT(*), users = COUNT_DISTINCT(user.name) BY event.provider | SORT n DESC, event.provider`) {
		wantCode, wantOut, wantErrs, _ := queryRanged(t, q, path, 1<<20, 1)
		code, out, errs, ranges := queryRanged(t, q, path, 256<<10, 2)
		if ranges < 20 {
			t.Fatalf("%d records read by %d ranges", n, ranges)
		}
		if code != wantCode || out != wantOut || errs != wantErrs || len(out) == 0 {
			t.Errorf("%s: -w 2 by %d ranges differs from -w 1 (exit %d and %d, %d and %d bytes)\n%s", q, ranges, code, wantCode, len(out), len(wantOut), errs)
		}
	}
}

// A query cancelled while workers read a file by ranges ends (no range
// waits for one never read) without reading the rest.
func TestQueryRangesCancel(t *testing.T) {
	defer func(c int64) { queryRangeChunk = c }(queryRangeChunk)
	queryRangeChunk = 512
	rec := `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"x","eventTime":"2026-01-01T00:00:00Z"}` + "\n"
	path := filepath.Join(t.TempDir(), "big.jsonl")
	if err := os.WriteFile(path, []byte(strings.Repeat(rec, 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen, parts atomic.Int64
	err := eachEvent(ctx, []string{path}, record.DefaultMaxRecord, 2, enrichment{}, io.Discard, func(part int) (func(*event.Event), func()) {
		parts.Store(max(parts.Load(), int64(part)+1))
		return func(*event.Event) {
			if seen.Add(1) == 500 {
				cancel()
			}
		}, func() {}
	})
	if xe := (*exitError)(nil); !errors.As(err, &xe) || xe.code != exitInterrupted {
		t.Fatalf("%v, want an interruption", err)
	}
	if n := seen.Load(); n < 500 || n >= 5000 {
		t.Errorf("%d of 5000 events seen after the cancel", n)
	}
	if parts.Load() < 2 {
		t.Error("the file was not read by ranges")
	}
}

// An interrupted query says so and exits 130 (it exited 0, printing what
// it had read as if it were the whole result).
func TestQueryInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errs bytes.Buffer
	code := run(ctx, []string{"query", "-f", "csv", `FROM x | STATS n = COUNT(*)`, "../../testdata/samples"}, &out, &errs)
	if code != exitInterrupted || !strings.Contains(errs.String(), "interrupted") {
		t.Errorf("exit %d, %q, errors: %s", code, out.String(), errs.String())
	}
}

// A record nested deeper than the event parser reads is an input error
// that says so, and the records beside it are still read.
func TestQueryTooDeep(t *testing.T) {
	rec := `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"x","eventTime":"2026-01-01T00:00:00Z"}` + "\n"
	path := filepath.Join(t.TempDir(), "deep.jsonl")
	deep := strings.Repeat(`{"a":`, 400) + "1" + strings.Repeat("}", 400) + "\n"
	if err := os.WriteFile(path, []byte(rec+deep+rec), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "query", "-f", "csv", `FROM x | STATS n = COUNT(*)`, path)
	if code != exitErrors || out != "n\n2\n" || !strings.Contains(errs, "deep.jsonl:2: malformed JSON: nested 400 levels deep") {
		t.Errorf("exit %d, %q, errors:\n%s", code, out, errs)
	}
}

// benchQueryOneFile runs issue 15's query (failures per service, on the
// ECS view) over 128 MB made from the real logs, in one file: one worker,
// or two reading it by ranges.
func benchQueryOneFile(b *testing.B, workers string) {
	logs := "../../../shared/corpus/cloudtrail-logs"
	if _, err := os.Stat(logs); err != nil {
		b.Skipf("shared corpus not found at %s: %v", logs, err)
	}
	recs, err := synth.Load([]string{logs})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if _, err := synth.Generate(context.Background(), recs, synth.Options{Size: 128 << 20, OutDir: dir, FileSize: 1 << 30}); err != nil {
		b.Fatal(err)
	}
	q := `FROM x | WHERE event.outcome == "failure" | STATS n = COUNT(*) BY event.provider | SORT n DESC, event.provider`
	b.SetBytes(128 << 20)
	before := rangesRead.Load()
	for b.Loop() {
		var out, errs bytes.Buffer
		if code := run(context.Background(), []string{"query", "-f", "csv", "-w", workers, q, dir}, &out, &errs); code != 0 || out.Len() == 0 {
			b.Fatalf("exit %d: %s", code, errs.String())
		}
	}
	if rangesRead.Load() == before {
		b.Fatal("not read by ranges")
	}
}

func BenchmarkQueryOneFile(b *testing.B)           { benchQueryOneFile(b, "1") }
func BenchmarkQueryOneFileTwoWorkers(b *testing.B) { benchQueryOneFile(b, "2") }
