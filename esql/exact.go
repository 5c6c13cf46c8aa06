package esql

import (
	"bytes"
	"math"
	"strings"
	"time"
)

// The aggregations SUM, AVG, MIN and MAX give the same result whatever the
// order their values come in and however the rows are split into partials
// merged later (the files of a query, the ranges of a large file, the
// windows of a rule): their state is exact, and merging is associative and
// commutative.

// exactSum is the state of SUM and AVG: integers in wrapping int64
// arithmetic, floats as Shewchuk's non-overlapping partials (as Python's
// math.fsum), rounded once at the end, so that no grouping of the
// additions changes the last digits; durations on their own. A value of
// another kind, or durations mixed with numbers, make the sum null.
type exactSum struct {
	kinds   uint8 // sumInt | sumFloat | sumDuration | sumOther
	i       int64 // the integers, or the durations
	parts   []float64
	special float64 // the sum of the infinities and NaNs
}

const (
	sumInt = 1 << iota
	sumFloat
	sumDuration
	sumOther
)

func (s *exactSum) add(v Value) {
	switch x := v.(type) {
	case int64:
		s.kinds |= sumInt
		s.i += x
	case float64:
		s.kinds |= sumFloat
		s.addFloat(x)
	case time.Duration:
		s.kinds |= sumDuration
		s.i += int64(x)
	default:
		s.kinds |= sumOther
	}
}

// addFloat adds x to the partials exactly.
func (s *exactSum) addFloat(x float64) {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		s.special += x
		return
	}
	i := 0
	for _, y := range s.parts {
		if math.Abs(x) < math.Abs(y) {
			x, y = y, x
		}
		hi := x + y
		lo := y - (hi - x)
		if lo != 0 {
			s.parts[i] = lo
			i++
		}
		x = hi
	}
	s.parts = append(s.parts[:i], x)
}

func (s *exactSum) merge(o *exactSum) {
	s.kinds |= o.kinds
	s.i += o.i
	for _, p := range o.parts {
		s.addFloat(p)
	}
	s.special += o.special
}

// value is the sum: null with no value or a value of another kind.
func (s *exactSum) value() Value {
	switch {
	case s.kinds == 0, s.kinds&sumOther != 0, s.kinds&sumDuration != 0 && s.kinds != sumDuration:
		return nil
	case s.kinds == sumDuration:
		return time.Duration(s.i)
	case s.kinds == sumInt:
		return s.i
	}
	if s.special != 0 { // an infinity, or NaN
		return s.special
	}
	all := exactSum{parts: append([]float64(nil), s.parts...)}
	hi := s.i >> 32 << 32 // both halves exact in a float64
	all.addFloat(float64(hi))
	all.addFloat(float64(s.i - hi))
	return all.rounded()
}

// rounded is the partials' sum correctly rounded (msum's last step).
func (s *exactSum) rounded() float64 {
	p := s.parts
	n := len(p)
	if n == 0 {
		return 0
	}
	n--
	hi := p[n]
	lo := 0.0
	for n > 0 {
		x := hi
		n--
		y := p[n]
		hi = x + y
		lo = y - (hi - x)
		if lo != 0 {
			break
		}
	}
	if n > 0 && (lo < 0 && p[n-1] < 0 || lo > 0 && p[n-1] > 0) {
		y := lo * 2
		x := hi + y
		if y == x-hi {
			hi = x
		}
	}
	return hi
}

// rank orders the kinds of values for MIN and MAX: values of different
// kinds are ordered by kind (booleans, numbers, durations, dates, strings,
// the rest), values of one kind by compare (the rest by their keys), so
// that MIN and MAX are the extremes of one total order.
func rank(v Value) int {
	switch v.(type) {
	case bool:
		return 0
	case int64, float64:
		return 1
	case time.Duration:
		return 2
	case time.Time:
		return 3
	case string:
		return 4
	}
	return 5
}

// order compares a and b in the total order of rank.
func order(a, b Value) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	if ra == 4 {
		return strings.Compare(a.(string), b.(string))
	}
	if c, ok := compare(a, b); ok {
		return c
	}
	return bytes.Compare(appendValueKey(nil, a), appendValueKey(nil, b))
}
