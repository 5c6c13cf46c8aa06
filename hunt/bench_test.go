package hunt

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/synth"
)

const benchLogs, benchRules = "../../shared/corpus/cloudtrail-logs", "../../shared/corpus/elastic-rules"

var (
	benchOnce sync.Map // gzip bool -> dir
)

// benchData generates (once per process) 128 MB of records multiplied from
// the real corpus, plain or gzip.
func benchData(b *testing.B, gz bool) (dir string, size int64) {
	b.Helper()
	if _, err := os.Stat(benchLogs); err != nil {
		b.Skipf("shared corpus not found at %s: %v", benchLogs, err)
	}
	if d, ok := benchOnce.Load(gz); ok {
		dir = d.(string)
	} else {
		dir = filepath.Join(os.TempDir(), "trailhound-bench-plain")
		if gz {
			dir = filepath.Join(os.TempDir(), "trailhound-bench-gz")
		}
		os.RemoveAll(dir)
		recs, err := synth.Load([]string{benchLogs})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := synth.Generate(context.Background(), recs, synth.Options{Size: 128 << 20, OutDir: dir, Gzip: gz, FileSize: 32 << 20}); err != nil {
			b.Fatal(err)
		}
		benchOnce.Store(gz, dir)
	}
	return dir, 128 << 20
}

func corpusEngine(b *testing.B) *engine.Engine {
	rules, errs := elastic.Load([]string{benchRules})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

func benchHunt(b *testing.B, gz bool, workers int) {
	dir, size := benchData(b, gz)
	eng := corpusEngine(b)
	b.SetBytes(size)
	b.ResetTimer()
	var records int64
	for i := 0; i < b.N; i++ {
		res, err := Run(context.Background(), eng, Options{Paths: []string{dir}, Workers: workers})
		sum := res.Summary
		if err != nil || sum.ErrorCount > 0 {
			b.Fatal(err, sum.Errors)
		}
		records = sum.Records
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkHunt runs the 90 query rules of Elastic's corpus over 128 MB of
// records multiplied from the real logs, on one worker (per-core figures).
func BenchmarkHunt(b *testing.B)     { benchHunt(b, false, 1) }
func BenchmarkHuntGzip(b *testing.B) { benchHunt(b, true, 1) }

// BenchmarkSplitGzip decompresses and splits the gzip benchmark data into
// records without evaluating anything: the baseline the gzip hunt is
// compared with.
func BenchmarkSplitGzip(b *testing.B) {
	dir, size := benchData(b, true)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json.gz"))
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 0
		for _, f := range files {
			rc, err := record.Open(f)
			if err != nil {
				b.Fatal(err)
			}
			sc := record.NewScanner(rc, 0)
			for {
				if _, err := sc.Next(); err != nil {
					if err != io.EOF {
						b.Fatal(err)
					}
					break
				}
				n++
			}
			rc.Close()
		}
		if n == 0 {
			b.Fatal("no records")
		}
	}
}
