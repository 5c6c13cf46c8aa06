// Package panther loads Panther analysis YAML: rule metadata, simple
// detections (Detection, InlineFilters, AlertTitle, AlertContext, GroupBy,
// DynamicSeverities), dedup and threshold settings, and unit tests. Rules
// whose logic lives in a Python file are loaded (metadata, dedup and tests)
// with Script naming the file; package pyrule runs them.
package panther

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fastjson"
	"go.yaml.in/yaml/v3"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/yamlexpand"
)

type document struct {
	AnalysisType       string              `yaml:"AnalysisType"`
	QueryName          string              `yaml:"QueryName"`
	DataModelID        string              `yaml:"DataModelID"`
	Filename           string              `yaml:"Filename"`
	RuleID             string              `yaml:"RuleID"`
	DisplayName        string              `yaml:"DisplayName"`
	Enabled            *bool               `yaml:"Enabled"`
	LogTypes           []string            `yaml:"LogTypes"`
	Severity           string              `yaml:"Severity"`
	Status             string              `yaml:"Status"`
	Description        string              `yaml:"Description"`
	Runbook            string              `yaml:"Runbook"`
	Reference          string              `yaml:"Reference"`
	Reports            map[string][]string `yaml:"Reports"`
	Tags               []string            `yaml:"Tags"`
	SummaryAttributes  []string            `yaml:"SummaryAttributes"`
	DedupPeriodMinutes int                 `yaml:"DedupPeriodMinutes"`
	Threshold          int                 `yaml:"Threshold"`
	CreateAlert        *bool               `yaml:"CreateAlert"`
	Detection          yaml.Node           `yaml:"Detection"`
	InlineFilters      yaml.Node           `yaml:"InlineFilters"`
	AlertTitle         string              `yaml:"AlertTitle"`
	AlertContext       []struct {
		KeyName  string    `yaml:"KeyName"`
		KeyValue yaml.Node `yaml:"KeyValue"`
	} `yaml:"AlertContext"`
	GroupBy           []yaml.Node `yaml:"GroupBy"`
	DynamicSeverities []struct {
		ChangeTo   string    `yaml:"ChangeTo"`
		Conditions yaml.Node `yaml:"Conditions"`
	} `yaml:"DynamicSeverities"`
	Tests []testDoc `yaml:"Tests"`
}

type testDoc struct {
	Name           string      `yaml:"Name"`
	ExpectedResult bool        `yaml:"ExpectedResult"`
	Log            yaml.Node   `yaml:"Log"`
	Logs           []yaml.Node `yaml:"Logs"`
	Mocks          []struct {
		ObjectName  string `yaml:"objectName"`
		ReturnValue any    `yaml:"returnValue"`
	} `yaml:"Mocks"`
	LogType              string         `yaml:"LogType"`
	ExpectedDedup        string         `yaml:"ExpectedDedup"`
	ExpectedTitle        string         `yaml:"ExpectedTitle"`
	ExpectedSeverity     string         `yaml:"ExpectedSeverity"`
	ExpectedAlertContext map[string]any `yaml:"ExpectedAlertContext"`
}

// IsPanther reports whether YAML data is a Panther analysis file.
func IsPanther(data []byte) bool {
	// a line that starts with the key, as (?m)^AnalysisType: matches:
	// without compiling that for every file read
	const key = "AnalysisType:"
	return bytes.HasPrefix(data, []byte(key)) || bytes.Contains(data, []byte("\n"+key))
}

// severities maps Panther severities to trailhound's, with a risk score.
var severities = map[string]struct {
	Severity string
	Risk     int
}{
	"info": {"low", 1}, "low": {"low", 21}, "medium": {"medium", 47}, "high": {"high", 73}, "critical": {"critical", 99},
}

// Parse loads one Panther YAML file with its unit tests.
func Parse(path string, data []byte) (*rule.Rule, error) { return parse(path, data, true) }

// ParseWithoutTests loads one Panther YAML file but its unit tests (the
// Tests block, most of a file's text, is neither parsed nor checked): for a
// hunt, which does not run them.
func ParseWithoutTests(path string, data []byte) (*rule.Rule, error) { return parse(path, data, false) }

