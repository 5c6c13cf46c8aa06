package rule

import (
	"runtime"
	"strconv"
	"strings"
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

// Merging `f == a or f == b ...` leaves the comparisons it was given as
// they were (their values may share an array with room past them), and
// takes memory in proportion to the terms: copying the values at every
// merge allocated 3.2 GB for 20,000 terms.
func TestSimplifyMergesInPlace(t *testing.T) {
	shared := []string{"a", "spare", "spare"}
	first := Cmp{Field: "f", Op: OpEq, Values: shared[:1]}
	const n = 20000
	or := Or{[]Cond{first}}
	for i := range n {
		or.Conds = append(or.Conds, Cmp{Field: "f", Op: OpEq, Values: []string{strconv.Itoa(i)}})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, ok := Simplify(or).(Cmp)
	runtime.ReadMemStats(&after)
	if !ok || len(got.Values) != n+1 || got.Values[0] != "a" || got.Values[n] != strconv.Itoa(n-1) {
		t.Fatalf("Simplify of %d terms on one field = %v", n+1, got)
	}
	if shared[1] != "spare" || len(first.Values) != 1 {
		t.Errorf("the first comparison's array was written to: %q", shared)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("merging %d terms allocated %d MB", n, alloc>>20)
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

// Rules sharing an id get distinct keys: across formats by the format
// (always, so a key does not change when another rule is loaded), within
// one format by the file (only for the duplicates, which are warned about).
func TestMarkDuplicateIDs(t *testing.T) {
	type in struct{ format, id, path string }
	for _, tt := range []struct {
		name     string
		rules    []in
		keys     []string
		warnings int
	}{
		{"unique", []in{{"elastic", "a", "a.toml"}, {"sigma", "b", "b.yml"}, {"panther", "c", "c.yml"}},
			[]string{"a", "sigma:b", "panther:c"}, 0},
		{"across formats", []in{{"elastic", "x", "e.toml"}, {"sigma", "x", "s.yml"}},
			[]string{"x", "sigma:x"}, 1},
		{"within a format", []in{{"sigma", "x", "1.yml"}, {"sigma", "x", "2.yml"}, {"elastic", "y", "y.toml"}},
			[]string{"sigma:x 1.yml", "sigma:x 2.yml", "y"}, 1},
		{"elastic within its format", []in{{"elastic", "x", "1.toml"}, {"elastic", "x", "2.toml"}, {"sigma", "x", "s.yml"}},
			[]string{"x 1.toml", "x 2.toml", "sigma:x"}, 1},
		{"one file twice", []in{{"sigma", "x", "m.yml"}, {"sigma", "x", "m.yml"}},
			[]string{"sigma:x m.yml", "sigma:x m.yml#1"}, 1},
		// a copy that cannot run (deprecated) is warned about, and changes
		// no key: it raises no alert to collide with
		{"deprecated copy", []in{{"elastic", "x", "x.toml"}, {"elastic", "x", "_deprecated/x.toml"}},
			[]string{"x", "x"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var rs []*Rule
			for _, r := range tt.rules {
				x := &Rule{Format: r.format, ID: r.id, Name: "n-" + r.path, Path: r.path, Cond: And{}}
				if strings.HasPrefix(r.path, "_deprecated/") {
					x.Unsupported = "deprecated"
				}
				rs = append(rs, x)
			}
			for range 2 { // idempotent
				warnings := MarkDuplicateIDs(rs)
				if len(warnings) != tt.warnings {
					t.Fatalf("warnings %q, want %d", warnings, tt.warnings)
				}
				for _, w := range warnings {
					for _, r := range rs {
						if r.ID == rs[0].ID && !strings.Contains(w, r.Path) {
							t.Errorf("warning %q does not name %s", w, r.Path)
						}
					}
				}
				for i, r := range rs {
					if r.Key() != tt.keys[i] {
						t.Errorf("rule %d: key %q, want %q", i, r.Key(), tt.keys[i])
					}
				}
			}
		})
	}
}
