package esql

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// single returns v unless it is multi-valued (ES|QL's single-valued
// functions and operators return null for multi-valued input).
func single(v Value) (Value, bool) {
	if mv, ok := v.([]Value); ok {
		if len(mv) == 1 {
			return mv[0], true
		}
		return nil, false
	}
	return v, true
}

func toFloat(v Value) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// compare orders two non-null single values of comparable types; ok is false
// when they cannot be compared. A string compared with a date is parsed as
// a date, as ES|QL does with literals.
func compare(a, b Value) (int, bool) {
	switch x := a.(type) {
	case string:
		switch y := b.(type) {
		case string:
			return strings.Compare(x, y), true
		case time.Time:
			if t, err := parseTime(x); err == nil {
				return t.Compare(y), true
			}
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0, true
			case !x:
				return -1, true
			}
			return 1, true
		}
	case time.Time:
		switch y := b.(type) {
		case time.Time:
			return x.Compare(y), true
		case string:
			if t, err := parseTime(y); err == nil {
				return x.Compare(t), true
			}
		}
	case time.Duration:
		if y, ok := b.(time.Duration); ok {
			return cmpOrdered(x, y), true
		}
	case int64:
		if y, ok := b.(int64); ok {
			return cmpOrdered(x, y), true
		}
	}
	fa, ok1 := toFloat(a)
	fb, ok2 := toFloat(b)
	if ok1 && ok2 {
		return cmpOrdered(fa, fb), true
	}
	return 0, false
}

func cmpOrdered[T int64 | float64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseTime(s string) (time.Time, error) {
	if t, ok := parseMillis(s); ok {
		return t, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date: %q", s)
}

// parseMillis parses the form every CloudTrail @timestamp has,
// 2006-01-02T15:04:05.000Z, without time.Parse; ok is false for any other
// text, or a date or time out of range, which parseTime leaves to
// time.Parse.
func parseMillis(s string) (time.Time, bool) {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 2)
	d, ok3 := num(8, 2)
	h, ok4 := num(11, 2)
	mi, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	ms, ok7 := num(20, 3)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ms*1e6, time.UTC)
	if t.Day() != d { // past the month's end
		return time.Time{}, false
	}
	return t.UTC(), true // as parseTime's: UTC set, not left nil
}

// toString renders a value as ES|QL's TO_STRING does.
func toString(v Value) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatFloat(x, 'f', 1, 64)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format("2006-01-02T15:04:05.000Z")
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(v)
}

// key is a value's identity for grouping and distinct counts.
func key(v Value) string { return string(appendKey(nil, v)) }

// appendKey appends key(v) to b: a lookup by string(b) in a map allocates
// nothing, so a row whose group or value is already known costs no string.
func appendKey(b []byte, v Value) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "\x00null"...)
	case []Value:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, '\x1f')
			}
			b = appendKey(b, e)
		}
		return append(b, ']')
	case string:
		return append(append(b, 's'), x...)
	case int64:
		return strconv.AppendInt(append(b, "int64"...), x, 10)
	case bool:
		return strconv.AppendBool(append(b, "bool"...), x)
	case time.Time:
		return x.UTC().AppendFormat(append(b, "time.Time"...), "2006-01-02T15:04:05.000Z")
	}
	return fmt.Appendf(b, "%T%s", v, toString(v))
}

// appendValueKey is appendKey for the sets of distinct values (VALUES,
// COUNT_DISTINCT), whose keys are only compared, never ordered: a time is
// its millisecond, not its formatted text (the same ones are equal).
func appendValueKey(b []byte, v Value) []byte {
	if t, ok := v.(time.Time); ok {
		return strconv.AppendInt(append(b, "time.Time"...), t.UnixMilli(), 10)
	}
	return appendKey(b, v)
}

// values flattens v into its single values (none for null).
func values(v Value) []Value {
	switch x := v.(type) {
	case nil:
		return nil
	case []Value:
		return x
	}
	return []Value{v}
}

// multi returns vs as one value: null, a single value or a multi-value.
func multi(vs []Value) Value {
	switch len(vs) {
	case 0:
		return nil
	case 1:
		return vs[0]
	}
	return vs
}

// sortValues orders values for deterministic output.
func sortValues(vs []Value) {
	sort.SliceStable(vs, func(i, j int) bool {
		c, ok := compare(vs[i], vs[j])
		if !ok {
			return key(vs[i]) < key(vs[j])
		}
		return c < 0
	})
}

// JSON returns v in a form encoding/json renders as ES|QL's JSON output.
func JSON(v Value) any {
	switch x := v.(type) {
	case []Value:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = JSON(e)
		}
		return out
	case time.Time:
		return toString(x)
	case time.Duration:
		return x.String()
	}
	return v
}