func parse(path string, data []byte, withTests bool) (*rule.Rule, error) {
	d, err := decodeDoc(data, withTests)
	if err != nil {
		return nil, fmt.Errorf("%s: YAML: %w", path, err)
	}
	r := &rule.Rule{
		ID: d.RuleID, Name: d.DisplayName, Description: strings.TrimSpace(d.Description), Format: "panther", Path: path,
		Type: "panther", Language: "panther", Tags: d.Tags, Note: strings.TrimSpace(d.Runbook), Maturity: d.Status,
		InvestigationFields: summaryFields(d.SummaryAttributes),
		Schedule:            rule.Schedule{Interval: 5 * time.Minute, Lookback: 5 * time.Minute, From: "now-5m", MaxSignals: 1 << 30},
	}
	if d.Reference != "" {
		r.References = []string{d.Reference}
	}
	for _, id := range []string{d.QueryName, d.DataModelID} {
		if r.ID == "" {
			r.ID = id
		}
	}
	if r.Name == "" {
		r.Name = r.ID
	}
	isRule := d.AnalysisType == "rule" || d.AnalysisType == "scheduled_rule" || d.AnalysisType == "correlation_rule"
	sev, ok := severities[strings.ToLower(d.Severity)]
	if !ok && isRule {
		return nil, fmt.Errorf("%s: rule %s: Severity %q is not Info, Low, Medium, High or Critical", path, d.RuleID, d.Severity)
	}
	r.Severity, r.RiskScore = sev.Severity, sev.Risk
	r.Threat = threats(d.Reports["MITRE ATT&CK"])
	rule.FillAttackNames(r.Threat)
	for _, fw := range slices.Sorted(maps.Keys(d.Reports)) { // the same tags, in the same order, every run
		for _, it := range d.Reports[fw] {
			r.Tags = append(r.Tags, fw+": "+it)
		}
	}
	if err := tests(r, d.Tests, d.AnalysisType == "rule"); err != nil {
		return nil, fmt.Errorf("%s: rule %s: %w", path, d.RuleID, err)
	}
	switch {
	case d.AnalysisType != "rule":
		r.Type = d.AnalysisType
		r.Unsupported = fmt.Sprintf("Panther %s: only streaming rules (AnalysisType: rule) are supported", d.AnalysisType)
		return r, nil
	case d.RuleID == "":
		return nil, fmt.Errorf("%s: rule has no RuleID", path)
	case d.Enabled != nil && !*d.Enabled:
		r.Unsupported = "disabled (Enabled: false)"
	case !slices.Contains(d.LogTypes, "AWS.CloudTrail"):
		r.Unsupported = fmt.Sprintf("LogTypes %v do not include AWS.CloudTrail", d.LogTypes)
	}
	if d.Detection.Kind == 0 && d.Filename != "" {
		// Python-backed: package pyrule runs it when python3 is there
		r.Script = filepath.Join(filepath.Dir(path), d.Filename)
		r.Language = "python"
		if r.Unsupported == "" {
			r.Unsupported = NeedsPython + fmt.Sprintf(" (its logic is in %s)", d.Filename)
		}
		if err := dedupOf(r, &d, path); err != nil {
			return nil, err
		}
		return r, nil
	}
	if d.Detection.Kind == 0 {
		why := "no Detection"
		if r.Unsupported != "" {
			why += "; also " + r.Unsupported
		}
		r.Unsupported = why
		return r, nil
	}
	det, err := compileList(&d.Detection)
	if err != nil {
		return nil, fmt.Errorf("%s: rule %s: Detection: %w", path, d.RuleID, err)
	}
	if d.InlineFilters.Kind != 0 {
		f, err := compileList(&d.InlineFilters)
		if err != nil {
			return nil, fmt.Errorf("%s: rule %s: InlineFilters: %w", path, d.RuleID, err)
		}
		inner := det
		det = func(v *fastjson.Value) bool { return f(v) && inner(v) }
	}
	r.Cond = rule.Pred{Text: "the Detection above", Match: func(ev *event.Event) bool { return det(ev.Source()) }}
	if b, err := yaml.Marshal(&d.Detection); err == nil {
		r.Query = strings.TrimSpace(string(b))
	}
	r.Output = &rule.Output{}
	title := d.AlertTitle
	if title == "" {
		title = r.Name
	}
	r.Output.Title = func(ev *event.Event) string { return interpolate(title, ev.Source()) }
	if len(d.AlertContext) > 0 {
		type ctxKey struct {
			name string
			k    key
		}
		var keys []ctxKey
		for _, c := range d.AlertContext {
			k, err := keyOf(&c.KeyValue)
			if err != nil {
				return nil, fmt.Errorf("%s: rule %s: AlertContext %s: %w", path, d.RuleID, c.KeyName, err)
			}
			keys = append(keys, ctxKey{c.KeyName, k})
		}
		r.Output.Context = func(ev *event.Event) map[string]any {
			out := map[string]any{}
			for _, c := range keys {
				vals, multi := c.k.get(ev.Source())
				switch {
				case len(vals) == 0:
					out[c.name] = nil
				case multi:
					var list []any
					for _, v := range vals {
						list = append(list, json.RawMessage(event.AppendJSON(nil, v)))
					}
					out[c.name] = list
				default:
					out[c.name] = json.RawMessage(event.AppendJSON(nil, vals[0]))
				}
			}
			return out
		}
	}
	if len(d.DynamicSeverities) > 0 {
		type dyn struct {
			sev string
			e   expr
		}
		var ds []dyn
		for _, s := range d.DynamicSeverities {
			e, err := compileList(&s.Conditions)
			if err != nil {
				return nil, fmt.Errorf("%s: rule %s: DynamicSeverities: %w", path, d.RuleID, err)
			}
			sv, ok := severities[strings.ToLower(s.ChangeTo)]
			if !ok {
				return nil, fmt.Errorf("%s: rule %s: DynamicSeverities: ChangeTo %q", path, d.RuleID, s.ChangeTo)
			}
			ds = append(ds, dyn{sv.Severity, e})
		}
		r.Output.Severity = func(ev *event.Event) string {
			for _, x := range ds {
				if x.e(ev.Source()) {
					return x.sev
				}
			}
			return ""
		}
	}
	if err := dedupOf(r, &d, path); err != nil {
		return nil, err
	}
	if len(d.GroupBy) > 0 {
		var keys []key
		for _, g := range d.GroupBy {
			k, err := keyOf(&g)
			if err != nil {
				return nil, fmt.Errorf("%s: rule %s: GroupBy: %w", path, d.RuleID, err)
			}
			keys = append(keys, k)
		}
		r.Dedup.Key = func(ev *event.Event) string {
			var parts []string
			for _, k := range keys {
				vals, _ := k.get(ev.Source())
				s := ""
				if len(vals) > 0 {
					s = string(event.AppendJSON(nil, vals[0]))
				}
				parts = append(parts, s)
			}
			return strings.Join(parts, "\x1f")
		}
	}
	return r, nil
}

