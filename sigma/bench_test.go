package sigma

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/bradleyjkemp/sigma-go/evaluator"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/rule"
)

// corpusRecords reads every CloudTrail record of the corpus logs.
func corpusRecords(b *testing.B) ([][]byte, int64) {
	corpus := filepath.Join("..", "..", "shared", "corpus")
	if _, err := os.Stat(corpus); err != nil {
		b.Skip("../shared/corpus is absent: benchmark skipped")
	}
	walked := record.Walk([]string{filepath.Join(corpus, "cloudtrail-logs")})
	if len(walked.Errors) > 0 {
		b.Fatal(walked.Errors)
	}
	var out [][]byte
	var size int64
	var p event.Parser
	for _, in := range walked.Inputs {
		rc, err := record.Open(in.Path)
		if err != nil {
			b.Fatal(err)
		}
		record.ForEach(rc, 0, func(r record.Record) error {
			if ev, err := p.Parse(r.Data); err == nil && ev.Kind == event.KindCloudTrail {
				out = append(out, append([]byte(nil), r.Data...))
				size += int64(len(r.Data))
			}
			return nil
		}, func(*record.PosError) {})
		rc.Close()
	}
	return out, size
}

// BenchmarkSigmaTrailhound evaluates the 57 Sigma corpus rules on every
// corpus record: parsing each record and matching all rules.
func BenchmarkSigmaTrailhound(b *testing.B) {
	recs, size := corpusRecords(b)
	rules, errs := Load([]string{filepath.Join("..", "..", "shared", "corpus", "sigma-rules")}, Options{})
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		b.Fatal(err)
	}
	s := engine.NewScratch()
	var p event.Parser
	b.SetBytes(size)
	b.ResetTimer()
	matches := 0
	for range b.N {
		for _, r := range recs {
			ev, _ := p.Parse(r)
			eng.Match(ev, s, func(*rule.Rule) { matches++ })
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkSigmaGo is the same work with sigma-go v0.6.6: decoding each
// record into a map and evaluating every rule.
func BenchmarkSigmaGo(b *testing.B) {
	recs, size := corpusRecords(b)
	rules, _ := Load([]string{filepath.Join("..", "..", "shared", "corpus", "sigma-rules")}, Options{})
	var evs []*evaluator.RuleEvaluator
	for _, r := range rules {
		if !r.Runnable() {
			continue
		}
		data, _ := os.ReadFile(r.Path)
		e, err := sigmaGo(data)
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, e)
	}
	ctx := context.Background()
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		for _, r := range recs {
			var doc map[string]any
			json.Unmarshal(r, &doc)
			for _, e := range evs {
				e.Matches(ctx, doc)
			}
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
