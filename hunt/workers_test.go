package hunt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/catalog"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/synth"
)

// The alerts of a hunt do not depend on the number of workers, byte for
// byte, and nothing in them aliases a parser buffer that a later record
// overwrote (issue 9, item 22: ES|QL's METADATA _id did, and came out as
// e.g. `2","eventID":"9f2f...`). The inputs: the real corpus logs, and a
// set generated from them (more files, so workers interleave more).
func TestWorkersAgree(t *testing.T) {
	eng, logsDir := elasticSigmaEngine(t)
	synthDir := t.TempDir()
	recs, err := synth.Load([]string{logsDir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.Generate(context.Background(), recs, synth.Options{Size: 24 << 20, OutDir: synthDir, FileSize: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	// the same records in one JSON Lines file, read by ranges of 256 KB
	// with more than one worker
	jsonl := filepath.Join(t.TempDir(), "generated.jsonl")
	writeJSONLines(t, synthDir, jsonl)
	// and gzipped: decompressed ahead with more than one worker
	jsonlGz := jsonl + ".gz"
	writeGzip(t, jsonl, jsonlGz)
	defer func(c int64) { rangeChunk = c }(rangeChunk)
	rangeChunk = 256 << 10
	for _, tc := range []struct {
		name string
		path string
	}{
		{"corpus", logsDir},
		{"generated", synthDir},
		{"generated JSON Lines", jsonl},
		{"generated JSON Lines gzipped", jsonlGz},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// More workers than cores: inputs handed out but not yet
			// opened must hold the watermark back, or records arrive
			// late and the alerts depend on scheduling.
			workers := []int{1, 2, 8}
			out := make([][]byte, len(workers))
			for i, w := range workers {
				res, err := Run(context.Background(), eng, Options{Paths: []string{tc.path}, Workers: w})
				if err != nil {
					t.Fatal(err)
				}
				if res.Summary.Late != 0 {
					t.Errorf("-w %d: %d late matches; reading in time order should leave none", w, res.Summary.Late)
				}
				var b bytes.Buffer
				if err := alert.WriteJSONL(&b, res.Alerts); err != nil {
					t.Fatal(err)
				}
				out[i] = b.Bytes()
				checkMetadataID(t, res.Alerts)
				if tc.path == jsonl && w > 1 && res.ranges == 0 {
					t.Errorf("-w %d: the JSON Lines file was not read by ranges", w)
				}
				if want := w > 1 && tc.path == jsonlGz; (res.aheads > 0) != want {
					t.Errorf("-w %d: %d inputs decompressed ahead, want them %v", w, res.aheads, want)
				}
			}
			if len(out[0]) == 0 {
				t.Fatal("no alerts")
			}
			for k := 1; k < len(out); k++ {
				if bytes.Equal(out[0], out[k]) {
					continue
				}
				l1, l2 := bytes.Split(out[0], []byte("\n")), bytes.Split(out[k], []byte("\n"))
				for i := range min(len(l1), len(l2)) {
					if !bytes.Equal(l1[i], l2[i]) {
						t.Fatalf("-w 1 and -w %d differ at alert %d:\n%.600s\n%.600s", workers[k], i+1, l1[i], l2[i])
					}
				}
				t.Fatalf("-w 1 wrote %d alerts, -w %d %d", len(l1), workers[k], len(l2))
			}
		})
	}
}

// writeJSONLines writes the records of the files in dir, in the order of
// their names, to one JSON Lines file.
func writeJSONLines(t testing.TB, dir, path string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, f := range files {
		rc, err := record.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		err = record.ForEach(rc, 0, func(r record.Record) error {
			out.Write(r.Data)
			return out.WriteByte('\n')
		}, func(pe *record.PosError) { t.Errorf("%s: %v", f, pe) })
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeGzip writes the gzip of the file at from to the file at to.
func writeGzip(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// elasticSigmaEngine compiles the Elastic and Sigma corpus rules and
// returns them with the real logs' folder; it skips the test without the
// corpus.
func elasticSigmaEngine(t testing.TB) (*engine.Engine, string) {
	t.Helper()
	const logsDir = "../../shared/corpus/cloudtrail-logs"
	ruleDirs := []string{"../../shared/corpus/elastic-rules", "../../shared/corpus/sigma-rules"}
	for _, d := range append([]string{logsDir}, ruleDirs...) {
		if _, err := os.Stat(d); err != nil {
			t.Skipf("shared corpus not found at %s: %v", d, err)
		}
	}
	rules, _ := catalog.Load(ruleDirs, catalog.Options{})
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return eng, logsDir
}

// checkMetadataID checks that ES|QL's _id column is the record's event id.
func checkMetadataID(t *testing.T, as []alert.Alert) {
	t.Helper()
	n := 0
	for _, a := range as {
		id, ok := a.Fields["_id"]
		if !ok {
			continue
		}
		n++
		var rec struct {
			EventID string `json:"eventID"`
		}
		if err := json.Unmarshal(a.Record, &rec); err != nil {
			t.Fatalf("alert %s: record: %v", a.ID, err)
		}
		if id != rec.EventID || id != a.Event.ID {
			t.Errorf("alert %s (%s): fields._id = %q, want the eventID %q", a.ID, a.Rule.Name, id, rec.EventID)
		}
	}
	t.Logf("%d alerts, %d with _id", len(as), n)
}
