package sigma

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/trailhound/trailhound/rule"
)

// Sigma 1 aggregations run as the specification 2 correlations they mean:
//
//	search | count() [by G] OP N     with timeframe T -> event_count of search by G, OP N, timespan T
//	search | count(F) [by G] OP N    with timeframe T -> value_count of F
//	s1 | near s2 [and s3 ...]        with timeframe T -> temporal of s1, s2, ... within T
//	                                   (also written s1 near s2)
//
// The searches become hidden rules of their own (ids "<id>/search",
// "<id>/near/<name>") that the correlation reads and that raise no alerts;
// the correlation keeps the rule's id and metadata, so its alerts are the
// rule's. Other aggregation functions (min, max, avg, sum) and aggregations
// without a timeframe are still reported unsupported.

// legacyAgg is `| count(...) by ... op n` parsed.
var legacyAgg = regexp.MustCompile(`^\s*count\(\s*([^()\s]*)\s*\)\s*(?:by\s+([^\s<>=!]+)\s*)?(>=|<=|==|!=|>|<|=)\s*(\d+)\s*$`)

var legacyOps = map[string]string{">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "==": "eq", "=": "eq", "!=": "neq"}

// legacy turns a rule whose detection holds a Sigma 1 aggregation into a
// correlation (r itself) and the hidden rules it reads. It returns an error
// saying why when the aggregation has no correlation equivalent.
func legacy(r *rule.Rule, n *yaml.Node, opts Options) ([]*rule.Rule, error) {
	c := &compiler{placeholders: opts.Placeholders}
	searches := map[string]rule.Cond{}
	var conds []string
	var timeframe string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		switch k {
		case "condition":
			conds = append(conds, conditions(v)...)
		case "timeframe":
			timeframe = v.Value
		default:
			s, err := c.search(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: %w", v.Line, k, err)
			}
			searches[k] = s
		}
	}
	if len(conds) != 1 {
		return nil, fmt.Errorf("%d conditions with an aggregation: only one is supported", len(conds))
	}
	text := conds[0]
	if timeframe == "" {
		return nil, fmt.Errorf("aggregation %q without timeframe: no window to count in", text)
	}
	span, err := timespan(timeframe)
	if err != nil {
		return nil, fmt.Errorf("timeframe: %w", err)
	}
	hidden := func(id, name string, cond rule.Cond, query string) *rule.Rule {
		h := *r
		h.ID, h.Name, h.Alias, h.Query, h.Cond = id, name, "", query, rule.Simplify(cond)
		h.Type, h.Correlation, h.Tests, h.Unsupported, h.Warnings = "sigma", nil, nil, "", nil
		return &h
	}
	corr := &rule.Correlation{Timespan: span, Legacy: text}
	var out []*rule.Rule
	search, agg, piped := strings.Cut(text, "|")
	agg = strings.TrimSpace(agg)
	var near []string // the searches of a temporal correlation
	switch {
	case piped && len(agg) > 5 && strings.EqualFold(agg[:5], "near "):
		near = append([]string{search}, splitWord(agg[5:], "and")...)
	case piped:
		m := legacyAgg.FindStringSubmatch(agg)
		if m == nil {
			return nil, fmt.Errorf("aggregation %q: only count() and count(field), with an optional by field, compared with a number, and near run as correlations", agg)
		}
		cond, err := condition(search, searches)
		if err != nil {
			return nil, err
		}
		h := hidden(r.ID+"/search", r.Name+" (search counted by its aggregation)", cond, strings.TrimSpace(search))
		out = append(out, h)
		corr.Type, corr.Rules, corr.Op = "event_count", []string{h.ID}, legacyOps[m[3]]
		if m[1] != "" {
			corr.Type, corr.Field = "value_count", m[1]
		}
		if m[2] != "" {
			corr.GroupBy = []string{m[2]}
		}
		corr.Value, _ = strconv.Atoi(m[4])
	default:
		parts := splitWord(text, "near")
		if len(parts) != 2 {
			return nil, fmt.Errorf("timeframe %s without an aggregation (| count() ... or near) in condition %q: nothing to count over it", timeframe, text)
		}
		near = append([]string{parts[0]}, splitWord(parts[1], "and")...)
	}
	if near != nil {
		for _, name := range near {
			name = strings.TrimSpace(name)
			if containsWord(name, "not") {
				return nil, fmt.Errorf("near %q: the absence of a search (and not) has no correlation equivalent", name)
			}
			cond, err := condition(name, searches)
			if err != nil {
				return nil, err
			}
			h := hidden(r.ID+"/near/"+name, r.Name+" ("+name+")", cond, name)
			out = append(out, h)
			corr.Rules = append(corr.Rules, h.ID)
		}
		corr.Type = "temporal"
	}
	r.Type, r.Correlation, r.Cond, r.Query = "sigma_correlation", corr, nil, text
	return append([]*rule.Rule{r}, out...), nil
}

// splitWord splits s around the whole word w (case-insensitive).
func splitWord(s, w string) []string {
	var out []string
	toks := strings.Fields(s)
	cur := []string{}
	for _, t := range toks {
		if strings.EqualFold(t, w) {
			out = append(out, strings.Join(cur, " "))
			cur = nil
			continue
		}
		cur = append(cur, t)
	}
	return append(out, strings.Join(cur, " "))
}
