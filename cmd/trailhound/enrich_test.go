package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/geoip/geoiptest"
)

// Rules reading GeoIP/ASN fields run only with databases; without them
// they are listed as not run, with the reason; bad databases are input
// errors naming the file.
func TestGeoIPFlags(t *testing.T) {
	geoDir := geoiptest.Dir(t)
	// a record from an address the test databases place in AS 16509 (AMAZON-02)
	rec := `{"eventVersion":"1.08","eventTime":"2026-03-01T10:00:00Z","eventSource":"secretsmanager.amazonaws.com","eventName":"GetSecretValue","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/linux#5.15.0","userIdentity":{"type":"IAMUser","userName":"eve","arn":"arn:aws:iam::111122223333:user/eve"},"eventID":"6c1f0b6f-1a01-4c55-9a51-5b0c6f0e1d2a"}`
	logs := writeFiles(t, map[string]string{"r.jsonl": rec + "\n"})
	rules := writeFiles(t, map[string]string{
		"as.toml":  "[rule]\nrule_id = \"geo-as\"\nname = \"From Amazon\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"source.as.organization.name:AMAZON-02\"\n",
		"not.toml": "[rule]\nrule_id = \"geo-not\"\nname = \"Not from Amazon\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action:GetSecretValue and not source.as.organization.name:AMAZON-02\"\n",
		"ua.toml":  "[rule]\nrule_id = \"ua-cli\"\nname = \"Via CLI\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"user_agent.name:aws-cli\"\n",
		"nt.toml":  "[rule]\nrule_id = \"geo-nt\"\nname = \"New country\"\ntype = \"new_terms\"\nlanguage = \"kuery\"\nquery = \"event.action:*\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"user.name\", \"source.geo.country_iso_code\"]\n[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-7d\"\n",
	})
	corrupt := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	if err := os.WriteFile(corrupt, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	const needs = "needs GeoIP/ASN databases (--geoip-dir)"
	for _, tc := range []struct {
		name        string
		args        []string
		code        int
		stdout      string   // substring of stdout
		notStdout   []string // must not appear in stdout
		stderr      string
		stdoutLines int // when > 0, the number of lines on stdout
	}{
		{"rules list without databases", []string{"rules", "list", rules}, 0, "[not run: " + needs + "]", nil, "", 0},
		{"rules list with databases", []string{"rules", "list", "--geoip-dir", geoDir, rules}, 0, "From Amazon", []string{"not run"}, "", 0},
		{"rules explain without databases", []string{"rules", "explain", "geo-not", rules}, 0, needs, nil, "", 0},
		{"rules list with ASN only", []string{"rules", "list", "--geoip-asn", filepath.Join(geoDir, "GeoLite2-ASN.mmdb"), rules}, 0,
			"needs a GeoLite2/GeoIP2 City database", nil, "", 0},
		// without databases the exclusion would always pass: the rule must not run
		{"hunt without databases", []string{"hunt", "-q", "-f", "jsonl", "--rules", rules, logs}, 0, "Via CLI",
			[]string{"Not from Amazon", "From Amazon", "New country"}, "", 1},
		{"hunt summary names the reason", []string{"hunt", "-f", "jsonl", "--rules", rules, logs}, 0, "", nil, needs, 0},
		{"hunt with databases", []string{"hunt", "-q", "-f", "jsonl", "--geoip-dir", geoDir, "--rules", rules, logs}, 0, "From Amazon",
			[]string{"Not from Amazon"}, "", 2},
		{"hunt with files one by one", []string{"hunt", "-q", "-f", "jsonl", "--geoip-city", filepath.Join(geoDir, "GeoLite2-City.mmdb"),
			"--geoip-asn", filepath.Join(geoDir, "GeoLite2-ASN.mmdb"), "--rules", rules, logs}, 0, "From Amazon", nil, "", 2},
		{"corrupt database", []string{"hunt", "-q", "--geoip-city", corrupt, "--rules", rules, logs}, exitErrors, "", nil, corrupt, 0},
		{"missing folder", []string{"hunt", "-q", "--geoip-dir", "/no/such/geoip", "--rules", rules, logs}, exitErrors, "", nil, "/no/such/geoip", 0},
		{"wrong database type", []string{"rules", "list", "--geoip-city", filepath.Join(geoDir, "GeoLite2-ASN.mmdb"), rules}, exitErrors, "", nil,
			"is not a City database", 0},
		{"query with databases", []string{"query", "-f", "jsonl", "--geoip-dir", geoDir, "-c", "source.as.number,source.as.organization.name,user_agent.name",
			"source.as.number:16509", logs}, 0, `{"source.as.number":16509,"source.as.organization.name":"AMAZON-02","user_agent.name":"aws-cli"}`, nil, "", 1},
		{"query without databases", []string{"query", "source.geo.country_iso_code:US", logs}, exitBadUsage, "", nil, needs, 0},
		{"test with databases", []string{"test", "--geoip-dir", geoDir, rules}, exitErrors, "0 passed, 0 failed", nil, "no tests found", 0}, // the flag is taken; these rules have no tests
		{"entity fields by default", []string{"query", "-f", "jsonl", "-c", "actor.entity.id,user.entity.id,target.entity.id",
			"event.action:GetSecretValue", logs}, 0, `{"actor.entity.id":"arn:aws:iam::111122223333:user/eve","target.entity.id":null,"user.entity.id":"arn:aws:iam::111122223333:user/eve"}`, nil, "", 1},
		{"no entity mapping", []string{"query", "-f", "jsonl", "--no-entity-mapping", "-c", "actor.entity.id,user.name",
			"event.action:GetSecretValue", logs}, 0, `{"actor.entity.id":null,"user.name":"eve"}`, nil, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(t, tc.args...)
			bad := code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.stderr)
			for _, n := range tc.notStdout {
				bad = bad || strings.Contains(out, n)
			}
			if tc.stdoutLines > 0 && strings.Count(out, "\n") != tc.stdoutLines {
				bad = true
			}
			if bad {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
		})
	}
}
