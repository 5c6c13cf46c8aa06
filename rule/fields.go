package rule

import "sort"

// Fields returns the sorted set of event fields the rule reads to decide
// whether and how it fires: its condition, sequence steps and join keys,
// new_terms and threshold fields, suppression and correlation group-by
// fields, and the fields that decide an ES|QL query's rows (not those it
// only lists with VALUES()).
func (r *Rule) Fields() []string {
	set := map[string]bool{}
	add := func(fs ...string) {
		for _, f := range fs {
			if f != "" {
				set[f] = true
			}
		}
	}
	if r.Cond != nil {
		add(Fields(r.Cond)...)
	}
	if s := r.Sequence; s != nil {
		add(s.By...)
		steps := s.Steps
		if s.Until != nil {
			steps = append(steps[:len(steps):len(steps)], *s.Until)
		}
		for _, st := range steps {
			if st.Cond != nil {
				add(Fields(st.Cond)...)
			}
			add(st.By...)
		}
	}
	if r.NewTerms != nil {
		add(r.NewTerms.Fields...)
	}
	if t := r.Threshold; t != nil {
		add(t.Fields...)
		for _, c := range t.Cardinality {
			add(c.Field)
		}
	}
	if r.Suppression != nil {
		add(r.Suppression.GroupBy...)
	}
	if c := r.Correlation; c != nil {
		add(c.GroupBy...)
		add(c.Field)
		for _, byRule := range c.Aliases {
			for _, f := range byRule {
				add(f)
			}
		}
	}
	if r.ESQL != nil {
		add(r.ESQL.DecisionFields()...)
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// RequireFields marks as unsupported every runnable rule that reads a field
// for which unavailable returns a reason, with that reason (the first
// field's, in sorted order). A rule that needs what cannot be computed is
// listed as not run, never run as a weaker rule.
func RequireFields(rules []*Rule, unavailable func(field string) string) {
	for _, r := range rules {
		if r.Unsupported != "" {
			continue
		}
		for _, f := range r.Fields() {
			if why := unavailable(f); why != "" {
				r.Unsupported = why
				break
			}
		}
	}
}
