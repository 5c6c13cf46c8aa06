package eql

import (
	"errors"
	"strings"
	"testing"
)

// nested builds `any where` followed by n levels of one kind of nesting
// around the field a (the expression's own level makes n+1).
var nested = map[string]func(n int) string{
	"parentheses": func(n int) string { return strings.Repeat("(", n) + "a" + strings.Repeat(")", n) },
	"not":         func(n int) string { return strings.Repeat("not ", n) + "a" },
	"or chain":    func(n int) string { return strings.Repeat("a or ", n) + "a" },
	"and chain":   func(n int) string { return strings.Repeat("a and ", n) + "a" },
	"calls":       func(n int) string { return strings.Repeat("length(", n) + "a" + strings.Repeat(")", n) },
	"unary minus": func(n int) string { return strings.Repeat("-", n) + "a" },
	"sum":         func(n int) string { return strings.Repeat("1 + ", n) + "a" },
	"product":     func(n int) string { return strings.Repeat("2 * ", n) + "a" },
	"comparisons": func(n int) string { return strings.Repeat("a == ", n) + "a" },
	"matches":     func(n int) string { return strings.Repeat("a : ", n) + "a" },
}

// An expression nesting deeper than maxDepth is a syntax error with its
// line and column, whether it nests by recursion or by a long chain (which
// builds as deep a tree); one at the limit parses and lowers. 100,000
// levels took 160-330 MB and up to 90 s before the limit.
func TestNestingLimit(t *testing.T) {
	for name, build := range nested {
		for _, n := range []int{maxDepth - 1, maxDepth, 100_000} {
			q := "any where\n " + build(n)
			pq, err := Parse(q)
			if n < maxDepth {
				if err != nil {
					t.Errorf("%s, %d levels: %v", name, n+1, err)
					continue
				}
				if _, err := Lower(pq.Category, pq.Where, "event.category"); err != nil {
					t.Errorf("%s, %d levels: lowering: %v", name, n+1, err)
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) || e.Line != 2 || !strings.Contains(e.Msg, "nested deeper than 500 levels") {
				t.Errorf("%s, %d levels: error %v, want a syntax error on line 2 saying nested deeper than 500 levels", name, n+1, err)
			}
		}
	}
}

// Nesting is counted per expression: sequence steps and join keys start
// again from the top.
func TestNestingPerExpression(t *testing.T) {
	deep := nested["or chain"](maxDepth - 1)
	q := "sequence by " + nested["sum"](maxDepth-1) + " [any where " + deep + "] [any where " + deep + "]"
	if _, err := Parse(q); err != nil {
		t.Errorf("two steps at the limit: %v", err)
	}
}
