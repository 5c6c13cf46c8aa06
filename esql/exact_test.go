package esql

import (
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"
)

// SUM, AVG, MIN and MAX give what one accumulator over every value gives,
// however the values are split into accumulators and merged, in order or
// not: float sums are exact until rounded once, and values of mixed kinds
// are ordered by kind. (Before, a split changed a float sum's last digits,
// a string among numbers restarted SUM, and a part starting with a string
// lost MIN's numbers.)
func TestAggregatesSplitAgree(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		vals []Value
		want map[string]Value // checked on the whole, unsplit
	}{
		{"tenths", repeat(0.1, 400), map[string]Value{"SUM": 40.0, "MIN": 0.1, "MAX": 0.1}},
		{"integers", []Value{int64(3), int64(-7), int64(1 << 40), int64(12)}, map[string]Value{"SUM": int64(1<<40 + 8), "MIN": int64(-7)}},
		{"integers and floats", []Value{int64(1), 0.5, int64(2), 1e16, -1e16, 0.25}, map[string]Value{"SUM": 3.75, "AVG": 3.75 / 6, "MAX": 1e16}},
		{"large and small floats", []Value{1e100, 1.0, -1e100, 1e-3}, map[string]Value{"SUM": 1.001}},
		{"a string among numbers", []Value{1.5, int64(2), "x", 3.25}, map[string]Value{"SUM": nil, "AVG": nil, "MIN": 1.5, "MAX": "x"}},
		{"strings", []Value{"b", "a", "c"}, map[string]Value{"MIN": "a", "MAX": "c", "SUM": nil}},
		{"dates and strings", []Value{ts.Add(time.Hour), "2025-01-01", ts}, map[string]Value{"MIN": ts, "MAX": "2025-01-01"}},
		{"durations", []Value{time.Second, time.Minute}, map[string]Value{"SUM": time.Minute + time.Second}},
		{"durations and numbers", []Value{time.Second, int64(3)}, map[string]Value{"SUM": nil}},
		{"infinities", []Value{math.Inf(1), 1.0, math.Inf(1)}, map[string]Value{"SUM": math.Inf(1)}},
		{"multi-values", []Value{[]Value{int64(1), int64(2)}, int64(5), []Value{"a"}}, map[string]Value{"MIN": int64(5)}},
	}
	funcs := []string{"SUM", "AVG", "MIN", "MAX"}
	r := rand.New(rand.NewSource(1))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, fn := range funcs {
				whole := accOf(tt.vals, fn).result(Agg{Func: fn})
				if want, ok := tt.want[fn]; ok && !reflect.DeepEqual(whole, want) {
					t.Errorf("%s = %v (%T), want %v", fn, whole, whole, want)
				}
				for range 200 {
					// a random split, merged in a random order
					var parts []*acc
					for from := 0; from < len(tt.vals); {
						to := from + 1 + r.Intn(len(tt.vals)-from)
						parts = append(parts, accOf(tt.vals[from:to], fn))
						from = to
					}
					r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
					all := &acc{}
					for _, p := range parts {
						all.merge(nil, p)
					}
					if got := all.result(Agg{Func: fn}); fmt.Sprint(got) != fmt.Sprint(whole) {
						t.Fatalf("%s over %d parts = %v, over the whole %v", fn, len(parts), got, whole)
					}
				}
			}
		})
	}
}

func repeat(v Value, n int) []Value {
	vs := make([]Value, n)
	for i := range vs {
		vs[i] = v
	}
	return vs
}

// accOf accumulates vals for fn in one accumulator.
func accOf(vals []Value, fn string) *acc {
	a := &acc{}
	for _, v := range vals {
		a.add(nil, item{v: v}, fn)
	}
	return a
}
