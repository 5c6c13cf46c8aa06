package hunt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record/rangetest"
)

// A file read by ranges gives what one sequential scan gives: the same
// alerts (with their records' lines and offsets), the same errors and
// warnings at the same places, the same counts, wherever the ranges' edges
// fall: inside a record, inside a record spanning lines, at CRLF line ends,
// on blank lines, inside a record larger than several ranges, in a
// truncated last record.
func TestRangesAgreeWithStream(t *testing.T) {
	eng := builtinEngine(t)
	for _, tt := range rangetest.Layouts(goodWithID) {
		t.Run(tt.Name, func(t *testing.T) {
			path := writeTemp(t, tt.Data)
			want, wantOut := huntRanged(t, eng, path, 1<<20, 1)
			if want.Summary.ErrorCount != tt.Errs || want.Summary.WarningCount != tt.Warn {
				t.Fatalf("the stream gives %d errors and %d warnings, want %d and %d:\n%s", want.Summary.ErrorCount, want.Summary.WarningCount, tt.Errs, tt.Warn, wantOut)
			}
			if len(want.Alerts) < 20 {
				t.Fatalf("only %d alerts from the stream", len(want.Alerts))
			}
			for _, chunk := range rangetest.Chunks {
				for _, workers := range []int{2, 3} {
					got, gotOut := huntRanged(t, eng, path, chunk, workers)
					if got.ranges == 0 {
						t.Fatalf("range %d, -w %d: the file was not read by ranges", chunk, workers)
					}
					if gotOut != wantOut {
						t.Errorf("range %d, -w %d (%d ranges) differs from the stream:\n%s\nwant:\n%s", chunk, workers, got.ranges, gotOut, wantOut)
					}
				}
			}
		})
	}
}

// goodWithID is good with its event ID id.
func goodWithID(id string) string { return strings.Replace(good, `"ID"`, `"`+id+`"`, 1) }

// writeTemp writes data to a file of its own and returns its path.
func writeTemp(t testing.TB, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.jsonl")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// huntRanged hunts the file at path with ranges of chunk bytes, and
// returns the result and what it found written out: the alerts (with
// their records' lines and offsets), the errors and warnings, the counts.
func huntRanged(t testing.TB, eng *engine.Engine, path string, chunk int64, workers int) (*Result, string) {
	t.Helper()
	defer func(c int64) { rangeChunk = c }(rangeChunk)
	rangeChunk = chunk
	res, err := Run(context.Background(), eng, Options{Paths: []string{path}, Workers: workers, MaxRecord: 6000})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := alert.WriteJSONL(&b, res.Alerts); err != nil {
		t.Fatal(err)
	}
	for _, es := range [][]InputError{res.Summary.Errors, res.Summary.Warnings} {
		for _, e := range es {
			fmt.Fprintf(&b, "%v warning=%v\n", e, e.Warning)
		}
	}
	s := res.Summary
	fmt.Fprintf(&b, "records %d, other %d, bytes %d, errors %d, warnings %d\n", s.Records, s.NonCloudTrail, s.BytesRead, s.ErrorCount, s.WarningCount)
	return res, b.String()
}

// FuzzRangesAgreeWithStream: whatever a file holds, reading it by ranges
// (six or seven, with two workers) finds what one sequential scan finds:
// the same alerts with the same places, the same errors and warnings at the
// same lines and offsets, the same counts.
func FuzzRangesAgreeWithStream(f *testing.F) {
	for _, seed := range rangetest.Seeds(goodWithID) {
		f.Add(seed)
	}
	eng := builtinEngine(f)
	f.Fuzz(func(t *testing.T, data string) {
		chunk := int64(len(data) / 6) // six ranges or seven
		if chunk < 8 || len(data) > 64<<10 {
			return // too few bytes for ranges; or slow
		}
		path := writeTemp(t, data)
		_, wantOut := huntRanged(t, eng, path, 1<<20, 1)
		got, gotOut := huntRanged(t, eng, path, chunk, 2)
		if gotOut != wantOut {
			t.Fatalf("%d ranges differ from the stream:\n%s\nwant:\n%s", got.ranges, gotOut, wantOut)
		}
	})
}

// Files without records one per line (a delivery file or an array on one
// line, gzip) and small files are read as streams, however many workers
// there are.
func TestRangesOnlyForRecordsOnLines(t *testing.T) {
	defer func(c int64) { rangeChunk = c }(rangeChunk)
	rangeChunk = 64
	recs := strings.Repeat(good+",", 20) + good
	for _, tc := range []struct {
		name   string
		data   []string
		ranged bool
	}{
		{"delivery file on one line", []string{`{"Records":[` + recs + "]}\n"}, false},
		{"array on one line", []string{"[" + recs + "]\n"}, false},
		{"gzip", []string{string(gz([]byte(strings.Repeat(good+"\n", 40))))}, false},
		{"small", []string{good + "\n"}, false},
		{"JSON Lines among other inputs", []string{good + "\n", strings.Repeat(good+"\n", 40), good + "\n"}, true},
		{"a delivery file over lines", []string{"{\"Records\":[\n" + strings.ReplaceAll(recs, ",", ",\n") + "\n]}\n"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, data := range tc.data {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("in%d.json", i)), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res, err := Run(context.Background(), builtinEngine(t), Options{Paths: []string{dir}, Workers: 2})
			if err != nil || res.Summary.ErrorCount > 0 || res.Summary.Records == 0 {
				t.Fatal(err, res.Summary.Errors, res.Summary.Records)
			}
			if (res.ranges != 0) != tc.ranged {
				t.Errorf("read by %d ranges", res.ranges)
			}
		})
	}
}

// A hunt cancelled while workers read a file by ranges ends (no range
// waits for one never read) without reading the rest.
func TestRangesCancel(t *testing.T) {
	defer func(c int64) { rangeChunk = c }(rangeChunk)
	rangeChunk = 512
	path := filepath.Join(t.TempDir(), "big.jsonl")
	if err := os.WriteFile(path, []byte(strings.Repeat(good+"\n", 2000)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Run(ctx, builtinEngine(t), Options{Paths: []string{path}, Workers: 2, Prepare: func(evs []*event.Event) { cancel() }})
	if err == nil {
		t.Fatalf("no error from a cancelled hunt (%d records read)", res.Summary.Records)
	}
	if res != nil && res.Summary.Records >= 2000 {
		t.Errorf("all %d records read after the cancel", res.Summary.Records)
	}
}
