package hunt

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/geoip/geoiptest"
	"github.com/trailhound/trailhound/rule"
)

const (
	corpusRules = "../../shared/corpus/elastic-rules"
	corpusLogs  = "../../shared/corpus/cloudtrail-logs"
	corpusGeoIP = "../../shared/corpus/geoip-test"
)

func needCorpus(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("shared corpus not found at %s (clone with ../shared beside the repo): %v", p, err)
		}
	}
}

// huntWith runs Elastic rules (files or folders) over paths with GeoIP
// databases, marking the rules that need what the databases lack as Elastic
// would not run them either, and returns the alerts by rule name.
func huntWith(t *testing.T, db *geoip.DB, rulePaths []string, paths ...string) map[string][]string {
	t.Helper()
	rules, errs := elastic.Load(rulePaths)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rule.RequireFields(rules, event.Unavailable(db))
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), eng, Options{Paths: paths, GeoIP: db})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, a := range res.Alerts {
		out[a.Rule.Name] = append(out[a.Rule.Name], strings.Join(a.NewTerms, ","))
	}
	return out
}

// Issue 12's two rules fire once the fields they read are computed: the
// new_terms rule on entity.target.id on Stratus Red Team's iam-backdoor-role
// detonation, and the ES|QL rule on user_agent.name on a CLI discovery
// burst of our own (the same burst from a console session and from an SDK
// must not count).
func TestEnrichmentRulesFire(t *testing.T) {
	needCorpus(t, corpusRules, corpusLogs)
	db, err := geoip.Open(geoiptest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	t.Run("AWS IAM Assume Role Policy Update", func(t *testing.T) {
		got := huntWith(t, db, []string{filepath.Join(corpusRules, "privilege_escalation_iam_update_assume_role_policy.toml")},
			filepath.Join(corpusLogs, "stratus-red-team-detonation-logs", "aws.persistence.iam-backdoor-role.json"))
		terms := got["AWS IAM Assume Role Policy Update"]
		if len(terms) != 1 || !strings.HasSuffix(terms[0], ",stratus-red-team-backdoor-r-role") {
			t.Errorf("alerts %v, want one whose new term ends with the backdoored role's name", got)
		}
	})
	t.Run("AWS Discovery API Calls via CLI from a Single Resource", func(t *testing.T) {
		rulePath := filepath.Join(corpusRules, "discovery_multiple_discovery_api_calls_via_cli.toml")
		got := huntWith(t, db, []string{rulePath}, "../testdata/enrich/cli-discovery-burst.json")
		if n := len(got["AWS Discovery API Calls via CLI from a Single Resource"]); n != 1 || len(got) != 1 {
			t.Errorf("alerts %v, want exactly one of the rule (the aws-cli burst)", got)
		}
		// the rule only lists source.as.organization.name (VALUES): without
		// databases it still runs, with that column empty
		if got := huntWith(t, nil, []string{rulePath}, "../testdata/enrich/cli-discovery-burst.json"); len(got["AWS Discovery API Calls via CLI from a Single Resource"]) != 1 {
			t.Errorf("without GeoIP databases: alerts %v, want the same one", got)
		}
	})
}

// With MaxMind's test databases every runnable Elastic rule runs over the
// real logs; count the new_terms rules that see a term (16 before entity,
// user-agent and GeoIP fields existed).
func TestCorpusNewTermsWithEnrichment(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the whole corpus")
	}
	needCorpus(t, corpusRules, corpusLogs, corpusGeoIP)
	db, err := geoip.Open(corpusGeoIP)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rules, errs := elastic.Load([]string{corpusRules})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	newTerms := map[string]bool{}
	for _, r := range rules {
		if r.Type == "new_terms" && r.Runnable() {
			newTerms[r.Name] = true
		}
	}
	got := huntWith(t, db, []string{corpusRules}, corpusLogs)
	var seen []string
	alerts := 0
	for name, as := range got {
		alerts += len(as)
		if newTerms[name] {
			seen = append(seen, name)
		}
	}
	slices.Sort(seen)
	t.Logf("%d alerts; %d of %d new_terms rules see a term: %s", alerts, len(seen), len(newTerms), strings.Join(seen, "; "))
	for _, want := range []string{"AWS IAM Assume Role Policy Update", "AWS IAM Customer-Managed Policy Attached to Role by Rare User"} {
		if !slices.Contains(seen, want) {
			t.Errorf("%s sees no term", want)
		}
	}
	if len(seen) < 19 {
		t.Errorf("%d new_terms rules see a term, want at least 19", len(seen))
	}
}
