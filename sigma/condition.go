package sigma

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/trailhound/trailhound/rule"
)

// ErrLegacy marks Sigma 1 aggregations (`| count()`, `near`), which are
// reported as unsupported, not run.
type ErrLegacy struct{ Cond string }

func (e ErrLegacy) Error() string {
	return fmt.Sprintf("legacy aggregation in condition %q (use a correlation rule): not supported", e.Cond)
}

// condition parses a Sigma condition over the compiled search identifiers.
// Precedence, loosest first: or, and, not, x of, parentheses.
func condition(text string, searches map[string]rule.Cond) (rule.Cond, error) {
	if strings.Contains(text, "|") || containsWord(text, "near") {
		return nil, ErrLegacy{text}
	}
	p := &condParser{toks: tokenize(text), searches: searches}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("condition %q: unexpected %q", text, p.toks[p.i])
	}
	return c, nil
}

func containsWord(s, w string) bool {
	for _, f := range tokenize(s) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}

// tokenize splits a condition into words and parentheses (slices of s:
// building words a rune at a time took 85 s for a 300 KB word).
func tokenize(s string) []string {
	var out []string
	start := -1 // where the current word starts, -1 between words
	for i, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '(', ')':
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			if r == '(' || r == ')' {
				out = append(out, string(r))
			}
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

type condParser struct {
	toks     []string
	i        int
	searches map[string]rule.Cond
	depth    int // how deeply the condition being parsed nests, see deeper
}

// maxDepth bounds how deeply a condition nests: each parenthesis and not is
// a level, and so is each further operand of a chain (a or b or c), which
// nests as deep in the tree the parser builds and that simplifying and
// compiling walk recursively. SigmaHQ's AWS rules nest 3 levels at most,
// ours 9; 100,000 levels took up to 145 MB, and 100,000 `or`s 85 s, to
// load.
const maxDepth = 500

// deeper enters one more level of nesting; callers restore the depth they
// started at on return.
func (p *condParser) deeper() error {
	if p.depth++; p.depth > maxDepth {
		return fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	return nil
}

func (p *condParser) restore(depth int) { p.depth = depth }

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *condParser) or() (rule.Cond, error) {
	defer p.restore(p.depth)
	if err := p.deeper(); err != nil {
		return nil, err
	}
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.i++
		if err := p.deeper(); err != nil {
			return nil, err
		}
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = rule.Or{Conds: []rule.Cond{l, r}}
	}
	return l, nil
}

func (p *condParser) and() (rule.Cond, error) {
	defer p.restore(p.depth)
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.i++
		if err := p.deeper(); err != nil {
			return nil, err
		}
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = rule.And{Conds: []rule.Cond{l, r}}
	}
	return l, nil
}

func (p *condParser) not() (rule.Cond, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.i++
		defer p.restore(p.depth)
		if err := p.deeper(); err != nil {
			return nil, err
		}
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return rule.Not{Cond: x}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (rule.Cond, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, fmt.Errorf("condition ends early")
	case t == "(":
		p.i++
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return c, nil
	case t == "1" || strings.EqualFold(t, "all") || strings.EqualFold(t, "any"):
		if p.i+2 >= len(p.toks) || !strings.EqualFold(p.toks[p.i+1], "of") {
			break
		}
		pattern := p.toks[p.i+2]
		p.i += 3
		names := p.match(pattern)
		if len(names) == 0 {
			return nil, fmt.Errorf("%s of %s: no search identifier matches", t, pattern)
		}
		var conds []rule.Cond
		for _, n := range names {
			conds = append(conds, p.searches[n])
		}
		if t == "1" || strings.EqualFold(t, "any") {
			return rule.Or{Conds: conds}, nil
		}
		return rule.And{Conds: conds}, nil
	}
	p.i++
	c, ok := p.searches[t]
	if !ok {
		return nil, fmt.Errorf("unknown search identifier %q", t)
	}
	return c, nil
}

// match returns the search identifiers a `x of` pattern names, sorted;
// `them` is all of them except those starting with `_`.
func (p *condParser) match(pattern string) []string {
	var out []string
	for n := range p.searches {
		if pattern == "them" {
			if !strings.HasPrefix(n, "_") {
				out = append(out, n)
			}
			continue
		}
		if ok, _ := path.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
