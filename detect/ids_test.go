package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/state"
)

// Two rules with one id (a Sigma rule reusing an Elastic rule's id, or two
// files of one format) both alert on a record, with different alert ids
// and state of their own: a second hunt over the same record knows both
// alerts, and neither is taken for the other's (issue 9, item 7). An
// unrelated rule loaded beside them changes no id, and an Elastic rule's
// alert id is what it always was: SHA-256 of the event id and the rule id.
func TestSharedRuleIDs(t *testing.T) {
	mk := func(format, id, path string) *rule.Rule {
		return mkRule(t, func(r *rule.Rule) { r.Format, r.ID, r.Path, r.Name = format, id, path, format+" "+path })
	}
	legacy := func(eventID, ruleID string) string {
		h := sha256.Sum256([]byte("event:" + eventID + "\x00" + ruleID))
		return hex.EncodeToString(h[:])
	}
	for _, tt := range []struct {
		name  string
		rules func() []*rule.Rule
	}{
		{"elastic and sigma", func() []*rule.Rule { return []*rule.Rule{mk("elastic", "dup", "e.toml"), mk("sigma", "dup", "s.yml")} }},
		{"sigma and panther", func() []*rule.Rule { return []*rule.Rule{mk("sigma", "dup", "s.yml"), mk("panther", "dup", "p.yml")} }},
		{"two sigma files", func() []*rule.Rule { return []*rule.Rule{mk("sigma", "dup", "1.yml"), mk("sigma", "dup", "2.yml")} }},
		{"two elastic files", func() []*rule.Rule {
			return []*rule.Rule{mk("elastic", "dup", "1.toml"), mk("elastic", "dup", "2.toml")}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store, err := state.OpenBolt(filepath.Join(t.TempDir(), "s.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			run := func(rules []*rule.Rule) ([]alert.Alert, map[string]RuleStats) {
				eng, err := engine.Compile(rules)
				if err != nil {
					t.Fatal(err)
				}
				return huntEngine(t, eng, store, ev{id: "e1", user: "u"})
			}
			alerts, stats := run(tt.rules())
			if len(alerts) != 2 || alerts[0].ID == alerts[1].ID {
				t.Fatalf("%d alerts (ids %v), want two with different ids", len(alerts), alertIDs(alerts))
			}
			if len(stats) != 2 {
				t.Errorf("stats %v, want one entry per rule", stats)
			}
			first := map[string]string{}
			for _, a := range alerts {
				first[a.Rule.Path] = a.ID
				if a.Rule.Format == "elastic" && a.Rule.Path == "e.toml" && a.ID != legacy("e1", "dup") {
					t.Errorf("elastic alert id %s changed (want %s)", a.ID, legacy("e1", "dup"))
				}
			}
			// the same record again, with an unrelated rule loaded: both
			// known from the first hunt, one each
			again, stats := run(append(tt.rules(), mk("sigma", "other", "o.yml")))
			if len(again) != 1 || again[0].Rule.ID != "other" {
				t.Errorf("second hunt raised %d alerts, want only the new rule's", len(again))
			}
			known := 0
			for _, rs := range stats {
				known += rs.Known
			}
			if known != 2 {
				t.Errorf("second hunt: %d known alerts, want 2 (stats %v)", known, stats)
			}
			// a third hunt in a fresh store with the unrelated rule gives the
			// same ids as the first
			fresh := state.NewMemory()
			eng, _ := engine.Compile(append(tt.rules(), mk("elastic", "other2", "o2.toml")))
			third, _ := huntEngine(t, eng, fresh, ev{id: "e1", user: "u"})
			for _, a := range third {
				if id, ok := first[a.Rule.Path]; ok && id != a.ID {
					t.Errorf("%s: id %s changed to %s when another rule was loaded", a.Rule.Path, id, a.ID)
				}
			}
		})
	}
}

func alertIDs(as []alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Rule.Format+"/"+a.Rule.Path+"="+a.ID[:12])
	}
	return out
}
