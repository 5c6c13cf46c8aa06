package hunt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/builtin"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/rule"
)

// stratusRules names, per Stratus Red Team technique, the built-in rule files
// (without extension) written to catch it. Every AWS technique of Stratus's
// catalogue is listed, and the two EKS ones; a technique with no rule says
// why in stratusNoRule.
var stratusRules = map[string][]string{
	"aws.credential-access.ec2-get-password-data":                 {"ec2_password_data_burst"},
	"aws.credential-access.ec2-steal-instance-credentials":        {"ec2_instance_credentials_getcalleridentity", "ssm_shell_command_new_identity"},
	"aws.credential-access.secretsmanager-batch-retrieve-secrets": {"secretsmanager_batch_retrieval_by_filter"},
	"aws.credential-access.secretsmanager-retrieve-secrets":       {"secretsmanager_many_secrets_retrieved"},
	"aws.credential-access.ssm-retrieve-securestring-parameters":  {"ssm_many_decrypted_parameters"},
	"aws.defense-evasion.cloudtrail-delete":                       {"cloudtrail_trail_deleted"},
	"aws.defense-evasion.cloudtrail-event-selectors":              {"cloudtrail_event_selectors_reduced"},
	"aws.defense-evasion.cloudtrail-lifecycle-rule":               {"s3_short_expiration_lifecycle"},
	"aws.defense-evasion.cloudtrail-stop":                         {"cloudtrail_logging_stopped"},
	"aws.defense-evasion.dns-delete-logs":                         {"route53_resolver_query_logging_removed"},
	"aws.defense-evasion.organizations-leave":                     {"organizations_leave"},
	"aws.defense-evasion.vpc-remove-flow-logs":                    {"vpc_flow_logs_deleted"},
	"aws.discovery.ec2-download-user-data":                        {"ec2_user_data_read_many_instances"},
	"aws.discovery.ec2-enumerate-from-instance":                   {"ec2_instance_credentials_enumeration", "ec2_instance_credentials_getcalleridentity", "ssm_shell_command_new_identity"},
	"aws.discovery.ses-enumerate":                                 {"ses_enumeration"},
	"aws.execution.ec2-launch-unusual-instances":                  {"ec2_gpu_instance_launch"},
	"aws.execution.ec2-user-data":                                 {"ec2_user_data_modified_after_stop"},
	"aws.execution.sagemaker-update-lifecycle-config":             {"sagemaker_lifecycle_config_attached"},
	"aws.execution.ssm-send-command":                              {"ssm_shell_command_new_identity"},
	"aws.execution.ssm-start-session":                             {"ssm_sessions_to_many_instances"},
	"aws.exfiltration.ec2-security-group-open-port-22-ingress":    {"ec2_security_group_admin_port_open_to_world"},
	"aws.exfiltration.ec2-share-ami":                              {"ec2_ami_shared"},
	"aws.exfiltration.ec2-share-ebs-snapshot":                     {"ec2_ebs_snapshot_shared"},
	"aws.exfiltration.rds-share-snapshot":                         {"rds_snapshot_shared"},
	"aws.exfiltration.s3-backdoor-bucket-policy":                  {"s3_bucket_policy_grants_other_account"},
	"aws.impact.bedrock-invoke-model":                             {"bedrock_model_access_then_invoked"},
	"aws.impact.ec2-deregister-ami":                               {"ec2_ami_deregistered_new_identity"},
	"aws.impact.s3-ransomware-batch-deletion":                     {"s3_versions_listed_then_batch_deleted"},
	"aws.impact.s3-ransomware-client-side-encryption":             {"s3_sse_c_copy_burst"},
	"aws.impact.s3-ransomware-individual-deletion":                {"s3_versioned_objects_mass_deleted"},
	"aws.initial-access.console-login-without-mfa":                {"console_login_scripted_without_mfa"},
	"aws.lateral-movement.ec2-instance-connect":                   {"ec2_instance_connect_many_instances"},
	"aws.lateral-movement.ec2-serial-console-send-ssh-public-key": {"ec2_serial_console_used"},
	"aws.persistence.iam-backdoor-role":                           {"iam_role_trusts_other_account"},
	"aws.persistence.iam-backdoor-user":                           {"iam_access_key_for_other_user"},
	"aws.persistence.iam-create-admin-user":                       {"iam_user_created_privileged_and_keyed", "iam_administrator_access_attached"},
	"aws.persistence.iam-create-backdoor-role":                    {"iam_role_trusts_other_account", "iam_administrator_access_attached"},
	"aws.persistence.iam-create-user-login-profile":               {"iam_login_profile_for_other_user"},
	"aws.persistence.lambda-backdoor-function":                    {"lambda_policy_public_invocation", "aws_backdoor_lambda_function"},
	"aws.persistence.lambda-layer-extension":                      {"lambda_layer_added"},
	"aws.persistence.lambda-overwrite-code":                       {"lambda_code_updated_new_identity"},
	"aws.persistence.rolesanywhere-create-trust-anchor":           {"rolesanywhere_trust_anchor_created"},
	"aws.persistence.sts-federation-token":                        {"sts_federation_token_new_identity"},
	"aws.privilege-escalation.iam-update-user-login-profile":      {"iam_login_profile_for_other_user"},
	"eks.lateral-movement.create-access-entry":                    {"eks_cluster_admin_access_entry"},
	"eks.persistence.backdoor-aws-auth-configmap":                 nil,
}