// NeedsPython begins the reason a Python-backed rule does not run until a
// Python runtime (package pyrule) takes it.
const NeedsPython = "needs python3"

// dedupOf sets the rule's Panther dedup period, threshold and signal flag.
func dedupOf(r *rule.Rule, d *document, path string) error {
	switch {
	case d.DedupPeriodMinutes < 0 || d.DedupPeriodMinutes > math.MaxInt64/int(time.Minute):
		return fmt.Errorf("%s: rule %s: DedupPeriodMinutes %d: want 0 (the default, 60) or more minutes", path, d.RuleID, d.DedupPeriodMinutes)
	case d.Threshold < 0:
		return fmt.Errorf("%s: rule %s: Threshold %d: want 0 (the default, 1) or more", path, d.RuleID, d.Threshold)
	}
	dd := &rule.Dedup{Period: time.Duration(d.DedupPeriodMinutes) * time.Minute, Threshold: d.Threshold, Signal: d.CreateAlert != nil && !*d.CreateAlert}
	if dd.Period == 0 {
		dd.Period = time.Hour
	}
	if dd.Threshold == 0 {
		dd.Threshold = 1
	}
	r.Dedup = dd
	return nil
}

// summaryFields turns SummaryAttributes (nested paths use ':') into field
// names; p_any_* fields are Panther's indicators, which trailhound does not
// compute.
func summaryFields(attrs []string) []string {
	var out []string
	for _, a := range attrs {
		if strings.HasPrefix(a, "p_") {
			continue
		}
		out = append(out, strings.ReplaceAll(a, ":", "."))
	}
	if len(out) == 0 {
		out = []string{"eventTime", "eventSource", "eventName", "userIdentity.arn", "sourceIPAddress", "userAgent", "recipientAccountId"}
	}
	return out
}

