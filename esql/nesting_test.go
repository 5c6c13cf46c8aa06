package esql

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// nested builds n levels of one kind of nesting around the field f (the
// expression's own level makes n+1).
const f = "event.action"

var nested = map[string]func(n int) string{
	"parentheses": func(n int) string { return strings.Repeat("(", n) + f + strings.Repeat(")", n) },
	"NOT":         func(n int) string { return strings.Repeat("NOT ", n) + f },
	"OR chain":    func(n int) string { return strings.Repeat(f+" OR ", n) + f },
	"AND chain":   func(n int) string { return strings.Repeat(f+" AND ", n) + f },
	"calls":       func(n int) string { return strings.Repeat("TO_LOWER(", n) + f + strings.Repeat(")", n) },
	"unary minus": func(n int) string { return strings.Repeat("-", n) + f },
	"unary plus":  func(n int) string { return strings.Repeat("+", n) + f },
	"sum":         func(n int) string { return strings.Repeat("1 + ", n) + f },
	"product":     func(n int) string { return strings.Repeat("2 * ", n) + f },
	"comparisons": func(n int) string { return strings.Repeat(f+" == ", n) + f },
	"casts":       func(n int) string { return f + strings.Repeat("::string", n) },
	"IS NULL":     func(n int) string { return f + strings.Repeat(" IS NULL", n) },
}

// An expression nesting deeper than maxDepth is a syntax error with its
// line and column, whether it nests by recursion or by a long chain (which
// builds as deep a tree); one at the limit parses, compiles and runs.
// 100,000 levels took up to 500 MB and 100 s before the limit.
func TestNestingLimit(t *testing.T) {
	rec := `{"eventTime":"2026-11-01T10:00:00Z","eventName":"CreateUser"}`
	for name, build := range nested {
		for _, n := range []int{maxDepth - 1, maxDepth, 100_000} {
			q := "FROM x\n| EVAL r = " + build(n) + " | KEEP r"
			if n < maxDepth {
				if _, err := Parse(q); err != nil {
					t.Errorf("%s, %d levels: %v", name, n+1, err)
					continue
				}
				tb := run(t, q, []string{rec}, time.Now())
				if len(tb.Rows) != 1 {
					t.Errorf("%s, %d levels: %d rows", name, n+1, len(tb.Rows))
				}
				continue
			}
			_, err := Parse(q)
			var e *Error
			if !errors.As(err, &e) || e.Line != 2 || !strings.Contains(e.Msg, "nested deeper than 500 levels") {
				t.Errorf("%s, %d levels: error %v, want a syntax error on line 2 saying nested deeper than 500 levels", name, n+1, err)
			}
		}
	}
}

// Nesting is counted per expression: each command and each expression of
// a command starts again from the top.
func TestNestingPerExpression(t *testing.T) {
	deep := nested["OR chain"](maxDepth - 1)
	q := "FROM x | WHERE " + deep + " | EVAL b = " + deep + ", c = " + deep + " | STATS n = COUNT(*) BY " + nested["sum"](maxDepth-1)
	if _, err := Parse(q); err != nil {
		t.Errorf("expressions at the limit: %v", err)
	}
}
