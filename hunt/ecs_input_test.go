package hunt

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/rule"
)

// enrichmentFields are ECS fields Elastic's expected documents have and our
// ECS view of raw records does not compute yet (GeoIP, ASN, user-agent
// parsing, entity mapping): rules reading them may differ between the two.
var enrichmentFields = []string{"source.geo", "source.as", "user_agent.name", "user_agent.os", "user_agent.device",
	"user_agent.version", "related.entity", "actor", "target", "entity", "host", "service.target", "user.entity", "related.user"}

func readsEnrichment(r *rule.Rule) bool {
	for _, f := range rule.Fields(r.Cond) {
		for _, e := range enrichmentFields {
			if f == e || strings.HasPrefix(f, e+".") {
				return true
			}
		}
	}
	return false
}

// Each Elastic pipeline test pair is hunted twice, as the raw CloudTrail
// record and as Elastic's ECS document (wrapped like an Elasticsearch hit):
// every corpus query rule gives the same verdict on both.
func TestECSInputAgreesWithRaw(t *testing.T) {
	const pairs = "../../shared/corpus/elastic-ecs-pipeline-tests"
	if _, err := os.Stat(pairs); err != nil {
		t.Skipf("shared corpus not found at %s: %v", pairs, err)
	}
	rules, errs := elastic.Load([]string{benchRules})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var comparable []*rule.Rule
	for _, r := range rules {
		if r.Runnable() && !readsEnrichment(r) {
			comparable = append(comparable, r)
		}
	}
	eng, err := engine.Compile(comparable)
	if err != nil {
		t.Fatal(err)
	}
	rawDir, ecsDir := t.TempDir(), t.TempDir()
	logs, _ := filepath.Glob(filepath.Join(pairs, "*.log"))
	n := 0
	for _, l := range logs {
		exp, _ := os.ReadFile(l + "-expected.json")
		var e struct{ Expected []map[string]any }
		if err := json.Unmarshal(exp, &e); err != nil {
			t.Fatal(err)
		}
		f, _ := os.Open(l)
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		var raw, docs []string
		for i := 0; sc.Scan(); i++ {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			doc := e.Expected[i]
			doc["data_stream"] = map[string]any{"dataset": "aws.cloudtrail"} // set at index time
			doc["event"].(map[string]any)["dataset"] = "aws.cloudtrail"
			hit, _ := json.Marshal(map[string]any{"_index": "logs-aws.cloudtrail-default", "_id": "x", "_source": doc})
			raw = append(raw, sc.Text())
			docs = append(docs, string(hit))
			n++
		}
		f.Close()
		base := filepath.Base(l)
		os.WriteFile(filepath.Join(rawDir, base+".jsonl"), []byte(strings.Join(raw, "\n")), 0o644)
		os.WriteFile(filepath.Join(ecsDir, base+".jsonl"), []byte(strings.Join(docs, "\n")), 0o644)
	}
	verdicts := func(dir string) map[string]bool {
		res, err := Run(context.Background(), eng, Options{Paths: []string{dir}})
		alerts, sum := resultParts(res)
		if err != nil || int(sum.Records) != n {
			t.Fatalf("%s: %v %+v", dir, err, sum)
		}
		for _, e := range sum.Errors {
			// one pair's raw record has no eventTime (its ECS document has
			// the ingest time): the rules that need none still run on it
			if !strings.Contains(e.Error(), "no event time (eventTime missing)") {
				t.Errorf("%s: %v", dir, e)
			}
		}
		out := map[string]bool{}
		for _, a := range alerts {
			out[a.Rule.ID+" "+a.Event.ID+" "+filepath.Base(a.Event.File)] = true
		}
		return out
	}
	rawV, ecsV := verdicts(rawDir), verdicts(ecsDir)
	for k := range rawV {
		if !ecsV[k] {
			t.Errorf("raw only: %s", k)
		}
	}
	for k := range ecsV {
		if !rawV[k] {
			t.Errorf("ECS only: %s", k)
		}
	}
	if len(rawV) == 0 {
		t.Error("no rule matched any pair: the comparison proves nothing")
	}
	t.Logf("%d records, %d rules, %d matches on both inputs", n, len(comparable), len(rawV))
}
