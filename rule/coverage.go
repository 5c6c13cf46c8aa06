package rule

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Tactics are the Enterprise ATT&CK tactics in the matrix's order, with the
// short names ATT&CK Navigator layers use.
var Tactics = []struct{ ID, Short string }{
	{"TA0043", "reconnaissance"}, {"TA0042", "resource-development"}, {"TA0001", "initial-access"},
	{"TA0002", "execution"}, {"TA0003", "persistence"}, {"TA0004", "privilege-escalation"},
	{"TA0005", "defense-evasion"}, {"TA0006", "credential-access"}, {"TA0007", "discovery"},
	{"TA0008", "lateral-movement"}, {"TA0009", "collection"}, {"TA0011", "command-and-control"},
	{"TA0010", "exfiltration"}, {"TA0040", "impact"},
}

// CoveredTechnique is one (tactic, technique or sub-technique) pair and
// the rules mapped to it. Technique is "" for rules that name the tactic
// only.
type CoveredTechnique struct {
	Tactic    Ref
	Technique Ref
	Rules     []*Rule
}

// ByFormat counts the rules per format ("elastic 2, sigma 1").
func (c CoveredTechnique) ByFormat() string {
	n := map[string]int{}
	for _, r := range c.Rules {
		n[r.Format]++
	}
	var fs []string
	for f := range n {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%s %d", f, n[f]))
	}
	return strings.Join(out, ", ")
}

// Alerting reports whether r raises alerts: it runs, and it is not only
// read by a correlation that keeps its inputs silent (generate: false,
// which includes the searches of Sigma 1 aggregations).
func Alerting(rules []*Rule) func(*Rule) bool {
	silent := map[*Rule]bool{}
	for _, c := range rules {
		if c.Correlation == nil || c.Correlation.Generate || !c.Runnable() {
			continue
		}
		for _, ref := range c.Correlation.Rules {
			for _, r := range rules {
				if r != c && ref != "" && (r.ID == ref || r.Alias == ref || r.Name == ref) {
					silent[r] = true
				}
			}
		}
	}
	return func(r *Rule) bool { return r.Runnable() && !silent[r] }
}

// Coverage maps the rules that run and raise alerts to the ATT&CK tactics
// and techniques they name, in the matrix's tactic order, then by technique
// id. A rule naming a sub-technique covers the sub-technique (not also its
// parent). Rules that do not run are not counted.
func Coverage(rules []*Rule) []CoveredTechnique {
	alerting := Alerting(rules)
	type key struct{ tactic, tech string }
	idx := map[key]*CoveredTechnique{}
	var out []*CoveredTechnique
	add := func(tac, tech Ref, r *Rule) {
		k := key{tac.ID, tech.ID}
		c := idx[k]
		if c == nil {
			c = &CoveredTechnique{Tactic: tac, Technique: tech}
			if c.Tactic.Name == "" {
				c.Tactic.Name = AttackName(tac.ID)
			}
			if c.Technique.Name == "" {
				c.Technique.Name = AttackName(tech.ID)
			}
			c.Tactic.Reference, c.Technique.Reference = "", ""
			idx[k] = c
			out = append(out, c)
		}
		if !slices.Contains(c.Rules, r) {
			c.Rules = append(c.Rules, r)
		}
	}
	for _, r := range rules {
		if !alerting(r) {
			continue
		}
		for _, th := range r.Threat {
			if th.Tactic.ID == "" {
				continue
			}
			tac := Ref{ID: strings.ToUpper(th.Tactic.ID), Name: th.Tactic.Name}
			if len(th.Techniques) == 0 {
				add(tac, Ref{}, r)
			}
			for _, t := range th.Techniques {
				if len(t.Subtechniques) == 0 {
					add(tac, Ref{ID: strings.ToUpper(t.ID), Name: t.Name}, r)
				}
				for _, s := range t.Subtechniques {
					add(tac, Ref{ID: strings.ToUpper(s.ID), Name: s.Name}, r)
				}
			}
		}
	}
	order := map[string]int{}
	for i, t := range Tactics {
		order[t.ID] = i
	}
	rank := func(id string) int {
		if i, ok := order[id]; ok {
			return i
		}
		return len(Tactics)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ra, rb := rank(a.Tactic.ID), rank(b.Tactic.ID); ra != rb {
			return ra < rb
		}
		if a.Tactic.ID != b.Tactic.ID {
			return a.Tactic.ID < b.Tactic.ID
		}
		return a.Technique.ID < b.Technique.ID
	})
	res := make([]CoveredTechnique, len(out))
	for i, c := range out {
		sort.Slice(c.Rules, func(x, y int) bool { return c.Rules[x].Name < c.Rules[y].Name })
		res[i] = *c
	}
	return res
}

