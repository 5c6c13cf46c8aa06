package rule

import "strings"

// Format renders a condition in a neutral, readable syntax:
// field == "v", field in ("a", "b"), field like "x*", field exists,
// field >= "n", combined with and / or / not.
func Format(c Cond) string {
	switch c := c.(type) {
	case And:
		return joinConds(c.Conds, " and ")
	case Or:
		return joinConds(c.Conds, " or ")
	case Not:
		return "not " + paren(c.Cond)
	case Cmp:
		return formatCmp(c)
	case Pred:
		return c.Text
	}
	return "?"
}

func paren(c Cond) string {
	switch c.(type) {
	case And, Or:
		return "(" + Format(c) + ")"
	}
	return Format(c)
}

func joinConds(cs []Cond, sep string) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = paren(c)
	}
	return strings.Join(s, sep)
}

func fieldName(f string) string {
	if f == "" {
		return "any field"
	}
	return f
}

// quote writes s in double quotes, escaping only quotes and backslashes
// that precede a quote, so patterns read as written.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = quote(v)
	}
	return strings.Join(q, ", ")
}

func formatCmp(c Cmp) string {
	f := fieldName(c.Field)
	ci := ""
	if c.CaseInsensitive {
		ci = "~"
	}
	switch c.Op {
	case OpExists:
		return f + " exists"
	case OpEq:
		if len(c.Values) == 1 {
			return f + " ==" + ci + " " + quote(c.Values[0])
		}
		return f + " in" + ci + " (" + quoteAll(c.Values) + ")"
	case OpWildcard:
		ps := make([]string, len(c.Patterns))
		for i, p := range c.Patterns {
			ps[i] = p.String()
		}
		if len(ps) == 1 {
			return f + " like" + ci + " " + quote(ps[0])
		}
		return f + " like" + ci + " (" + quoteAll(ps) + ")"
	case OpRegex:
		return f + " regex" + ci + " " + quote(c.Values[0])
	case OpLT:
		return f + " < " + quote(c.Values[0])
	case OpLTE:
		return f + " <= " + quote(c.Values[0])
	case OpGT:
		return f + " > " + quote(c.Values[0])
	case OpGTE:
		return f + " >= " + quote(c.Values[0])
	}
	return f + " ?"
}

// Indicator is one comparison a rule makes, for catalog-style explanations.
type Indicator struct {
	Field  string
	Op     string
	Values []string
}

// Explain splits a condition into its exclusions (top-level NOT conjuncts:
// what the rule actively suppresses) and its indicators (comparisons outside
// any NOT: what it looks for).
func Explain(c Cond) (exclusions, indicators []Indicator) {
	for _, x := range Conjuncts(c) {
		if n, ok := x.(Not); ok {
			exclusions = append(exclusions, indicatorsOf(n.Cond)...)
			continue
		}
		indicators = append(indicators, positive(x)...)
	}
	return exclusions, indicators
}

// indicatorsOf lists every comparison under c.
func indicatorsOf(c Cond) []Indicator {
	switch c := c.(type) {
	case And:
		return indicatorsAll(c.Conds)
	case Or:
		return indicatorsAll(c.Conds)
	case Not:
		return indicatorsOf(c.Cond)
	}
	return positive(c)
}

func indicatorsAll(cs []Cond) []Indicator {
	var out []Indicator
	for _, x := range cs {
		out = append(out, indicatorsOf(x)...)
	}
	return out
}

// positive lists comparisons under c that are not negated.
func positive(c Cond) []Indicator {
	switch c := c.(type) {
	case And:
		var out []Indicator
		for _, x := range c.Conds {
			out = append(out, positive(x)...)
		}
		return out
	case Or:
		var out []Indicator
		for _, x := range c.Conds {
			out = append(out, positive(x)...)
		}
		return out
	case Cmp:
		return []Indicator{indicator(c)}
	case Pred:
		field := strings.Join(c.Fields, ", ")
		if field == "" {
			field = "event"
		}
		return []Indicator{{Field: field, Op: "matches", Values: []string{c.Text}}}
	}
	return nil
}

func indicator(c Cmp) Indicator {
	in := Indicator{Field: fieldName(c.Field), Op: c.Op.String()}
	if c.CaseInsensitive {
		in.Op += " (case-insensitive)"
	}
	in.Values = append(in.Values, c.Values...)
	for _, p := range c.Patterns {
		in.Values = append(in.Values, p.String())
	}
	return in
}
