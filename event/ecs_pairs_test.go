package event

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/geoip"
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

// bookkeeping are the fields of Elastic's expected documents that the
// pipeline test harness or Elasticsearch set, not the pipeline's mapping of
// the record: the ECS version stamp, the ingest time, the harness's tags;
// event.created is the shipper's @timestamp (the harness's fixed time) and
// event.original the input line (checked separately below).
var bookkeeping = []string{"ecs.version", "event.ingested", "tags", "event.created", "event.original"}

// notComputedFields are fields trailhound does not compute yet: the
// actor/target entity mapping and what it derives.
var notComputedFields = append(bookkeeping, enrichment...)

// olderGeoIP explains why two expected documents have other GeoIP values.
const olderGeoIP = "this expected document (integrations commit 0f775e78) was made with a newer revision of " +
	"MaxMind's test databases than the one in corpus/geoip-test, where 216.160.83.56 is Milton, AS 209 without " +
	"an organisation name, as in the other expected documents"

// followed is the revision of Elastic's pipeline trailhound follows (see
// docs/rules.md, "ECS mapping: the pipeline version we follow").
const followed = "Elastic's current default.yml (integrations 3ab42812)"

// Reasons why fields of some expected documents differ from the revision
// of the pipeline we follow. The expected documents were copied from
// different commits of elastic/integrations (corpus SOURCES.md), each made
// by the pipeline of its time.
const (
	hostTargets = "made by integrations 17c5e852 (and 0f775e78), whose actor/target script counted volume, snapshot " +
		"and image ARNs and vol-, snap- and ami- ids as hosts and copied host targets to host.id; " + followed +
		" counts only instance ARNs and i- ids as hosts, puts other ids in entity.target.id, sets no host.id and " +
		"writes the bare instance ids to host.target.id instead"
	oldEntityYML = "made by integrations 0046748f, whose entity sub-pipeline filled related.entity for every document " +
		"with the principal id and no targets, and which appended only userName and request userName to " +
		"related.user; " + followed + " maps entities only with the actor_target_mapping tag (as this document " +
		"lacks) and adds user.id and the session name to related.user"
	untaggedMapping = "made by integrations 01b6652f, which mapped actor and targets without the actor_target_mapping " +
		"tag, before the per-kind user/host/service fields, and without user.id in related.user; " + followed +
		" maps only tagged documents"
)

// before20403 explains the related.ip, related.hosts and host.target.id
// that the pipeline we follow sets and an expected document made by an
// older commit lacks.
func before20403(commit string) string {
	return "made by integrations " + commit + ", before integrations PR 20403 (aws 7.1.3/7.4.0) populated " +
		"related.ip (source.ip) and related.hosts (host names, EC2 instance ids), gave SendCommand the " +
		"event.type [start] and host targets their bare instance id in host.target.id; " + followed + " does"
}

// knownDiffs are fields of particular expected documents that differ, or
// that trailhound adds, for a reason outside trailhound: file -> field ->
// why.
var knownDiffs = map[string]map[string]string{
	"test-add-permission-json.log": {
		"source.geo.city_name": olderGeoIP, "source.geo.location.lat": olderGeoIP,
		"source.geo.location.lon": olderGeoIP, "source.as.organization.name": olderGeoIP,
		"related.ip": before20403("0f775e78"),
	},
	"test-authorize-security-group-ingress-json.log": {"related.ip": before20403("0b97ab02")},
	"test-modify-image-attribute-json.log": {
		"source.geo.city_name": olderGeoIP, "source.geo.location.lat": olderGeoIP,
		"source.geo.location.lon": olderGeoIP, "source.as.organization.name": olderGeoIP,
		"host.target.entity.id": hostTargets, "entity.target.id": hostTargets,
		"related.ip": before20403("0f775e78"),
	},
	"test-modify-snapshot-attribute-json.log": {
		"host.target.entity.id": hostTargets, "entity.target.id": hostTargets, "host.id": hostTargets,
		"related.ip": before20403("17c5e852"),
	},
	"test-get-password-data-json.log": {
		"host.id": hostTargets, "host.target.id": before20403("17c5e852"),
		"related.ip": before20403("17c5e852"), "related.hosts": before20403("17c5e852"),
	},
	"test-send-command-targets-json.log": {
		"host.id": hostTargets, "host.target.id": before20403("17c5e852"),
		"related.ip": before20403("17c5e852"), "event.type": before20403("17c5e852"),
	},
	"test-console-login-json.log": {
		"related.entity": oldEntityYML, "related.user": oldEntityYML, "related.ip": before20403("0046748f"),
		"aws.cloudtrail.user_identity.session_context.creation_date": "made by integrations 0046748f, whose date " +
			"processor read creationDate only as ISO 8601 and so dropped the basic form 20131102T010628Z; " + followed +
			" also reads basic_date_time and basic_date_time_no_millis",
	},
	"test-get-caller-identity-json.log": {
		"actor.entity.id": untaggedMapping, "related.entity": untaggedMapping, "target.entity.id": untaggedMapping,
		"related.user": untaggedMapping, "related.ip": before20403("01b6652f"),
		"event.category": "made by integrations 01b6652f, whose categorisation table had no GetCallerIdentity " +
			"entry; " + followed + " categorises it as authentication/info",
	},
}

