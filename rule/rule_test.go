package rule

import (
	"testing"
	"time"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		parts []string
		s     string
		want  bool
	}{
		{[]string{"abc"}, "abc", true},
		{[]string{"abc"}, "abcd", false},
		{[]string{"", ""}, "", true},
		{[]string{"", ""}, "anything", true},
		{[]string{"Add", ""}, "AddPermission20150331v2", true},
		{[]string{"Add", ""}, "addPermission", false},
		{[]string{"", "x", ""}, "axb", true},
		{[]string{"", "x", ""}, "ab", false},
		{[]string{"", "a", "b"}, "ab", true},
		{[]string{"", "ab", "ab"}, "ab", false}, // needs two occurrences
		{[]string{"", "ab", "ab"}, "abab", true},
		{[]string{"a", "b", "c"}, "abc", true},
		{[]string{"a", "b", "c"}, "ac", false},
		{[]string{"", "principal=*", ""}, "{principal=*, x=y}", true},
		{[]string{"", "principal=*", ""}, "{principal=sns}", false},
	}
	for _, tt := range tests {
		if got := (Pattern{tt.parts}).Match(tt.s); got != tt.want {
			t.Errorf("%v.Match(%q) = %v, want %v", tt.parts, tt.s, got, tt.want)
		}
	}
}

func TestSimplify(t *testing.T) {
	eq := func(f, v string) Cmp { return Cmp{Field: f, Op: OpEq, Values: []string{v}} }
	c := Simplify(And{[]Cond{eq("a", "1"), And{[]Cond{Or{[]Cond{eq("b", "x"), Or{[]Cond{eq("b", "y"), eq("c", "z")}}}}, Not{Not{eq("d", "1")}}}}}})
	want := `a == "1" and (b in ("x", "y") or c == "z") and d == "1"`
	if got := Format(c); got != want {
		t.Errorf("Simplify = %s, want %s", got, want)
	}
	exc, ind := Explain(And{[]Cond{eq("a", "1"), Not{Or{[]Cond{eq("b", "2"), eq("c", "3")}}}}})
	if len(exc) != 2 || exc[0].Field != "b" || len(ind) != 1 || ind[0].Field != "a" {
		t.Errorf("Explain = %v / %v", exc, ind)
	}
}

func TestDurations(t *testing.T) {
	for s, want := range map[string]time.Duration{"now-6m": 6 * time.Minute, "now-10d": 240 * time.Hour, "now": 0, "now-30s": 30 * time.Second} {
		if got, err := ParseDateMath(s); err != nil || got != want {
			t.Errorf("ParseDateMath(%q) = %v, %v", s, got, err)
		}
	}
	for _, bad := range []string{"now-", "now-5", "yesterday", "now-5x", "now--5m", "now-+5m"} {
		if _, err := ParseDateMath(bad); err == nil {
			t.Errorf("ParseDateMath(%q) accepted", bad)
		}
	}
}
