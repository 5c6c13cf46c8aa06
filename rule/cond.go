package rule

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/glob"
)

// Cond is a condition over one event.
type Cond interface{ cond() }

// And is true when all its conditions are.
type And struct{ Conds []Cond }

// Or is true when any of its conditions is.
type Or struct{ Conds []Cond }

// Not negates a condition. A comparison on a missing field is false, so its
// negation is true: `not f: x` holds when f is absent, as in Elastic.
type Not struct{ Cond Cond }

// Op is a comparison operator.
type Op uint8

// Operators.
const (
	OpEq       Op = iota + 1 // equals one of Values (exact keyword match)
	OpWildcard               // matches one of Patterns
	OpExists                 // the field has a non-null value
	OpLT
	OpLTE
	OpGT
	OpGTE
	OpRegex // matches the anchored regular expression Values[0] (RE2 syntax)
)

var opNames = map[Op]string{OpEq: "eq", OpWildcard: "wildcard", OpExists: "exists", OpLT: "lt", OpLTE: "lte", OpGT: "gt", OpGTE: "gte", OpRegex: "regex"}

func (o Op) String() string { return opNames[o] }

// Cmp compares a field's values. Arrays match when any element does.
type Cmp struct {
	Field    string // "" means any field (free-text search)
	Op       Op
	Values   []string  // OpEq (any of), ranges (one)
	Patterns []Pattern // OpWildcard (any of)
	// CaseInsensitive applies to OpEq and OpWildcard.
	CaseInsensitive bool
}

// Pred is a condition the comparisons above cannot express (an EQL function
// over two fields, arithmetic): Text is its source, Fields what it reads.
type Pred struct {
	Text   string
	Fields []string
	Match  func(*event.Event) bool
	// Only says that Match reads nothing of the event but the values of
	// Fields (the engine may then decide it once for events whose Fields
	// hold the same values)
	Only bool
}

func (Pred) cond() {}
func (And) cond()  {}
func (Or) cond()   {}
func (Not) cond()  {}
func (Cmp) cond()  {}

// Pattern is a wildcard pattern: literal Parts joined by `*` (any run of
// characters). It has at least one part.
type Pattern struct{ Parts []string }

// String writes the pattern with `*` for wildcards and `\*` for literal stars.
func (p Pattern) String() string {
	esc := make([]string, len(p.Parts))
	for i, s := range p.Parts {
		esc[i] = strings.NewReplacer(`\`, `\\`, `*`, `\*`).Replace(s)
	}
	return strings.Join(esc, "*")
}

// Match reports whether s matches the pattern.
func (p Pattern) Match(s string) bool { return glob.Match(p.Parts, s) }

// Lower returns the pattern in lower case (for case-insensitive matching).
func (p Pattern) Lower() Pattern {
	parts := make([]string, len(p.Parts))
	for i, s := range p.Parts {
		parts[i] = strings.ToLower(s)
	}
	return Pattern{parts}
}

// Simplify flattens nested And/Or, merges equality disjunctions on one field
// into a single Cmp, and removes double negations. It returns a new tree.
func Simplify(c Cond) Cond {
	switch c := c.(type) {
	case And:
		var out []Cond
		for _, x := range c.Conds {
			x = Simplify(x)
			if a, ok := x.(And); ok {
				out = append(out, a.Conds...)
			} else {
				out = append(out, x)
			}
		}
		if len(out) == 1 {
			return out[0]
		}
		return And{out}
	case Or:
		var out []Cond
		for _, x := range c.Conds {
			x = Simplify(x)
			if o, ok := x.(Or); ok {
				out = append(out, o.Conds...)
			} else {
				out = append(out, x)
			}
		}
		out = mergeEq(out)
		if len(out) == 1 {
			return out[0]
		}
		return Or{out}
	case Not:
		x := Simplify(c.Cond)
		if n, ok := x.(Not); ok {
			return n.Cond
		}
		return Not{x}
	}
	return c
}

// mergeEq merges `f == a or f == b` (same field and case sensitivity) and
// likewise wildcard patterns. A merged comparison's values are copied once,
// when it first takes another's (they may be the input's), then appended
// to: copying them at every merge made a query of 40,000 such terms take
// 7 s to load.
func mergeEq(cs []Cond) []Cond {
	var out []Cond
	idx := map[string]int{}
	owned := map[int]bool{} // out[i]'s Values and Patterns are mergeEq's own
	for _, c := range cs {
		cmp, ok := c.(Cmp)
		if !ok || (cmp.Op != OpEq && cmp.Op != OpWildcard) || cmp.Field == "" {
			out = append(out, c)
			continue
		}
		key := cmp.Field + "\x00" + strconv.Itoa(int(cmp.Op)) + strconv.FormatBool(cmp.CaseInsensitive)
		if i, ok := idx[key]; ok {
			m := out[i].(Cmp)
			if !owned[i] {
				owned[i] = true
				m.Values, m.Patterns = slices.Clone(m.Values), slices.Clone(m.Patterns)
			}
			m.Values = append(m.Values, cmp.Values...)
			m.Patterns = append(m.Patterns, cmp.Patterns...)
			out[i] = m
			continue
		}
		idx[key] = len(out)
		out = append(out, cmp)
	}
	return out
}

// Conjuncts returns the top-level conjuncts of c.
func Conjuncts(c Cond) []Cond {
	if a, ok := c.(And); ok {
		return a.Conds
	}
	return []Cond{c}
}

// Walk calls fn for every comparison in c, negated or not.
func Walk(c Cond, fn func(Cmp)) {
	switch c := c.(type) {
	case And:
		for _, x := range c.Conds {
			Walk(x, fn)
		}
	case Or:
		for _, x := range c.Conds {
			Walk(x, fn)
		}
	case Not:
		Walk(c.Cond, fn)
	case Cmp:
		fn(c)
	case Pred:
		for _, f := range c.Fields {
			fn(Cmp{Field: f, Op: OpExists})
		}
	}
}

// Fields returns the sorted set of field names c reads.
func Fields(c Cond) []string {
	set := map[string]bool{}
	Walk(c, func(c Cmp) { set[c.Field] = true })
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}