var titleRef = regexp.MustCompile(`\{([^{}]+)\}`)

// interpolate fills {dot.path} references from the event; a missing value
// renders as the empty string.
func interpolate(s string, root *fastjson.Value) string {
	return titleRef.ReplaceAllStringFunc(s, func(m string) string {
		k, err := parseKeyPath(m[1 : len(m)-1])
		if err != nil {
			return m
		}
		vals, _ := k.get(root)
		if len(vals) == 0 {
			return ""
		}
		if vals[0].Type() == fastjson.TypeString {
			return string(vals[0].GetStringBytes())
		}
		return string(event.AppendJSON(nil, vals[0]))
	})
}

func tests(r *rule.Rule, ts []testDoc, needLog bool) error {
	for _, t := range ts {
		tt := rule.Test{Name: t.Name, Expected: t.ExpectedResult, ExpectedTitle: t.ExpectedTitle,
			ExpectedSeverity: t.ExpectedSeverity, ExpectedContext: t.ExpectedAlertContext, HasMocks: len(t.Mocks) > 0, Path: r.Path,
			LogType: t.LogType, ExpectedDedup: t.ExpectedDedup}
		for i, m := range t.Mocks {
			if m.ObjectName == "" {
				return fmt.Errorf("test %q: Mocks[%d] has no objectName", t.Name, i)
			}
			tt.Mocks = append(tt.Mocks, rule.Mock{ObjectName: m.ObjectName, ReturnValue: jsonable(m.ReturnValue)})
		}
		logs := t.Logs
		if t.Log.Kind != 0 {
			logs = append([]yaml.Node{t.Log}, logs...)
		}
		if len(logs) == 0 && needLog {
			return fmt.Errorf("test %q has no Log", t.Name)
		}
		for _, l := range logs {
			var v any
			if err := l.Decode(&v); err != nil {
				return fmt.Errorf("test %q: Log: %w", t.Name, err)
			}
			b, err := json.Marshal(jsonable(v))
			if err != nil {
				return fmt.Errorf("test %q: Log: %w", t.Name, err)
			}
			tt.Logs = append(tt.Logs, b)
		}
		r.Tests = append(r.Tests, tt)
	}
	return nil
}

// jsonable converts YAML-decoded maps to JSON-encodable ones.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// decodeDoc decodes a Panther file; without its tests, the Tests block is
// cut from the text before it is parsed when that can be done safely (else
// the whole file is decoded, and its tests dropped).
func decodeDoc(data []byte, withTests bool) (document, error) {
	var d document
	if !withTests {
		if head, line, ok := cutTests(data); ok {
			var root yaml.Node
			if yaml.Unmarshal(head, &root) == nil && emptyTestsAt(&root, line) {
				if x, err := yamlexpand.Expand(&root); err == nil && x.Decode(&d) == nil {
					d.Tests = nil
					return d, nil
				}
			}
			d = document{} // the whole file decides, as with its tests
		}
	}
	err := decodeYAML(data, &d)
	if !withTests {
		d.Tests = nil
	}
	return d, err
}

