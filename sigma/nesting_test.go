package sigma

import (
	"errors"
	"strings"
	"testing"
)

// nestedConds builds conditions of n levels of one kind of nesting around
// the search sel (the condition's own level makes n+1).
var nestedConds = map[string]func(n int) string{
	"parentheses": func(n int) string { return strings.Repeat("(", n) + "sel" + strings.Repeat(")", n) },
	"not":         func(n int) string { return strings.Repeat("not ", n) + "sel" },
	"or chain":    func(n int) string { return strings.Repeat("sel or ", n) + "sel" },
	"and chain":   func(n int) string { return strings.Repeat("sel and ", n) + "sel" },
}

// A condition nesting deeper than maxDepth is an error naming the file and
// the condition's line, whether it nests by recursion or by a long chain
// (which builds as deep a tree); one at the limit loads and matches.
// 100,000 levels took up to 145 MB, and 100,000 `or`s 85 s, before the
// limit.
func TestNestingLimit(t *testing.T) {
	for name, build := range nestedConds {
		for _, n := range []int{maxDepth - 1, maxDepth, 100_000} {
			det := "  sel:\n    eventName: PutUserPolicy\n  condition: " + build(n) + "\n"
			got, err := matches(t, det, Options{})
			if n < maxDepth {
				if want := name != "not" || n%2 == 0; err != nil || got != want {
					t.Errorf("%s, %d levels: %v %v, want %v", name, n+1, got, err, want)
				}
				continue
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != "t.yml" || !strings.Contains(err.Error(), "line 10: condition: nested deeper than 500 levels") {
				t.Errorf("%s, %d levels: error %v, want one naming t.yml and line 10", name, n+1, err)
			}
		}
	}
}

// YAML nesting in a detection is bounded by the YAML decoder (10,000
// levels) and yamlexpand; a list or map nested in a value list is an error
// (it was read as the empty string).
func TestNestedYAML(t *testing.T) {
	deepList := func(n int, inner string) string {
		return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
	}
	for _, tt := range []struct{ name, det, want string }{
		{"100,000 nested lists", "  sel: " + deepList(100_000, "x") + "\n  condition: sel\n", "exceeded max depth"},
		{"100,000 nested maps", "  sel: " + strings.Repeat("{a: ", 100_000) + "x" + strings.Repeat("}", 100_000) + "\n  condition: sel\n", "exceeded max depth"},
		{"list in a value list", "  sel:\n    eventName: [[PutUserPolicy]]\n  condition: sel\n", "line 9: sel: eventName: a value is a scalar or a list of scalars"},
		{"map in a value list", "  sel:\n    eventName: [{a: b}]\n  condition: sel\n", "eventName: a value is a scalar or a list of scalars"},
		{"list in keywords", "  sel:\n    '|all': [[a, b]]\n  condition: sel\n", "|all: a value is a scalar or a list of scalars"},
	} {
		_, err := matches(t, tt.det, Options{})
		var e *Error
		if !errors.As(err, &e) || e.Path != "t.yml" || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming t.yml saying %q", tt.name, err, tt.want)
		}
	}
	// lists of lists of maps are ORs of ORs, as deep as YAML allows
	got, err := matches(t, "  sel: "+deepList(5000, "{eventName: PutUserPolicy}")+"\n  condition: sel\n", Options{})
	if err != nil || !got {
		t.Errorf("5,000 nested lists around a map: %v %v", got, err)
	}
}

// A condition of one long word is an unknown identifier, read in one pass
// (building it a rune at a time took 85 s for 300 KB).
func TestLongConditionWord(t *testing.T) {
	word := strings.Repeat("a", 300_000)
	_, err := matches(t, "  sel:\n    eventName: x\n  condition: ("+word+" or sel)\n", Options{})
	if err == nil || !strings.Contains(err.Error(), `line 10: condition: unknown search identifier "aaaa`) {
		t.Errorf("300 KB word: %.200v", err)
	}
	if got := tokenize("sel_a and(not\t1 of f*)\n"); strings.Join(got, "|") != "sel_a|and|(|not|1|of|f*|)" {
		t.Errorf("tokenize: %q", got)
	}
}
