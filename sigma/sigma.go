// Package sigma loads Sigma rules (specification v2) for CloudTrail into
// trailhound's rule IR: detections as conditions over raw CloudTrail
// fields, with Sigma's matching semantics (case-insensitive wildcards,
// modifiers, null as absent, object-valued fields matched on their leaves
// and their JSON).
package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/yamlexpand"
)

// Options are what loading needs besides the files.
type Options struct {
	// Placeholders are the values of %name% placeholders (|expand).
	Placeholders map[string][]string
}

// Error is a rule file that could not be loaded.
type Error struct {
	Path string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// document is one Sigma YAML document: a rule, a correlation or a filter.
type document struct {
	Title          string    `yaml:"title"`
	ID             string    `yaml:"id"`
	Name           string    `yaml:"name"`
	Status         string    `yaml:"status"`
	Description    string    `yaml:"description"`
	References     []string  `yaml:"references"`
	Author         string    `yaml:"author"`
	Date           string    `yaml:"date"`
	Modified       string    `yaml:"modified"`
	Tags           []string  `yaml:"tags"`
	Level          string    `yaml:"level"`
	FalsePositives []string  `yaml:"falsepositives"`
	Fields         []string  `yaml:"fields"`
	License        string    `yaml:"license"`
	Note           string    `yaml:"note"` // investigation guide (Markdown), a custom attribute as in Elastic rules
	Logsource      logsource `yaml:"logsource"`
	Detection      yaml.Node `yaml:"detection"`
	Correlation    yaml.Node `yaml:"correlation"`
	Filter         yaml.Node `yaml:"filter"`
	Action         string    `yaml:"action"`
}

type logsource struct {
	Product  string `yaml:"product"`
	Service  string `yaml:"service"`
	Category string `yaml:"category"`
}

// Levels maps Sigma levels to trailhound severity and risk score.
var Levels = map[string]struct {
	Severity string
	Risk     int
}{
	"informational": {"low", 1}, "low": {"low", 21}, "medium": {"medium", 47}, "high": {"high", 73}, "critical": {"critical", 99},
}

// DefaultFields are shown in alerts of rules without `fields`.
var DefaultFields = []string{"eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "userIdentity.arn", "recipientAccountId", "errorCode"}

// Parse loads the rules of one Sigma file (several documents are allowed).
func Parse(path string, data []byte, opts Options) ([]*rule.Rule, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*rule.Rule
	for i := 0; ; i++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &Error{Path: path, Err: fmt.Errorf("YAML: %w", err)}
		}
		x, err := yamlexpand.Expand(&root)
		if err != nil {
			return nil, &Error{Path: path, Err: err}
		}
		var d document
		if err := x.Decode(&d); err != nil {
			return nil, &Error{Path: path, Line: root.Line, Err: err}
		}
		rs, err := build(path, &d, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	if len(out) == 0 {
		return nil, &Error{Path: path, Err: fmt.Errorf("no Sigma rule in the file")}
	}
	return out, nil
}

func build(path string, d *document, opts Options) ([]*rule.Rule, error) {
	r := &rule.Rule{
		ID: d.ID, Name: d.Title, Description: strings.TrimSpace(d.Description), Format: "sigma", Path: path,
		Type: "sigma", Language: "sigma", References: d.References, Tags: d.Tags, Maturity: d.Status,
		FalsePositives: d.FalsePositives, InvestigationFields: d.Fields, License: d.License, Note: strings.TrimSpace(d.Note),
		Schedule: rule.Schedule{Interval: 5 * time.Minute, Lookback: 5 * time.Minute, From: "now-5m", MaxSignals: 1 << 30},
	}
	if r.Name == "" {
		r.Name = d.Name
	}
	r.Alias = d.Name
	if d.Author != "" {
		r.Author = []string{d.Author}
	}
	if len(r.InvestigationFields) == 0 {
		r.InvestigationFields = DefaultFields
	}
	lv, ok := Levels[strings.ToLower(d.Level)]
	if !ok {
		lv = Levels["medium"]
		if d.Level != "" {
			r.Warnings = append(r.Warnings, fmt.Sprintf("unknown level %q, using medium", d.Level))
		}
	}
	r.Severity, r.RiskScore = lv.Severity, lv.Risk
	r.Threat = threats(d.Tags)
	rule.FillAttackNames(r.Threat)
	switch {
	case d.Action != "":
		r.Unsupported = fmt.Sprintf("Sigma 1 rule collection (action: %s): not supported", d.Action)
		return []*rule.Rule{r}, nil
	case d.Correlation.Kind != 0:
		r.Type = "sigma_correlation"
		c, err := correlation(&d.Correlation)
		if err != nil {
			return nil, &Error{Path: path, Line: d.Correlation.Line, Err: fmt.Errorf("correlation %q: %w", r.Name, err)}
		}
		r.Correlation = c
		return []*rule.Rule{r}, nil
	case d.Filter.Kind != 0:
		r.Type = "sigma_filter"
		if err := filter(r, &d.Filter, opts); err != nil {
			return nil, &Error{Path: path, Line: d.Filter.Line, Err: fmt.Errorf("filter %q: %w", r.Name, err)}
		}
		return []*rule.Rule{r}, nil
	case d.Detection.Kind == 0:
		return nil, &Error{Path: path, Err: fmt.Errorf("rule %q has no detection", r.Name)}
	}
	if r.ID == "" {
		return nil, &Error{Path: path, Err: fmt.Errorf("rule %q has no id", r.Name)}
	}
	if !strings.EqualFold(d.Logsource.Product, "aws") || !strings.EqualFold(d.Logsource.Service, "cloudtrail") {
		r.Unsupported = fmt.Sprintf("logsource product %q service %q is not AWS CloudTrail", d.Logsource.Product, d.Logsource.Service)
		return []*rule.Rule{r}, nil
	}
	cond, condText, err := detection(&d.Detection, opts)
	r.Query = condText
	var legacyErr ErrLegacy
	switch {
	case errors.As(err, &legacyErr):
		rs, lerr := legacy(r, &d.Detection, opts)
		if lerr != nil {
			r.Unsupported = fmt.Sprintf("legacy aggregation in condition %q: %v", legacyErr.Cond, lerr)
			break
		}
		// SigmaHQ marks its Sigma 1 aggregation rules "unsupported" for the
		// aggregation alone, which now runs: only deprecated stays out.
		if d.Status == "deprecated" {
			for _, x := range rs {
				x.Unsupported = "status deprecated"
			}
		} else if d.Status == "unsupported" {
			r.Warnings = append(r.Warnings, "status unsupported (SigmaHQ's mark for Sigma 1 aggregations): run as a "+r.Correlation.Type+" correlation")
		}
		return rs, nil
	case err != nil && strings.Contains(err.Error(), "placeholder"):
		r.Unsupported = strings.ReplaceAll(err.Error(), "\n", "; ")
	case err != nil:
		return nil, &Error{Path: path, Line: d.Detection.Line, Err: fmt.Errorf("rule %s (%s): %w", r.ID, r.Name, err)}
	default:
		r.Cond = rule.Simplify(cond)
	}
	if (d.Status == "deprecated" || d.Status == "unsupported") && r.Unsupported == "" {
		r.Unsupported = "status " + d.Status
	}
	return []*rule.Rule{r}, nil
}

// detection compiles the detection block; it returns the condition text too.
func detection(n *yaml.Node, opts Options) (rule.Cond, string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, "", fmt.Errorf("detection is not a map")
	}
	c := &compiler{placeholders: opts.Placeholders}
	searches := map[string]rule.Cond{}
	var conds []string
	condLine := 0
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		switch k {
		case "condition":
			conds = append(conds, conditions(v)...)
			condLine = v.Line
		case "timeframe":
			return nil, "", ErrLegacy{"timeframe: " + v.Value}
		default:
			s, err := c.search(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s: %w", v.Line, k, err))
				continue
			}
			searches[k] = s
		}
	}
	if len(conds) == 0 {
		return nil, "", fmt.Errorf("detection has no condition")
	}
	text := strings.Join(conds, " or ")
	for _, ct := range conds {
		if _, err := condition(ct, searches); errors.As(err, new(ErrLegacy)) {
			return nil, text, err
		}
	}
	if len(errs) > 0 {
		return nil, text, errors.Join(errs...)
	}
	var ors []rule.Cond
	for _, ct := range conds {
		x, err := condition(ct, searches)
		if err != nil {
			return nil, text, fmt.Errorf("line %d: condition: %w", condLine, err)
		}
		ors = append(ors, x)
	}
	return rule.Or{Conds: ors}, text, nil
}