// cutTests returns the YAML text with its top-level Tests block replaced
// by "Tests: []" on the same line (1-based, returned too) and as many
// empty lines as it had, or false when
// there is no such block or more than one line could start it. The block
// ends at the next line that starts in column 0 with anything but a space,
// a tab, a comment or a sequence entry ("- ", which may sit in column 0
// under a key); a document marker ends it too.
func cutTests(data []byte) (head []byte, line int, ok bool) {
	start, end := -1, len(data)
	n := 0
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '\n')
		next := len(data)
		if j >= 0 {
			next = i + j + 1
		}
		n++
		l := data[i:next]
		switch {
		case bytes.HasPrefix(l, []byte("Tests:")) && (len(l) == 6 || strings.IndexByte(" \t\r\n", l[6]) >= 0):
			if start >= 0 {
				return nil, 0, false
			}
			start, line = i, n
		case start >= 0 && end == len(data) && len(l) > 0 && (bytes.HasPrefix(l, []byte("---")) ||
			bytes.HasPrefix(l, []byte("...")) || !continues(l)):
			end = i
		}
		i = next
	}
	if start < 0 {
		return nil, 0, false
	}
	// the lines cut stay as empty lines: the lines after keep their numbers
	head = append(append(make([]byte, 0, len(data)), data[:start]...), "Tests: []"...)
	head = append(head, bytes.Repeat([]byte("\n"), bytes.Count(data[start:end], []byte("\n")))...)
	head = append(head, data[end:]...)
	return head, line, true
}

// continues reports whether a line of a top-level block continues it: it
// is empty, indented, a comment or a sequence entry.
func continues(l []byte) bool {
	switch {
	case len(l) == 0 || strings.IndexByte(" \t#\r\n", l[0]) >= 0:
		return true
	case l[0] == '-':
		return len(l) == 1 || strings.IndexByte(" \t\r\n", l[1]) >= 0
	}
	return false
}

// emptyTestsAt reports whether the document's top-level mapping has the
// key Tests on the given line with an empty list: cutTests's block was the
// top-level key's (not, say, a line of a multi-line quoted string).
func emptyTestsAt(root *yaml.Node, line int) bool {
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := root.Content[0]
	found := false
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value != "Tests" {
			continue
		}
		if found || k.Line != line || k.Column != 1 || v.Kind != yaml.SequenceNode || len(v.Content) != 0 {
			return false
		}
		found = true
	}
	return found
}

// decodeYAML decodes a YAML document into v with its anchors, aliases and
// merge keys resolved, also inside yaml.Node fields.
func decodeYAML(data []byte, v any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return err
	}
	x, err := yamlexpand.Expand(&root)
	if err != nil {
		return err
	}
	if x.Kind == 0 { // an empty document
		return nil
	}
	return x.Decode(v)
}

// LoadTests reads a sidecar test file (`<rule>.tests.yaml`, a `Tests:` list
// in Panther's syntax) into tests for r.
func LoadTests(r *rule.Rule, path string, data []byte) error {
	var d struct {
		Tests []testDoc `yaml:"Tests"`
	}
	if err := decodeYAML(data, &d); err != nil {
		return fmt.Errorf("%s: YAML: %w", path, err)
	}
	save := r.Path
	r.Path = path
	err := tests(r, d.Tests, true)
	r.Path = save
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

var mitre = regexp.MustCompile(`^(TA\d{4}):(T\d{4}(?:\.\d{3})?)$`)

// threats turns "TA0006:T1110" report entries into ATT&CK entries.
func threats(items []string) []rule.Threat {
	var out []rule.Threat
	for _, it := range items {
		m := mitre.FindStringSubmatch(strings.TrimSpace(it))
		if m == nil {
			continue
		}
		tech := rule.Technique{Ref: rule.Ref{ID: m[2], Reference: "https://attack.mitre.org/techniques/" + strings.ReplaceAll(m[2], ".", "/") + "/"}}
		if parent, _, sub := strings.Cut(m[2], "."); sub {
			tech = rule.Technique{Ref: rule.Ref{ID: parent, Reference: "https://attack.mitre.org/techniques/" + parent + "/"},
				Subtechniques: []rule.Ref{tech.Ref}}
		}
		out = append(out, rule.Threat{Framework: "MITRE ATT&CK", Tactic: rule.Ref{ID: m[1], Reference: "https://attack.mitre.org/tactics/" + m[1] + "/"}, Techniques: []rule.Technique{tech}})
	}
	return out
}
