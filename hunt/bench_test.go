package hunt

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/memtune"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
	"github.com/trailhound/trailhound/synth"
)

const (
	benchLogs       = "../../shared/corpus/cloudtrail-logs"
	benchRules      = "../../shared/corpus/elastic-rules"
	benchSigmaRules = "../../shared/corpus/sigma-rules"
)

var (
	benchOnce sync.Map // gzip bool -> dir
	benchTemp string   // the folder benchData generates into (TestMain)
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
		// a folder of this process's own, removed when it ends: two
		// benchmark runs at once must not generate into each other's
		dir = filepath.Join(benchTemp, "plain")
		if gz {
			dir = filepath.Join(benchTemp, "gz")
		}
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

func corpusEngine(b *testing.B, types ...string) *engine.Engine {
	rules, errs := elastic.Load([]string{benchRules})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	return compileKind(b, rules, types...)
}

// compileKind compiles the rules of the given types (all when none).
func compileKind(b *testing.B, rules []*rule.Rule, types ...string) *engine.Engine {
	if len(types) > 0 {
		var keep []*rule.Rule
		for _, r := range rules {
			if slices.Contains(types, r.Type) {
				keep = append(keep, r)
			}
		}
		rules = keep
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

func benchHunt(b *testing.B, gz bool, workers int, bolt bool, types ...string) {
	benchHuntGeo(b, gz, workers, bolt, nil, types...)
}

func benchHuntGeo(b *testing.B, gz bool, workers int, bolt bool, geo *geoip.DB, types ...string) {
	benchHuntEngine(b, corpusEngine(b, types...), gz, workers, bolt, geo)
}

func benchHuntEngine(b *testing.B, eng *engine.Engine, gz bool, workers int, bolt bool, geo *geoip.DB) {
	dir, size := benchData(b, gz)
	b.SetBytes(size)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	var records int64
	for i := 0; i < b.N; i++ {
		opts := Options{Paths: []string{dir}, Workers: workers, GeoIP: geo}
		if bolt {
			st, err := state.OpenBolt(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			opts.Store = st
			defer st.Close()
		}
		res, err := Run(context.Background(), eng, opts)
		if err == nil && bolt {
			err = res.Commit()
		}
		sum := res.Summary
		if err != nil || sum.ErrorCount > 0 {
			b.Fatal(err, sum.Errors)
		}
		records = sum.Records
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkHunt runs all 197 runnable rules of Elastic's corpus (query,
// new_terms, threshold, EQL, ES|QL) over 128 MB of records multiplied from the real logs, on
// one worker (per-core figures), with state in memory.
func BenchmarkHunt(b *testing.B) { benchHunt(b, false, 1, false) }

// BenchmarkHuntElasticSigma runs every runnable Elastic and Sigma corpus
// rule (the set issue 15's 300 MB per CPU-second target is about) over the
// same 128 MB on one worker.
func BenchmarkHuntElasticSigma(b *testing.B) {
	eng, _ := elasticSigmaEngine(b)
	benchHuntEngine(b, eng, false, 1, false, nil)
}

func BenchmarkHuntGzip(b *testing.B) { benchHunt(b, true, 1, false) }

// BenchmarkHuntGzipElasticSigma and its two-worker twin are
// BenchmarkHuntElasticSigma on the gzip data: set against
// BenchmarkSplitGzip, what every rule adds to decompressing and splitting,
// per core and with decompression beside the matching.
func BenchmarkHuntGzipElasticSigma(b *testing.B)           { benchGzipElasticSigma(b, 1) }
func BenchmarkHuntGzipElasticSigmaTwoWorkers(b *testing.B) { benchGzipElasticSigma(b, 2) }

func benchGzipElasticSigma(b *testing.B, workers int) {
	eng, _ := elasticSigmaEngine(b)
	benchHuntEngine(b, eng, true, workers, false, nil)
}

// BenchmarkHuntGeoIP is BenchmarkHunt with MaxMind's test databases
// loaded: GeoIP/ASN lookups (cached per address) for the rules that read
// source.geo/source.as, besides the user-agent parsing and entity mapping
// every hunt does for the rules that read those fields.
func BenchmarkHuntGeoIP(b *testing.B) {
	if _, err := os.Stat(corpusGeoIP); err != nil {
		b.Skipf("MaxMind test databases not found at %s: %v", corpusGeoIP, err)
	}
	db, err := geoip.Open(corpusGeoIP)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchHuntGeo(b, false, 1, false, db)
}

// BenchmarkHuntQueryOnly runs the 90 query rules only.
func BenchmarkHuntQueryOnly(b *testing.B) { benchHunt(b, false, 1, false, "query") }

// BenchmarkHuntGzipQueryOnly is BenchmarkHuntQueryOnly on the gzip data: set
// against BenchmarkSplitGzip, what matching adds to decompressing and
// splitting.
func BenchmarkHuntGzipQueryOnly(b *testing.B) { benchHunt(b, true, 1, false, "query") }

// BenchmarkHuntTwoWorkers and BenchmarkHuntGzipQueryOnlyTwoWorkers are the
// same on two workers, for the speed-up over one: each worker reads and
// matches files of its own, and the last file's chunks are shared once one
// worker has no file left.
func BenchmarkHuntTwoWorkers(b *testing.B)              { benchHunt(b, false, 2, false) }
func BenchmarkHuntGzipQueryOnlyTwoWorkers(b *testing.B) { benchHunt(b, true, 2, false, "query") }

// BenchmarkHuntBoltState is BenchmarkHunt with a fresh bbolt state file,
// committed at the end of every hunt: the cost of durable state.
func BenchmarkHuntBoltState(b *testing.B) { benchHunt(b, false, 1, true) }

// benchJSONLines writes the plain benchmark data's records into one JSON
// Lines file (once per process) and returns its path.
func benchJSONLines(b *testing.B) string {
	dir, _ := benchData(b, false)
	path := filepath.Join(benchTemp, "one.jsonl")
	if !fileExists(path) {
		writeJSONLines(b, dir, path)
	}
	return path
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// benchOneFile runs every runnable Elastic and Sigma corpus rule over the
// 128 MB as one JSON Lines file, plain or gzipped.
func benchOneFile(b *testing.B, workers int, gz bool) {
	path := benchJSONLines(b)
	if gz {
		plain := path
		if path += ".gz"; !fileExists(path) {
			writeGzip(b, plain, path)
		}
	}
	eng, _ := elasticSigmaEngine(b)
	b.SetBytes(128 << 20)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		res, err := Run(context.Background(), eng, Options{Paths: []string{path}, Workers: workers})
		if err != nil || res.Summary.ErrorCount > 0 {
			b.Fatal(err, res.Summary.Errors)
		}
		if workers > 1 && !gz && res.ranges == 0 {
			b.Fatal("not read by ranges")
		}
		if workers > 1 && gz && res.aheads == 0 {
			b.Fatal("not decompressed ahead")
		}
	}
}

// BenchmarkHuntOneFile and BenchmarkHuntOneFileTwoWorkers: issue 15's one
// large file (two workers read it by byte ranges), in process.
func BenchmarkHuntOneFile(b *testing.B)           { benchOneFile(b, 1, false) }
func BenchmarkHuntOneFileTwoWorkers(b *testing.B) { benchOneFile(b, 2, false) }

// BenchmarkHuntOneGzipFile and BenchmarkHuntOneGzipFileTwoWorkers: the same
// file gzipped (two workers decompress it ahead, on a goroutine of its own).
func BenchmarkHuntOneGzipFile(b *testing.B)           { benchOneFile(b, 1, true) }
func BenchmarkHuntOneGzipFileTwoWorkers(b *testing.B) { benchOneFile(b, 2, true) }

// BenchmarkSplitGzip decompresses and splits the gzip benchmark data into
// records without evaluating anything: the baseline the gzip hunt is
// compared with.
func BenchmarkSplitGzip(b *testing.B) {
	dir, size := benchData(b, true)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json.gz"))
	b.SetBytes(size)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
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

// BenchmarkHuntRealFiles runs all runnable Elastic corpus rules over the real
// logs as they are: 5,372 mostly small files (CloudTrail's S3 layout), where
// what each file costs to open and buffer shows.
func BenchmarkHuntRealFiles(b *testing.B) {
	if _, err := os.Stat(benchLogs); err != nil {
		b.Skipf("shared corpus not found at %s: %v", benchLogs, err)
	}
	eng := corpusEngine(b)
	var records, bytes int64
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		res, err := Run(context.Background(), eng, Options{Paths: []string{benchLogs}, Workers: 1})
		if err != nil {
			b.Fatal(err)
		}
		records, bytes = res.Summary.Records, res.Summary.BytesRead
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkHuntRealFilesFloor is BenchmarkHuntRealFiles with one rule that
// never matches: what the 5,372 small gzip files cost to walk, open,
// decompress, split and parse.
func BenchmarkHuntRealFilesFloor(b *testing.B) {
	if _, err := os.Stat(benchLogs); err != nil {
		b.Skipf("shared corpus not found at %s: %v", benchLogs, err)
	}
	eng := neverEngine(b)
	var records, bytes int64
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		res, err := Run(context.Background(), eng, Options{Paths: []string{benchLogs}, Workers: 1})
		if err != nil || res.Summary.Alerts[neverID] > 0 {
			b.Fatal(err, res.Summary.Alerts)
		}
		records, bytes = res.Summary.Records, res.Summary.BytesRead
	}
	b.SetBytes(bytes)
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// neverID is neverRule's id.
const neverID = "00000000-0000-4000-8000-0000000000aa"

// neverEngine compiles neverRule alone.
func neverEngine(b *testing.B) *engine.Engine {
	r, err := elastic.Parse("never.toml", []byte(neverRule))
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.Compile([]*rule.Rule{r})
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// neverRule is an Elastic query rule no record matches.
const neverRule = `[metadata]
creation_date = "2026/11/30"

[rule]
author = ["trailhound"]
description = "Matches nothing: the parse floor benchmark's rule."
name = "Never"
risk_score = 21
rule_id = "00000000-0000-4000-8000-0000000000aa"
severity = "low"
type = "query"
language = "kuery"
index = ["logs-aws.cloudtrail-*"]
query = 'event.dataset:aws.cloudtrail and event.action:"TrailhoundNeverCalledThis"'
`

// BenchmarkHuntParseFloor is a hunt with one rule that never matches: the
// cost of reading, splitting and parsing records, the floor
// BenchmarkHuntQueryOnly is set against.
func BenchmarkHuntParseFloor(b *testing.B) {
	dir, size := benchData(b, false)
	eng := neverEngine(b)
	b.SetBytes(size)
	defer reportCPU(b, cpuTime())
	var records int64
	for b.Loop() {
		res, err := Run(context.Background(), eng, Options{Paths: []string{dir}, Workers: 1})
		if err != nil || res.Summary.Alerts[neverID] > 0 {
			b.Fatal(err, res.Summary.Alerts)
		}
		records = res.Summary.Records
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// cpuTime returns the CPU time (user and system) the process has used: on
// a machine shared with other work, a steadier measure than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time used since from per operation.
func reportCPU(b *testing.B, from time.Duration) {
	b.ReportMetric(float64(cpuTime()-from)/float64(b.N), "cpu-ns/op")
}

// TestMain gives benchData a folder of this process's own and removes it at
// the end.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "trailhound-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	benchTemp = dir
	// benchmarks measure a hunt as the command runs it: with its memory
	// settings (GOGC=200, the heap floor, huge pages), unless GOGC or
	// GOMEMLIMIT is set
	stop := func() {}
	if flag.Parse(); flag.Lookup("test.bench").Value.String() != "" {
		stop = memtune.StartHunt()
	}
	code := m.Run()
	stop()
	os.RemoveAll(dir)
	os.Exit(code)
}
