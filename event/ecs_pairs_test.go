package event

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusDir is the shared test corpus, beside the repository.
const corpusDir = "../../shared/corpus"

func corpus(t testing.TB, sub string) string {
	t.Helper()
	p := filepath.Join(corpusDir, sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared corpus not found at %s (clone with ../shared beside the repo): %v", p, err)
	}
	return p
}

// notComputedFields are the ECS fields of Elastic's expected documents that
// trailhound does not compute: shipper metadata, and the enrichment (GeoIP,
// ASN, user-agent parsing, the optional actor/target entity mapping, tag
// actor_target_mapping).
var notComputedFields = append([]string{
	"event.created", "event.original", "tags", "host", "service.target", "related.ip",
}, enrichment...)

// extraAllowed are fields trailhound adds that Elastic sets at index time or
// in newer pipeline versions.
var extraAllowed = []string{"data_stream.dataset", "event.dataset", "event.module", "cloud.provider", "cloud.service.name", "aws.cloudtrail.flattened"}

func hasPrefixIn(k string, list []string) bool {
	for _, p := range list {
		if k == p || strings.HasPrefix(k, p+".") {
			return true
		}
	}
	return false
}

// flatten turns a JSON document into dotted paths; arrays are leaves.
func flatten(prefix string, v any, out map[string]string) {
	if m, ok := v.(map[string]any); ok {
		if len(m) == 0 && prefix != "" {
			out[prefix] = "{}"
		}
		for k, c := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, c, out)
		}
		return
	}
	b, _ := json.Marshal(v)
	out[prefix] = string(b)
}

func TestECSPipelinePairs(t *testing.T) {
	dir := corpus(t, "elastic-ecs-pipeline-tests")
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(logs) == 0 {
		t.Fatal("no pipeline test inputs")
	}
	fields := 0
	for _, logFile := range logs {
		name := filepath.Base(logFile)
		t.Run(name, func(t *testing.T) {
			exp, err := os.ReadFile(logFile + "-expected.json")
			if err != nil {
				t.Fatal(err)
			}
			var expected struct{ Expected []map[string]any }
			if err := json.Unmarshal(exp, &expected); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(logFile)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			i := 0
			var p Parser
			for sc.Scan() {
				line := sc.Bytes()
				if i >= len(expected.Expected) {
					t.Fatalf("more input lines than expected documents")
				}
				want := expected.Expected[i]
				i++
				if len(strings.TrimSpace(string(line))) == 0 {
					continue // the shipper's empty event; nothing to compute
				}
				ev, err := p.Parse(line)
				if err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				var got map[string]any
				if err := json.Unmarshal(ev.ECS().MarshalTo(nil), &got); err != nil {
					t.Fatal(err)
				}
				wf, gf := map[string]string{}, map[string]string{}
				flatten("", want, wf)
				flatten("", got, gf)
				skip := notComputedFields
				if strings.Contains(wf["tags"], "actor_target_mapping") {
					// the entity enrichment also adds the principal to related.user
					skip = append(skip[:len(skip):len(skip)], "related.user")
				}
				var diffs []string
				for k, w := range wf {
					if hasPrefixIn(k, skip) {
						continue
					}
					if k == "@timestamp" && ev.Source().Get("eventTime") == nil {
						continue // shipper time when the record has none
					}
					fields++
					if g, ok := gf[k]; !ok {
						diffs = append(diffs, fmt.Sprintf("missing %s = %s", k, w))
					} else if g != w {
						diffs = append(diffs, fmt.Sprintf("%s:\n  got  %s\n  want %s", k, g, w))
					}
				}
				for k, g := range gf {
					if _, ok := wf[k]; !ok && !hasPrefixIn(k, extraAllowed) && !hasPrefixIn(k, skip) {
						diffs = append(diffs, fmt.Sprintf("extra %s = %s", k, g))
					}
				}
				sort.Strings(diffs)
				for _, d := range diffs {
					t.Errorf("record %d: %s", i, d)
				}
			}
		})
	}
	t.Logf("compared %d fields", fields)
}
