package hunt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/record"
)

// Inputs that are no local files (objects in S3) are opened with their Open
// function, decompressed like files, and alert as the same bytes in a file
// do; an Open error is an input error naming the input.
func TestOpenedInputs(t *testing.T) {
	dir := "../testdata/samples"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ins []record.Input
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(e.Name(), ".gz") {
			b = gz(b) // compressed here, as S3 objects usually are
		}
		ins = append(ins, record.Input{Path: "s3://bucket/" + e.Name(), Size: int64(len(b)), Open: func(ctx context.Context) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}})
	}
	ins = append(ins, record.Input{Path: "s3://bucket/gone.json.gz", ModTime: time.Unix(0, 0), Open: func(ctx context.Context) (io.ReadCloser, error) {
		return nil, errors.New("NoSuchKey")
	}})
	files, err := Run(context.Background(), builtinEngine(t), Options{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	opened, err := Run(context.Background(), builtinEngine(t), Options{Inputs: ins})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(r *Result) []string {
		var s []string
		for _, a := range r.Alerts {
			s = append(s, a.ID)
		}
		slices.Sort(s)
		return s
	}
	if got, want := ids(opened), ids(files); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("alert ids of opened inputs\n %v\nwant (the files')\n %v", got, want)
	}
	sum := opened.Summary
	if sum.Files != len(ins) || sum.Records != files.Summary.Records {
		t.Errorf("files %d records %d, want %d and %d", sum.Files, sum.Records, len(ins), files.Summary.Records)
	}
	if sum.ErrorCount != 1 || sum.Errors[0].Error() != "s3://bucket/gone.json.gz: NoSuchKey" {
		t.Errorf("errors %v, want the failed open named", sum.Errors)
	}
}