// Load loads Sigma files and folders (*.yml, *.yaml, recursively). It
// returns every rule it could load and one error per file it could not.
func Load(paths []string, opts Options) ([]*rule.Rule, []error) {
	var rules []*rule.Rule
	var errs []error
	for _, p := range paths {
		var files []string
		err := filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) && !strings.HasSuffix(path, ".tests.yaml") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, &Error{Path: p, Err: err})
			continue
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, &Error{Path: f, Err: err})
				continue
			}
			rs, err := Parse(f, data, opts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rules = append(rules, rs...)
		}
	}
	errs = append(errs, ApplyFilters(rules)...)
	return rules, errs
}

// tactics maps ATT&CK tactic tag names to their ids.
var tactics = map[string]string{
	"reconnaissance": "TA0043", "resource-development": "TA0042", "initial-access": "TA0001", "execution": "TA0002",
	"persistence": "TA0003", "privilege-escalation": "TA0004", "defense-evasion": "TA0005", "stealth": "TA0005",
	"defense-impairment": "TA0005", "credential-access": "TA0006", "discovery": "TA0007", "lateral-movement": "TA0008",
	"collection": "TA0009", "exfiltration": "TA0010", "command-and-control": "TA0011", "impact": "TA0040",
}

// threats turns `attack.*` tags into ATT&CK entries: one per tactic, with
// the rule's techniques (and sub-techniques) under each.
func threats(tags []string) []rule.Threat {
	var tacs []rule.Ref
	var techs []rule.Technique
	idx := map[string]int{}
	for _, t := range tags {
		name, ok := strings.CutPrefix(strings.ToLower(t), "attack.")
		if !ok {
			continue
		}
		if id, ok := tactics[name]; ok {
			tacs = append(tacs, rule.Ref{ID: id, Name: titleCase(name), Reference: "https://attack.mitre.org/tactics/" + id + "/"})
			continue
		}
		if len(name) < 2 || name[0] != 't' || name[1] < '0' || name[1] > '9' {
			continue
		}
		id := strings.ToUpper(name)
		if parent, _, sub := strings.Cut(id, "."); sub {
			i, ok := idx[parent]
			if !ok {
				i = len(techs)
				idx[parent] = i
				techs = append(techs, rule.Technique{Ref: rule.Ref{ID: parent, Reference: "https://attack.mitre.org/techniques/" + parent + "/"}})
			}
			techs[i].Subtechniques = append(techs[i].Subtechniques, rule.Ref{ID: id, Reference: "https://attack.mitre.org/techniques/" + strings.ReplaceAll(id, ".", "/") + "/"})
			continue
		}
		if _, ok := idx[id]; !ok {
			idx[id] = len(techs)
			techs = append(techs, rule.Technique{Ref: rule.Ref{ID: id, Reference: "https://attack.mitre.org/techniques/" + id + "/"}})
		}
	}
	var out []rule.Threat
	for _, tac := range tacs {
		out = append(out, rule.Threat{Framework: "MITRE ATT&CK", Tactic: tac, Techniques: techs})
	}
	return out
}

func titleCase(s string) string {
	words := strings.Split(s, "-")
	for i, w := range words {
		if w == "and" {
			continue
		}
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

// conditions returns a detection's condition: one, or a list.
func conditions(v *yaml.Node) []string {
	if v.Kind != yaml.SequenceNode {
		return []string{v.Value}
	}
	var out []string
	for _, e := range v.Content {
		out = append(out, e.Value)
	}
	return out
}