// dynamicFields are compared by pattern, as the pipeline tests' config
// says: Elasticsearch before 8.16.2 left a trailing dot on some versions
// ("24.0."), later ones do not ("24.0").
var dynamicFields = map[string]*regexp.Regexp{
	"user_agent.version": regexp.MustCompile(`^"\d+\.\d+(\.|\..*)?"$`),
}

// setValued are the entity fields the pipeline builds as sets: the current
// pipeline sorts them (a TreeSet), the revisions the expected documents come
// from iterated a HashSet, so they compare as sets.
var setValued = map[string]bool{
	"related.entity": true, "target.entity.id": true, "user.target.entity.id": true, "host.target.entity.id": true,
	"service.target.entity.id": true, "entity.target.id": true,
}

// sortedJSON sorts a JSON array of strings.
func sortedJSON(s string) string {
	var vs []string
	if json.Unmarshal([]byte(s), &vs) != nil {
		return s
	}
	sort.Strings(vs)
	b, _ := json.Marshal(vs)
	return string(b)
}

// testGeoIP opens MaxMind's test databases, the ones Elastic's expected
// documents were made with.
func testGeoIP(t *testing.T) *geoip.DB {
	dir := corpus(t, "geoip-test")
	db, err := geoip.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

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
	db := testGeoIP(t)
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
			p := Parser{GeoIP: db}
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
				// Elastic maps actors and targets only for documents tagged
				// actor_target_mapping (the integration's option)
				tags, _ := json.Marshal(want["tags"])
				p.NoEntityMapping = !strings.Contains(string(tags), "actor_target_mapping")
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
				if orig, ok := want["event"].(map[string]any)["original"]; ok && orig != string(line) {
					t.Errorf("record %d: the harness's event.original is not the input line", i)
				}
				var diffs []string
				for k, w := range wf {
					if hasPrefixIn(k, skip) {
						continue
					}
					if k == "@timestamp" && ev.Source().Get("eventTime") == nil {
						continue // shipper time when the record has none
					}
					if why, ok := knownDiffs[name][k]; ok {
						t.Logf("record %d: %s not compared: %s", i, k, why)
						continue
					}
					fields++
					if g, ok := gf[k]; !ok {
						diffs = append(diffs, fmt.Sprintf("missing %s = %s", k, w))
					} else if re, ok := dynamicFields[k]; ok {
						if !re.MatchString(g) || !re.MatchString(w) {
							diffs = append(diffs, fmt.Sprintf("%s:\n  got  %s\n  want %s (pattern %s)", k, g, w, re))
						}
					} else if setValued[k] {
						if sortedJSON(g) != sortedJSON(w) {
							diffs = append(diffs, fmt.Sprintf("%s (as sets):\n  got  %s\n  want %s", k, g, w))
						}
					} else if g != w {
						diffs = append(diffs, fmt.Sprintf("%s:\n  got  %s\n  want %s", k, g, w))
					}
				}
				for k, g := range gf {
					if _, known := knownDiffs[name][k]; known {
						continue
					}
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
