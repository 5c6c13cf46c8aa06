package synth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
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
