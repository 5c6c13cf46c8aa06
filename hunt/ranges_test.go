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
)

// A file read by ranges gives what one sequential scan gives: the same
// alerts (with their records' lines and offsets), the same errors and
// warnings at the same places, the same counts, wherever the ranges' edges
// fall: inside a record, inside a record spanning lines, at CRLF line ends,
// on blank lines, inside a record larger than several ranges, in a
// truncated last record.
func TestRangesAgreeWithStream(t *testing.T) {
	rec := func(id string) string { return strings.Replace(good, `"ID"`, `"`+id+`"`, 1) }
	lines := func(prefix string, n int, sep string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(rec(fmt.Sprintf("%s%d", prefix, i)) + sep)
		}
		return b.String()
	}
	// a record over several lines (pretty-printed), and a record of about
	// ten ranges
	delivery := func(prefix string, n int, sep string) string { // sep: ",\n", or "\n" for missing commas
		return "{\"Records\":[\n" + strings.TrimSuffix(lines(prefix, n, sep), sep) + "\n]}\n"
	}
	spread := strings.NewReplacer(`,"`, ",\n  \"", `{"`, "{\n  \"").Replace(rec("spread"))
	huge := strings.Replace(rec("huge"), `"principal":"*"`, `"principal":"*","pad":"`+strings.Repeat("x", 3000)+`"`, 1)
	tests := []struct {
		name string
		data string
		errs int // input errors expected (the sequential scan must find them too)
		warn int
	}{
		{"one record per line", lines("a", 40, "\n"), 0, 0},
		{"no final line break", strings.TrimSuffix(lines("a", 40, "\n"), "\n"), 0, 0},
		{"CRLF", lines("c", 40, "\r\n"), 0, 0},
		{"blank lines", lines("b", 20, "\n\n  \n\t\n") + lines("d", 20, "\n"), 0, 0},
		{"a record spanning lines", lines("a", 15, "\n") + spread + "\n" + lines("b", 15, "\n"), 0, 0},
		{"records spanning lines, CRLF", lines("a", 10, "\r\n") + strings.ReplaceAll(spread, "\n", "\r\n") + "\r\n" + spread + "\r\n" + lines("b", 10, "\r\n"), 0, 0},
		{"a record over several ranges", lines("a", 10, "\n") + huge + "\n" + lines("b", 10, "\n"), 0, 0},
		{"a record over the size limit", lines("a", 10, "\n") + strings.Replace(huge, "xxx", strings.Repeat("y", 5000), 1) + "\n" + lines("b", 10, "\n"), 1, 0},
		{"truncated last record", lines("a", 30, "\n") + rec("cut")[:120], 1, 0},
		{"invalid records in the middle", lines("a", 12, "\n") + strings.Replace(rec("bad"), `"*"`, `NaN`, 1) + "\n" + lines("b", 12, "\n") +
			`{"eventSource":"lambda.amazonaws.com","eventName":"AddPerm` + "\n" + lines("c", 12, "\n"), 2, 0},
		{"text between records", lines("a", 15, "\n") + "not json at all\n# nor this\n" + lines("b", 15, "\n"), 1, 0},
		{"duplicate keys", lines("a", 15, "\n") + strings.Replace(rec("dup"), `"eventName":`, `"eventName":"x","eventName":`, 1) + "\n" + lines("b", 15, "\n"), 0, 1},
		{"a delivery file on one line", lines("a", 15, "\n") + `{"Records":[` + rec("r1") + "," + rec("r2") + "]}\n" + lines("b", 15, "\n"), 0, 0},
		{"a delivery file over many ranges", lines("a", 15, "\n") + "{\"Records\":[\n" + strings.TrimSuffix(lines("r", 30, ",\n"), ",\n") + "\n]}\n" + lines("b", 15, "\n"), 0, 0},
		{"a delivery file over lines", lines("a", 15, "\n") + "{\"Records\":[\n" + rec("r1") + ",\n" + rec("r2") + "\n]}\n" + lines("b", 15, "\n"), 0, 0},
		// files whose first record is inside an array: ranges split them
		// inside it
		{"a delivery file, a record per line", delivery("r", 40, ",\n"), 0, 0},
		{"a delivery file, CRLF", strings.ReplaceAll(delivery("r", 40, ",\n"), "\n", "\r\n"), 0, 0},
		{"delivery files one after another", delivery("r", 20, ",\n") + delivery("s", 20, ",\n") + lines("t", 10, "\n"), 0, 0},
		{"a delivery file, commas first", "{\"Records\":[\n" + rec("r0") + "\n," + strings.TrimSuffix(lines("r", 30, "\n,"), "\n,") + "\n]}\n", 0, 0},
		{"a delivery file, commas missing", "{\"Records\":[\n" + rec("r0") + ",\n" + strings.TrimSuffix(lines("r", 30, "\n"), "\n") + "\n]}\n", 0, 29},
		{"a delivery file, keys after Records", strings.TrimSuffix(delivery("r", 30, ",\n"), "}\n") + ",\"x\":[1,\n2]}\n" + lines("t", 10, "\n"), 0, 0},
		{"a delivery file, elements not records", "{\"Records\":[\n" + rec("r0") + ",\n" + strings.Repeat("7,\n\"x\",\n[1,2],\n", 3) + strings.TrimSuffix(lines("r", 30, ",\n"), ",\n") + "\n]}\n", 9, 0},
		{"a delivery file, truncated", delivery("r", 30, ",\n")[:len(delivery("r", 30, ",\n"))-3], 1, 0},
		{"an array, a record per line", "[\n" + strings.TrimSuffix(lines("r", 40, ",\n"), ",\n") + "\n]\n" + lines("t", 10, "\n"), 0, 0},
		{"an array with a pretty-printed record", "[\n" + lines("r", 20, ",\n") + spread + ",\n" + strings.TrimSuffix(lines("s", 20, ",\n"), ",\n") + "\n]\n", 0, 0},
	}
	eng := builtinEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.data)
			want, wantOut := huntRanged(t, eng, path, 1<<20, 1)
			if want.Summary.ErrorCount != tt.errs || want.Summary.WarningCount != tt.warn {
				t.Fatalf("the stream gives %d errors and %d warnings, want %d and %d:\n%s", want.Summary.ErrorCount, want.Summary.WarningCount, tt.errs, tt.warn, wantOut)
			}
			if len(want.Alerts) < 20 {
				t.Fatalf("only %d alerts from the stream", len(want.Alerts))
			}
			for _, chunk := range []int64{64, 100, 257, 1000} {
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
	rec := func(id string) string { return strings.Replace(good, `"ID"`, `"`+id+`"`, 1) }
	for _, seed := range []string{
		rec("a") + "\n" + rec("b") + "\n" + rec("c") + "\n",
		rec("a") + "\r\n\n" + strings.ReplaceAll(rec("b"), `,"`, ",\n\"") + "\n" + rec("c"),
		rec("a") + "\n{\"Records\":[\n" + rec("b") + ",\n" + rec("c") + "\n]}\n" + rec("d") + "\n",
		rec("a") + "\nnot json\n" + rec("b")[:90] + "\n" + rec("c") + "\n",
		rec("a") + "\n[" + rec("b") + "\n" + rec("c") + "]\n" + rec("d") + "\n",
		rec("a") + "\n" + `{"x":"` + strings.Repeat("\\\"{", 40) + `"}` + "\n" + rec("b") + "\n",
	} {
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