var stratusNoRule = map[string]string{
	"eks.persistence.backdoor-aws-auth-configmap": "edits a Kubernetes ConfigMap: visible in EKS audit logs, not in CloudTrail",
}

// stratusGaps are detonations in the public logs that the pack does not
// catch, keyed "technique/log set", with the reason. The test fails if one
// of them starts being caught, so the list stays true.
var stratusGaps = map[string]string{
	"aws.discovery.ec2-enumerate-from-instance/Invictus": "the log holds only the operator's SendCommand (the instance role made only SSM-agent calls in it), " +
		"and that operator had sent a shell command 8 minutes earlier (the steal-instance-credentials detonation), so the first-time rule stays quiet",
}

// ruleFile is the name a built-in rule's file gives it ("builtin:rules/x.toml" -> "x").
func ruleFile(path string) string {
	base := filepath.Base(strings.TrimPrefix(path, "builtin:"))
	return strings.TrimSuffix(base, filepath.Ext(base))
}

func builtinPack(t *testing.T) (*engine.Engine, []*rule.Rule) {
	t.Helper()
	rules, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	return eng, rules
}

func huntPaths(t *testing.T, eng *engine.Engine, paths ...string) *Result {
	t.Helper()
	res, err := Run(context.Background(), eng, Options{Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.ErrorCount > 0 {
		t.Fatalf("%s: input errors: %v", paths, res.Summary.Errors)
	}
	return res
}

// stratusUUID returns the invocation id Stratus puts at the end of its user
// agents. The test uses it only to attribute alerts to the detonation that
// caused them; no rule reads it.
func stratusUUID(record json.RawMessage) string {
	var r struct {
		UserAgent string `json:"userAgent"`
	}
	if json.Unmarshal(record, &r) != nil {
		return ""
	}
	_, after, ok := strings.Cut(r.UserAgent, "stratus-red-team_")
	if !ok || len(after) < 36 {
		return ""
	}
	return after[:36]
}

type detonation struct {
	technique   string
	first, last time.Time
}

// invictusLabels reads our label file: Stratus invocation id -> the technique
// it detonated (warm-up and revert phases are left out).
func invictusLabels(t *testing.T, path string) map[string]detonation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	out := map[string]detonation{}
	for _, row := range rows[1:] {
		if len(row) < 6 || !strings.Contains(row[4], "detonate") {
			continue
		}
		first, err1 := time.Parse(time.RFC3339, row[1])
		last, err2 := time.Parse(time.RFC3339, row[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad times in %v", path, row)
		}
		tech, _, _ := strings.Cut(row[5], " ")
		out[row[0]] = detonation{tech, first, last}
	}
	return out
}

type caught struct {
	byRule map[string]map[string]bool // technique -> rule file -> caught
}

func (c caught) add(tech, rf string) {
	if c.byRule[tech] == nil {
		c.byRule[tech] = map[string]bool{}
	}
	c.byRule[tech][rf] = true
}

// TestStratusCoverage hunts the real detonation logs with the built-in pack
// alone and checks that every technique with data is caught by a rule written
// for it (not a building block); that the benign sets stay under 5 alerts per
// 10,000 records; and that every step of the SANS lab attack raises an alert.
// With -update it rewrites the tables of docs/coverage.md from what it saw.
func TestStratusCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("hunts the whole corpus; run without -short (CI does, before the race pass)")
	}
	const logs = "../../shared/corpus/cloudtrail-logs"
	if _, err := os.Stat(logs); err != nil {
		t.Skipf("shared corpus not found at %s: %v", logs, err)
	}
	eng, rules := builtinPack(t)
	byFile := map[string]*rule.Rule{}
	for _, r := range rules {
		byFile[ruleFile(r.Path)] = r
	}
	for tech, files := range stratusRules {
		if len(files) == 0 && stratusNoRule[tech] == "" {
			t.Errorf("%s: no rule and no reason", tech)
		}
		for _, f := range files {
			r := byFile[f]
			if r == nil {
				t.Fatalf("%s: built-in rule %s not found", tech, f)
			}
			if r.BuildingBlock || len(r.Tests) == 0 {
				t.Errorf("%s: rule %s is a building block or has no tests", tech, f)
			}
		}
	}
	written := func(tech, rf string) bool { return slices.Contains(stratusRules[tech], rf) }

	// Per-technique logs: DataDog's (one file per technique) and zmallen's.
	sets := map[string]caught{"DataDog": {map[string]map[string]bool{}}, "zmallen": {map[string]map[string]bool{}}, "Invictus": {map[string]map[string]bool{}}}
	hasData := map[string][]string{}
	for set, dir := range map[string]string{"DataDog": "stratus-red-team-detonation-logs", "zmallen": "zmallen-cloudtrail2sightings"} {
		files, err := filepath.Glob(filepath.Join(logs, dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no logs (%v)", dir, err)
		}
		for _, f := range files {
			tech := strings.TrimSuffix(filepath.Base(f), ".json")
			if _, ok := stratusRules[tech]; !ok {
				t.Errorf("%s: technique %s not in stratusRules", f, tech)
				continue
			}
			hasData[tech] = append(hasData[tech], set)
			for _, a := range huntPaths(t, eng, f).Alerts {
				if rf := ruleFile(a.Rule.Path); written(tech, rf) && !a.Rule.BuildingBlock {
					sets[set].add(tech, rf)
				}
			}
		}
	}
	// Invictus: one account, ~30 techniques back to back; alerts are
	// attributed by the invocation id in their record's user agent, or else
	// by the detonation whose time window holds them.
	labels := invictusLabels(t, filepath.Join(logs, "invictus-ir-aws-dataset-labels.csv"))
	for _, d := range labels {
		if _, ok := stratusRules[d.technique]; ok && !slices.Contains(hasData[d.technique], "Invictus") {
			hasData[d.technique] = append(hasData[d.technique], "Invictus")
		}
	}
	for _, a := range huntPaths(t, eng, filepath.Join(logs, "invictus-ir-aws-dataset")).Alerts {
		rf := ruleFile(a.Rule.Path)
		var techs []string
		if d, ok := labels[stratusUUID(a.Record)]; ok {
			techs = append(techs, d.technique)
		} else {
			for _, d := range labels {
				if !a.Time.Before(d.first) && !a.Time.After(d.last.Add(time.Minute)) {
					techs = append(techs, d.technique)
				}
			}
		}
		for _, tech := range techs {
			if written(tech, rf) && !a.Rule.BuildingBlock {
				sets["Invictus"].add(tech, rf)
			}
		}
	}

	var techs []string
	for tech := range stratusRules {
		techs = append(techs, tech)
	}
	sort.Strings(techs)
	var table strings.Builder
	table.WriteString("| technique | built-in rule(s) | caught on real data |\n|---|---|---|\n")
	withData, caughtN := 0, 0
	for _, tech := range techs {
		var names []string
		for _, f := range stratusRules[tech] {
			names = append(names, byFile[f].Name)
		}
		if len(names) == 0 {
			names = []string{"none: " + stratusNoRule[tech]}
		}
		var verdict []string
		for _, set := range hasData[tech] {
			var by []string
			for rf := range sets[set].byRule[tech] {
				by = append(by, byFile[rf].Name)
			}
			sort.Strings(by)
			gap, isGap := stratusGaps[tech+"/"+set]
			switch {
			case len(by) == 0 && isGap:
				verdict = append(verdict, set+": no ("+gap+")")
				continue
			case len(by) == 0:
				t.Errorf("%s: %s logs exist but no rule written for it fired", tech, set)
				verdict = append(verdict, set+": **no**")
				continue
			case isGap:
				t.Errorf("%s: %s is listed as a gap but %s caught it: update stratusGaps", tech, set, by)
			}
			if len(by) == len(stratusRules[tech]) {
				verdict = append(verdict, set+": yes")
			} else {
				verdict = append(verdict, fmt.Sprintf("%s: yes (%s)", set, strings.Join(by, "; ")))
			}
		}
		sort.Strings(verdict)
		switch {
		case len(hasData[tech]) > 0:
			withData++
			if !slices.ContainsFunc(verdict, func(v string) bool { return strings.Contains(v, ": no") || strings.Contains(v, "**no**") }) {
				caughtN++
			}
		case len(stratusRules[tech]) > 0:
			verdict = []string{"only our fixtures (no public log)"}
		default:
			verdict = []string{"–"}
		}
		fmt.Fprintf(&table, "| `%s` | %s | %s |\n", tech, strings.Join(names, "; "), strings.Join(verdict, ", "))
	}
	t.Logf("%d of %d techniques have real logs, %d caught by a rule written for them", withData, len(techs), caughtN)

	// Benign sets: grycap (all), SANS without the attacker's records.
	noise := benignNoise(t, eng, logs, byFile)

	// The SANS lab attack: recon, self-granted policy, new access key.
	sans := huntPaths(t, eng, filepath.Join(logs, "sans504-s3-ransomware-lab"))
	for step, rf := range map[string]string{
		"reconnaissance with AccessDenied": "access_denied_reconnaissance_burst",
		"self-granted inline policy":       "iam_self_granted_inline_policy",
		"policy allowing every action":     "iam_inline_policy_allows_all_actions",
		"new access key used":              "iam_new_access_key_used",
	} {
		if !slices.ContainsFunc(sans.Alerts, func(a alert.Alert) bool {
			return ruleFile(a.Rule.Path) == rf && bytes.Contains(a.Record, []byte("jmerckle"))
		}) {
			t.Errorf("SANS attack step %q raised no %s alert", step, rf)
		}
	}

	summary := fmt.Sprintf("%d techniques (%d AWS, %d EKS); %d have a public detonation log, and %d of those are caught on every log "+
		"by a rule written for them (the exceptions say why); %d without a log are tested on our fixtures only; %d has no CloudTrail trace.\n",
		len(techs), countPrefix(techs, "aws."), countPrefix(techs, "eks."), withData, caughtN, len(techs)-withData-len(stratusNoRule), len(stratusNoRule))
	doc := "\n" + summary + "\n" + table.String() + "\n" + noise + "\n"
	checkDocSection(t, filepath.Join("..", "docs", "coverage.md"), "stratus", doc)
	var att strings.Builder
	if err := rule.WriteCoverageTable(&att, rule.Coverage(rules)); err != nil {
		t.Fatal(err)
	}
	checkDocSection(t, filepath.Join("..", "docs", "coverage.md"), "attack", "\n"+att.String()+"\n")
}

func countPrefix(ss []string, p string) int {
	n := 0
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			n++
		}
	}
	return n
}