// WriteCoverageTable writes the coverage as a Markdown table: tactic,
// technique, number of rules, rules by format, rule names.
func WriteCoverageTable(w io.Writer, cov []CoveredTechnique) error {
	var b strings.Builder
	b.WriteString("| tactic | technique | rules | by format | rule names |\n|---|---|---|---|---|\n")
	for _, c := range cov {
		tech := "(tactic only)"
		if c.Technique.ID != "" {
			tech = c.Technique.ID + " " + c.Technique.Name
		}
		var names []string
		for _, r := range c.Rules {
			names = append(names, strings.ReplaceAll(r.Name, "|", `\|`))
		}
		fmt.Fprintf(&b, "| %s %s | %s | %d | %s | %s |\n", c.Tactic.ID, c.Tactic.Name, tech, len(c.Rules), c.ByFormat(), strings.Join(names, "; "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// NavigatorLayer is an ATT&CK Navigator layer (layer format 4.5).
type NavigatorLayer struct {
	Name        string               `json:"name"`
	Versions    NavigatorVersions    `json:"versions"`
	Domain      string               `json:"domain"`
	Description string               `json:"description"`
	Techniques  []NavigatorTechnique `json:"techniques"`
	Gradient    NavigatorGradient    `json:"gradient"`
	Legend      []any                `json:"legendItems"`
}

// NavigatorVersions are the ATT&CK, Navigator and layer format versions.
type NavigatorVersions struct {
	Attack    string `json:"attack"`
	Navigator string `json:"navigator"`
	Layer     string `json:"layer"`
}

// NavigatorTechnique scores one technique under one tactic.
type NavigatorTechnique struct {
	TechniqueID string `json:"techniqueID"`
	Tactic      string `json:"tactic,omitempty"`
	Score       int    `json:"score"`
	Comment     string `json:"comment,omitempty"`
	Enabled     bool   `json:"enabled"`
}

// NavigatorGradient colours scores from min to max.
type NavigatorGradient struct {
	Colors   []string `json:"colors"`
	MinValue int      `json:"minValue"`
	MaxValue int      `json:"maxValue"`
}

// Navigator turns the coverage into a Navigator layer: each technique under
// each tactic scored with the number of rules covering it, the rule names
// as its comment. Tactic-only entries and tactics Navigator does not know
// are left out.
func Navigator(name string, cov []CoveredTechnique) NavigatorLayer {
	short := map[string]string{}
	for _, t := range Tactics {
		short[t.ID] = t.Short
	}
	l := NavigatorLayer{
		Name:        name,
		Versions:    NavigatorVersions{Attack: "16", Navigator: "5.1.0", Layer: "4.5"},
		Domain:      "enterprise-attack",
		Description: "Techniques covered by the rules trailhound runs; score = number of rules",
		Techniques:  []NavigatorTechnique{},
		Gradient:    NavigatorGradient{Colors: []string{"#ffffff", "#66b1ff", "#0050b3"}, MinValue: 0, MaxValue: 1},
		Legend:      []any{},
	}
	for _, c := range cov {
		tac, ok := short[c.Tactic.ID]
		if !ok || c.Technique.ID == "" {
			continue
		}
		var names []string
		for _, r := range c.Rules {
			names = append(names, r.Name)
		}
		l.Techniques = append(l.Techniques, NavigatorTechnique{TechniqueID: c.Technique.ID, Tactic: tac, Score: len(c.Rules),
			Comment: strings.Join(names, "; "), Enabled: true})
		l.Gradient.MaxValue = max(l.Gradient.MaxValue, len(c.Rules))
	}
	return l
}

// WriteNavigator writes the layer as indented JSON.
func WriteNavigator(w io.Writer, l NavigatorLayer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(l)
}

var (
	navigatorID    = regexp.MustCompile(`^T\d{4}(\.\d{3})?$`)
	navigatorLayer = regexp.MustCompile(`^4\.\d+$`)
)

// ValidateNavigatorJSON checks a layer file against the required fields and
// value formats of ATT&CK Navigator's layer format 4.x: a name, a domain,
// versions.layer; techniques with a techniqueID (T1234 or T1234.567), a
// known tactic short name when one is given and a numeric score; a
// gradient, when present, of at least two colours over minValue < maxValue.
func ValidateNavigatorJSON(data []byte) error {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("layer is not a JSON object: %w", err)
	}
	if s, _ := doc["name"].(string); s == "" {
		return fmt.Errorf("layer: name missing")
	}
	switch doc["domain"] {
	case "enterprise-attack", "mobile-attack", "ics-attack":
	default:
		return fmt.Errorf("layer: domain %v is not enterprise-attack, mobile-attack or ics-attack", doc["domain"])
	}
	v, _ := doc["versions"].(map[string]any)
	if s, _ := v["layer"].(string); !navigatorLayer.MatchString(s) {
		return fmt.Errorf("layer: versions.layer %v is not 4.x", v["layer"])
	}
	short := map[string]bool{}
	for _, tac := range Tactics {
		short[tac.Short] = true
	}
	techs, ok := doc["techniques"].([]any)
	if !ok {
		return fmt.Errorf("layer: techniques is not a list")
	}
	for i, x := range techs {
		m, _ := x.(map[string]any)
		id, _ := m["techniqueID"].(string)
		if !navigatorID.MatchString(id) {
			return fmt.Errorf("layer: technique %d: techniqueID %q", i, id)
		}
		if tac, ok := m["tactic"]; ok {
			if s, _ := tac.(string); !short[s] {
				return fmt.Errorf("layer: %s: tactic %v is not a tactic short name", id, tac)
			}
		}
		if sc, ok := m["score"]; ok {
			if _, num := sc.(float64); !num {
				return fmt.Errorf("layer: %s: score %v is not a number", id, sc)
			}
		}
	}
	if g, ok := doc["gradient"].(map[string]any); ok {
		cs, _ := g["colors"].([]any)
		lo, _ := g["minValue"].(float64)
		hi, _ := g["maxValue"].(float64)
		if len(cs) < 2 || !(lo < hi) {
			return fmt.Errorf("layer: gradient needs two colours and minValue < maxValue")
		}
	}
	return nil
}
