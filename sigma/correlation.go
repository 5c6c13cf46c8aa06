package sigma

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trailhound/trailhound/rule"
)

// correlation reads a correlation block.
func correlation(n *yaml.Node) (*rule.Correlation, error) {
	var c struct {
		Type      string                       `yaml:"type"`
		Rules     []string                     `yaml:"rules"`
		GroupBy   []string                     `yaml:"group-by"`
		Timespan  string                       `yaml:"timespan"`
		Condition map[string]yaml.Node         `yaml:"condition"`
		Aliases   map[string]map[string]string `yaml:"aliases"`
		Generate  bool                         `yaml:"generate"`
	}
	if err := n.Decode(&c); err != nil {
		return nil, err
	}
	out := &rule.Correlation{Type: c.Type, Rules: c.Rules, GroupBy: c.GroupBy, Aliases: c.Aliases, Generate: c.Generate}
	switch c.Type {
	case "event_count", "value_count", "temporal", "temporal_ordered":
	case "value_sum", "value_avg", "value_percentile":
		return nil, fmt.Errorf("type %s is not supported", c.Type)
	default:
		return nil, fmt.Errorf("unknown correlation type %q", c.Type)
	}
	if len(c.Rules) == 0 {
		return nil, fmt.Errorf("no rules")
	}
	if (c.Type == "temporal" || c.Type == "temporal_ordered") && len(c.Rules) < 2 {
		return nil, fmt.Errorf("%s needs at least two rules", c.Type)
	}
	d, err := timespan(c.Timespan)
	if err != nil {
		return nil, err
	}
	out.Timespan = d
	for k, v := range c.Condition {
		switch k {
		case "gt", "gte", "lt", "lte", "eq", "neq":
			if out.Op != "" {
				return nil, fmt.Errorf("condition has more than one comparison")
			}
			out.Op = k
			if out.Value, err = strconv.Atoi(v.Value); err != nil {
				return nil, fmt.Errorf("condition %s: %q is not a whole number", k, v.Value)
			}
		case "field":
			out.Field = v.Value
		default:
			return nil, fmt.Errorf("unknown condition key %q", k)
		}
	}
	switch {
	case (c.Type == "event_count" || c.Type == "value_count") && out.Op == "":
		return nil, fmt.Errorf("%s needs a condition (gt, gte, lt, lte, eq or neq)", c.Type)
	case c.Type == "value_count" && out.Field == "":
		return nil, fmt.Errorf("value_count needs condition.field")
	}
	return out, nil
}

// timespan parses Sigma's Ns, Nm, Nh, Nd.
func timespan(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("timespan %q: want a number and s, m, h or d", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	if err != nil || unit == 0 || n <= 0 || n > int(math.MaxInt64/unit) {
		return 0, fmt.Errorf("timespan %q: want a number and s, m, h or d", s)
	}
	return time.Duration(n) * unit, nil
}

// filter reads a filter document: the rules it applies to and its
// condition, which ApplyFilters ANDs into them.
func filter(r *rule.Rule, n *yaml.Node, opts Options) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("filter is not a map")
	}
	body := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "rules" {
			for _, x := range n.Content[i+1].Content {
				r.FilterOf = append(r.FilterOf, x.Value)
			}
			continue
		}
		body.Content = append(body.Content, n.Content[i], n.Content[i+1])
	}
	cond, text, err := detection(body, opts)
	if err != nil {
		return err
	}
	r.Cond, r.Query = rule.Simplify(cond), text
	r.Unsupported = "a filter document: not applied yet"
	return nil
}

// ApplyFilters ANDs each Sigma filter document's condition into the rules
// it names (all Sigma rules when it names none) and marks the filter as
// applied. Unknown rule references are errors.
func ApplyFilters(rules []*rule.Rule) []error {
	var errs []error
	for _, f := range rules {
		if f.Type != "sigma_filter" || f.Cond == nil || f.Unsupported != "a filter document: not applied yet" {
			continue
		}
		var applied []string
		for _, ref := range f.FilterOf {
			found := false
			for _, r := range rules {
				if r.Format == "sigma" && r.Type == "sigma" && Refers(r, ref) {
					r.Cond = rule.And{Conds: []rule.Cond{r.Cond, f.Cond}}
					applied = append(applied, r.Name)
					found = true
				}
			}
			if !found {
				errs = append(errs, fmt.Errorf("%s: filter %q names rule %q, which is not loaded", f.Path, f.Name, ref))
			}
		}
		if len(f.FilterOf) == 0 {
			for _, r := range rules {
				if r.Format == "sigma" && r.Type == "sigma" && r.Cond != nil {
					r.Cond = rule.And{Conds: []rule.Cond{r.Cond, f.Cond}}
					applied = append(applied, r.Name)
				}
			}
		}
		f.Unsupported = fmt.Sprintf("a filter document: applied to %d rule(s) (%s)", len(applied), strings.Join(applied, ", "))
	}
	return errs
}

// Refers reports whether ref (an id or a name) names r.
func Refers(r *rule.Rule, ref string) bool {
	return ref != "" && (r.ID == ref || r.Alias == ref || r.Name == ref)
}