// benignNoise hunts the benign sets and returns the per-rule table of alerts
// per 10,000 records, failing when a set exceeds 5 per 10,000.
func benignNoise(t *testing.T, eng *engine.Engine, logs string, byFile map[string]*rule.Rule) string {
	t.Helper()
	sansBenign := filepath.Join(t.TempDir(), "sans-benign.jsonl")
	n := writeWithout(t, filepath.Join(logs, "sans504-s3-ransomware-lab"), sansBenign, "jmerckle")
	t.Logf("SANS background: %d records without the attacker", n)
	var b strings.Builder
	b.WriteString("| benign set | records | built-in alerts | per 10k records | by rule |\n|---|---|---|---|---|\n")
	for _, set := range []struct{ name, path string }{
		{"grycap (university account)", filepath.Join(logs, "grycap-cloudtrail-tracker")},
		{"SANS lab background (without `jmerckle`)", sansBenign},
	} {
		res := huntPaths(t, eng, set.path)
		per := map[string]int{}
		for _, a := range res.Alerts {
			per[byFile[ruleFile(a.Rule.Path)].Name]++
		}
		var by []string
		for name, c := range per {
			by = append(by, fmt.Sprintf("%s (%d)", name, c))
		}
		sort.Strings(by)
		rate := float64(len(res.Alerts)) * 10000 / float64(res.Summary.Records)
		t.Logf("%s: %d records, %d alerts, %.1f per 10k: %s", set.name, res.Summary.Records, len(res.Alerts), rate, by)
		if rate > 5 {
			t.Errorf("%s: %.1f alerts per 10k records, more than 5", set.name, rate)
		}
		if len(by) == 0 {
			by = []string{"–"}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f | %s |\n", set.name, res.Summary.Records, len(res.Alerts), rate, strings.Join(by, "; "))
	}
	return b.String()
}

// writeWithout copies every record of the gzip delivery files under dir
// into one JSON Lines file, leaving out those made by the IAM user drop.
func writeWithout(t *testing.T, dir, out, drop string) int {
	t.Helper()
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	n := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json.gz") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		data, err := io.ReadAll(zr)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, r := range doc.Records {
			var who struct {
				UserIdentity struct{ Arn string } `json:"userIdentity"`
			}
			if err := json.Unmarshal(r, &who); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if strings.HasSuffix(who.UserIdentity.Arn, ":user/"+drop) {
				continue
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, r); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			buf.WriteByte('\n')
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkDocSection compares the text between <!-- begin NAME --> and
// <!-- end NAME --> in a Markdown file with want; with -update it rewrites it.
func checkDocSection(t *testing.T, path, name, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- begin "+name+" -->", "<!-- end "+name+" -->"
	i, j := bytes.Index(b, []byte(begin)), bytes.Index(b, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s: no %s ... %s markers", path, begin, end)
	}
	got := string(b[i+len(begin) : j])
	if got == want {
		return
	}
	if *update {
		out := append(append(append([]byte{}, b[:i+len(begin)]...), want...), b[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the %s tables differ from this run (rerun with -update):\n%s", path, name, want)
}
