package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

// Generation is deterministic and shifts times and ids per copy.
func TestGenerateDeterministic(t *testing.T) {
	recs, err := Load([]string{"../testdata/samples"})
	if err != nil {
		t.Fatal(err)
	}
	gen := func() ([]byte, Result) {
		dir := t.TempDir()
		res, err := Generate(context.Background(), recs, Options{Size: 60000, OutDir: dir, FileSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "synthetic_00000.json"))
		if err != nil {
			t.Fatal(err)
		}
		return b, res
	}
	a, res := gen()
	b, _ := gen()
	if !bytes.Equal(a, b) {
		t.Fatal("two generations differ")
	}
	if res.Records <= int64(len(recs)) || res.Bytes < 60000 {
		t.Fatalf("result = %+v", res)
	}
	// copy 1 of the first record: 30 days later, new id
	if !bytes.Contains(a, []byte(`"eventTime":"2026-12-03T10:02:11Z"`)) {
		t.Error("shifted time missing")
	}
	if bytes.Count(a, []byte(`"eventID":"`)) != int(res.Records) {
		t.Error("eventID count")
	}
}

// Ordered output is one stream in event time: every record's time is at or
// after the one before it, across files in name order; no gap exceeds
// MaxGap; files are named like CloudTrail delivery files after their last
// record's time (rounded up to the minute); event ids are distinct.
func TestGenerateOrdered(t *testing.T) {
	recs, err := Load([]string{"../testdata/samples"})
	if err != nil {
		t.Fatal(err)
	}
	// an Elasticsearch export's document keeps its time in @timestamp: years
	// after the samples, it must still land on the timeline
	recs = append(recs, []byte(`{"@timestamp":"2031-02-03T04:05:06.000Z","event":{"provider":"s3.amazonaws.com","action":"ListBuckets"},"data_stream":{"dataset":"aws.cloudtrail"}}`))
	dir := t.TempDir()
	res, err := Generate(context.Background(), recs, Options{Size: 200000, OutDir: dir, FileSize: 20000, Ordered: true, MaxGap: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 5 {
		t.Fatalf("%d files", len(res.Files))
	}
	names := slices.Clone(res.Files)
	slices.Sort(names)
	if !slices.Equal(names, res.Files) {
		t.Errorf("file names do not sort in writing order: %v", res.Files)
	}
	nameTime := regexp.MustCompile(`^000000000000_CloudTrail_us-east-1_(\d{8}T\d{4}Z)_synthetic\d{7}\.json$`)
	var prev time.Time
	ids := map[string]bool{}
	for _, f := range res.Files {
		m := nameTime.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			t.Fatalf("name %s", filepath.Base(f))
		}
		named, _ := time.Parse("20060102T1504Z", m[1])
		var doc struct {
			Records []struct {
				EventTime time.Time `json:"eventTime"`
				Timestamp time.Time `json:"@timestamp"`
				EventID   string    `json:"eventID"`
			}
		}
		b, _ := os.ReadFile(f)
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for i, r := range doc.Records {
			if r.EventTime.IsZero() {
				r.EventTime = r.Timestamp
				doc.Records[i].EventTime = r.Timestamp
			}
			if r.EventTime.Before(prev) || (!prev.IsZero() && r.EventTime.Sub(prev) > time.Minute) {
				t.Fatalf("%s: time %s after %s", f, r.EventTime, prev)
			}
			if r.EventID != "" && ids[r.EventID] {
				t.Fatalf("duplicate event id %s", r.EventID)
			}
			ids[r.EventID] = true
			prev = r.EventTime
		}
		if span := doc.Records[len(doc.Records)-1].EventTime.Sub(doc.Records[0].EventTime); span >= 5*time.Minute {
			t.Errorf("%s spans %s of event time, more than a delivery file's 5 minutes", filepath.Base(f), span)
		}
		if last := doc.Records[len(doc.Records)-1].EventTime; named.Before(last) || named.Sub(last) >= time.Minute {
			t.Errorf("%s is named %s for a last record at %s", filepath.Base(f), named, last)
		}
	}
}
