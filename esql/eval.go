package esql

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// env is what an expression reads: columns and event fields by name, and
// the time NOW() returns.
type env interface {
	get(name string) Value
	now() time.Time
}

func eval(e Expr, en env) Value {
	switch e := e.(type) {
	case Lit:
		return e.V
	case Field:
		return en.get(e.Name)
	case Not:
		v := eval(e.X, en)
		if b, ok := v.(bool); ok {
			return !b
		}
		return nil
	case Neg:
		switch x := eval(e.X, en).(type) {
		case int64:
			return -x
		case float64:
			return -x
		case time.Duration:
			return -x
		}
		return nil
	case IsNull:
		null := eval(e.X, en) == nil
		return null != e.Not
	case In:
		x, ok := single(eval(e.X, en))
		if !ok || x == nil {
			return nil
		}
		sawNull := false
		for _, it := range e.List {
			y, ok := single(eval(it, en))
			if !ok || y == nil {
				sawNull = true
				continue
			}
			if c, ok := compare(x, y); ok && c == 0 {
				return !e.Not
			}
		}
		if sawNull {
			return nil
		}
		return e.Not
	case *Like:
		x, ok := single(eval(e.X, en))
		s, isStr := x.(string)
		if !ok || !isStr {
			return nil
		}
		return e.match(s) != e.Not
	case Cast:
		return cast(eval(e.X, en), e.Type)
	case Binary:
		return binary(e, en)
	case Call:
		return call(e, en)
	}
	return nil
}

func binary(e Binary, en env) Value {
	switch e.Op {
	case "AND":
		lv, lok := eval(e.L, en).(bool)
		if lok && !lv {
			return false // false AND anything, null included, is false
		}
		rv, rok := eval(e.R, en).(bool)
		if rok && !rv {
			return false
		}
		if lok && rok {
			return true
		}
		return nil
	case "OR":
		lv, lok := eval(e.L, en).(bool)
		if lok && lv {
			return true
		}
		rv, rok := eval(e.R, en).(bool)
		if rok && rv {
			return true
		}
		if lok && rok {
			return false
		}
		return nil
	}
	l, ok1 := single(eval(e.L, en))
	r, ok2 := single(eval(e.R, en))
	if !ok1 || !ok2 || l == nil || r == nil {
		return nil
	}
	switch e.Op {
	case "==", "!=", "<", "<=", ">", ">=":
		c, ok := compare(l, r)
		if !ok {
			return nil
		}
		switch e.Op {
		case "==":
			return c == 0
		case "!=":
			return c != 0
		case "<":
			return c < 0
		case "<=":
			return c <= 0
		case ">":
			return c > 0
		}
		return c >= 0
	}
	return binaryValues(e.Op, l, r)
}

// binaryValues is a binary operation other than a comparison or a logical
// one on two single non-null values.
func binaryValues(op string, l, r Value) Value {
	if op == "=~" {
		a, ok1 := l.(string)
		b, ok2 := r.(string)
		if !ok1 || !ok2 {
			return nil
		}
		return strings.EqualFold(a, b)
	}
	return arith(op, l, r)
}

func arith(op string, l, r Value) Value {
	// date ± span
	if t, ok := l.(time.Time); ok {
		if d, ok := r.(time.Duration); ok {
			switch op {
			case "+":
				return t.Add(d)
			case "-":
				return t.Add(-d)
			}
		}
		return nil
	}
	if d, ok := l.(time.Duration); ok {
		if t, ok := r.(time.Time); ok && op == "+" {
			return t.Add(d)
		}
		if d2, ok := r.(time.Duration); ok {
			switch op {
			case "+":
				return d + d2
			case "-":
				return d - d2
			}
		}
		return nil
	}
	if a, ok := l.(int64); ok {
		if b, ok := r.(int64); ok {
			switch op {
			case "+":
				return a + b
			case "-":
				return a - b
			case "*":
				return a * b
			case "/":
				if b == 0 {
					return nil
				}
				return a / b
			case "%":
				if b == 0 {
					return nil
				}
				return a % b
			}
		}
	}
	a, ok1 := toFloat(l)
	b, ok2 := toFloat(r)
	if !ok1 || !ok2 {
		return nil
	}
	switch op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		if b == 0 {
			return nil
		}
		return a / b
	case "%":
		if b == 0 {
			return nil
		}
		return math.Mod(a, b)
	}
	return nil
}

// funcArity is every scalar function: minimum and maximum argument counts
// (-1: any number).
var funcArity = map[string][2]int{
	"CASE": {2, -1}, "COALESCE": {1, -1}, "CONCAT": {2, -1}, "GREATEST": {1, -1}, "LEAST": {1, -1},
	"TO_LOWER": {1, 1}, "TO_UPPER": {1, 1}, "LENGTH": {1, 1}, "TRIM": {1, 1}, "LTRIM": {1, 1}, "RTRIM": {1, 1},
	"STARTS_WITH": {2, 2}, "ENDS_WITH": {2, 2}, "SUBSTRING": {2, 3}, "LEFT": {2, 2}, "RIGHT": {2, 2},
	"REPLACE": {3, 3}, "LOCATE": {2, 3}, "SPLIT": {2, 2}, "REVERSE": {1, 1}, "REPEAT": {2, 2},
	"FROM_BASE64": {1, 1}, "TO_BASE64": {1, 1},
	"TO_STRING": {1, 1}, "TO_DOUBLE": {1, 1}, "TO_LONG": {1, 1}, "TO_INTEGER": {1, 1}, "TO_INT": {1, 1},
	"TO_BOOLEAN": {1, 1}, "TO_BOOL": {1, 1}, "TO_DATETIME": {1, 1}, "TO_IP": {1, 1},
	"ABS": {1, 1}, "ROUND": {1, 2}, "FLOOR": {1, 1}, "CEIL": {1, 1}, "POW": {2, 2}, "SQRT": {1, 1}, "LOG10": {1, 1},
	"NOW": {0, 0}, "DATE_TRUNC": {2, 2}, "DATE_DIFF": {3, 3}, "DATE_EXTRACT": {2, 2}, "DATE_FORMAT": {1, 2}, "DATE_PARSE": {2, 2},
	"MV_COUNT": {1, 1}, "MV_FIRST": {1, 1}, "MV_LAST": {1, 1}, "MV_DEDUPE": {1, 1}, "MV_CONCAT": {2, 2},
	"MV_MIN": {1, 1}, "MV_MAX": {1, 1}, "MV_SUM": {1, 1}, "MV_SORT": {1, 2}, "MV_CONTAINS": {2, 2},
	"CIDR_MATCH": {2, -1}, "IP_PREFIX": {3, 3},
	"KQL": {1, 1}, "MATCH": {2, 2},
}

func checkCall(c Call) error {
	if aggFuncs[c.Name] {
		return nil // checked by STATS
	}
	a, ok := funcArity[c.Name]
	if !ok {
		return fmt.Errorf("function %s is not supported", c.Name)
	}
	if len(c.Args) < a[0] || (a[1] >= 0 && len(c.Args) > a[1]) {
		return fmt.Errorf("%s: wrong number of arguments (%d)", c.Name, len(c.Args))
	}
	if c.Name == "KQL" || c.Name == "MATCH" {
		return fmt.Errorf("function %s is not supported (full-text search functions)", c.Name)
	}
	return nil
}

func str(v Value) (string, bool) {
	v, ok := single(v)
	s, isStr := v.(string)
	return s, ok && isStr
}

func call(c Call, en env) Value {
	return callArgs(c, en, func(i int) Value { return eval(c.Args[i], en) })
}

// callArgs is call with arg evaluating the call's arguments, each only
// when the function reads it.
func callArgs(c Call, en env, arg func(int) Value) Value {
	switch c.Name {
	case "CASE":
		n := len(c.Args)
		for i := 0; i+1 < n; i += 2 {
			if b, ok := arg(i).(bool); ok && b {
				return arg(i + 1)
			}
		}
		if n%2 == 1 {
			return arg(n - 1)
		}
		return nil
	case "COALESCE":
		for i := range c.Args {
			if v := arg(i); v != nil {
				return v
			}
		}
		return nil
	case "NOW":
		return en.now()
	case "MV_COUNT":
		v := arg(0)
		if v == nil {
			return nil
		}
		return int64(len(values(v)))
	case "MV_FIRST", "MV_LAST", "MV_MIN", "MV_MAX", "MV_DEDUPE", "MV_SORT", "MV_SUM":
		vs := values(arg(0))
		if len(vs) == 0 {
			return nil
		}
		switch c.Name {
		case "MV_FIRST":
			return vs[0]
		case "MV_LAST":
			return vs[len(vs)-1]
		case "MV_DEDUPE":
			return multi(dedupe(vs))
		case "MV_SUM":
			var acc Value = int64(0)
			for _, v := range vs {
				acc = arith("+", acc, v)
			}
			return acc
		}
		s := append([]Value(nil), vs...)
		sortValues(s)
		switch c.Name {
		case "MV_MIN":
			return s[0]
		case "MV_MAX":
			return s[len(s)-1]
		}
		if len(c.Args) > 1 {
			if o, _ := str(arg(1)); strings.EqualFold(o, "DESC") {
				for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
					s[i], s[j] = s[j], s[i]
				}
			}
		}
		return multi(s)
	case "MV_CONCAT":
		sep, ok := str(arg(1))
		vs := values(arg(0))
		if !ok || len(vs) == 0 {
			return nil
		}
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = toString(v)
		}
		return strings.Join(parts, sep)
	case "MV_CONTAINS":
		hay := values(arg(0))
		for _, n := range values(arg(1)) {
			found := false
			for _, h := range hay {
				if c, ok := compare(h, n); ok && c == 0 {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		return true
	case "GREATEST", "LEAST":
		var best Value
		for i := range c.Args {
			v, ok := single(arg(i))
			if !ok || v == nil {
				return nil
			}
			if best == nil {
				best = v
				continue
			}
			if cmp, ok := compare(v, best); ok && (cmp > 0) == (c.Name == "GREATEST") && cmp != 0 {
				best = v
			}
		}
		return best
	case "CONCAT":
		var b strings.Builder
		for i := range c.Args {
			v, ok := single(arg(i))
			if !ok || v == nil {
				return nil
			}
			b.WriteString(toString(v))
		}
		return b.String()
	case "CIDR_MATCH":
		ipv, ok := str(arg(0))
		if !ok {
			return nil
		}
		ip, err := netip.ParseAddr(ipv)
		if err != nil {
			return nil
		}
		for i := 1; i < len(c.Args); i++ {
			for _, b := range values(arg(i)) {
				if s, ok := b.(string); ok {
					if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
						return true
					}
				}
			}
		}
		return false
	case "DATE_TRUNC":
		d, ok1 := single(arg(0))
		t, ok2 := single(arg(1))
		span, isSpan := d.(time.Duration)
		ts, isTime := t.(time.Time)
		if !ok1 || !ok2 || !isSpan || !isTime || span <= 0 {
			return nil
		}
		return ts.Truncate(span)
	case "DATE_DIFF":
		unit, ok := str(arg(0))
		a, ok1 := single(arg(1))
		b, ok2 := single(arg(2))
		ta, isA := a.(time.Time)
		tb, isB := b.(time.Time)
		if !ok || !ok1 || !ok2 || !isA || !isB {
			return nil
		}
		return dateDiff(strings.ToLower(unit), ta, tb)
	case "DATE_EXTRACT":
		part, ok := str(arg(0))
		t, ok2 := single(arg(1))
		ts, isT := t.(time.Time)
		if !ok || !ok2 || !isT {
			return nil
		}
		switch strings.ToUpper(part) {
		case "YEAR":
			return int64(ts.Year())
		case "MONTH_OF_YEAR":
			return int64(ts.Month())
		case "DAY_OF_MONTH":
			return int64(ts.Day())
		case "DAY_OF_WEEK":
			return int64((int(ts.Weekday())+6)%7 + 1)
		case "HOUR_OF_DAY":
			return int64(ts.Hour())
		case "MINUTE_OF_HOUR":
			return int64(ts.Minute())
		case "SECOND_OF_MINUTE":
			return int64(ts.Second())
		}
		return nil
	case "DATE_FORMAT":
		t, ok := single(arg(len(c.Args) - 1))
		ts, isT := t.(time.Time)
		if !ok || !isT {
			return nil
		}
		if len(c.Args) == 2 {
			f, _ := str(arg(0))
			return ts.Format(javaLayout(f))
		}
		return toString(ts)
	case "DATE_PARSE":
		f, ok1 := str(arg(0))
		s, ok2 := str(arg(1))
		if !ok1 || !ok2 {
			return nil
		}
		t, err := time.Parse(javaLayout(f), s)
		if err != nil {
			return nil
		}
		return t.UTC()
	}
	// single-valued functions of one string or number
	if len(c.Args) == 0 {
		return nil // an aggregation outside STATS, COUNT(): none to read
	}
	v, ok := single(arg(0))
	if !ok || v == nil {
		return nil
	}
	s, isStr := v.(string)
	switch c.Name {
	case "TO_STRING":
		return toString(v)
	case "TO_DOUBLE", "TO_LONG", "TO_INTEGER", "TO_INT", "TO_BOOLEAN", "TO_BOOL", "TO_DATETIME", "TO_IP":
		return cast(v, strings.ToLower(strings.TrimPrefix(c.Name, "TO_")))
	case "ABS", "FLOOR", "CEIL", "SQRT", "LOG10", "ROUND", "POW":
		return math1(c, v, arg)
	}
	if !isStr {
		return nil
	}
	switch c.Name {
	case "TO_LOWER":
		return strings.ToLower(s)
	case "TO_UPPER":
		return strings.ToUpper(s)
	case "LENGTH":
		return int64(utf8.RuneCountInString(s))
	case "TRIM":
		return strings.TrimSpace(s)
	case "LTRIM":
		return strings.TrimLeft(s, " \t\n\r")
	case "RTRIM":
		return strings.TrimRight(s, " \t\n\r")
	case "REVERSE":
		r := []rune(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r)
	case "FROM_BASE64":
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
				return nil
			}
		}
		return string(b)
	case "TO_BASE64":
		return base64.StdEncoding.EncodeToString([]byte(s))
	case "STARTS_WITH", "ENDS_WITH", "SPLIT", "LOCATE", "REPEAT", "LEFT", "RIGHT":
		t, ok := str(arg(1))
		n, isN := single(arg(1))
		switch c.Name {
		case "STARTS_WITH":
			if !ok {
				return nil
			}
			return strings.HasPrefix(s, t)
		case "ENDS_WITH":
			if !ok {
				return nil
			}
			return strings.HasSuffix(s, t)
		case "SPLIT":
			if !ok {
				return nil
			}
			parts := strings.Split(s, t)
			out := make([]Value, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return multi(out)
		case "LOCATE":
			if !ok {
				return nil
			}
			return int64(strings.Index(s, t) + 1)
		}
		k, isInt := n.(int64)
		if !isN || !isInt || k < 0 {
			return nil
		}
		r := []rune(s)
		switch c.Name {
		case "REPEAT":
			return strings.Repeat(s, int(k))
		case "LEFT":
			return string(r[:min(int(k), len(r))])
		}
		return string(r[len(r)-min(int(k), len(r)):])
	case "SUBSTRING":
		r := []rune(s)
		st, _ := single(arg(1))
		start, ok := st.(int64)
		if !ok {
			return nil
		}
		if start < 0 {
			start = int64(len(r)) + start + 1
		}
		start = max(start, 1)
		length := int64(len(r))
		if len(c.Args) == 3 {
			l, _ := single(arg(2))
			if length, ok = l.(int64); !ok {
				return nil
			}
		}
		from := min(int(start-1), len(r))
		to := min(from+int(max(length, 0)), len(r))
		return string(r[from:to])
	case "REPLACE":
		old, ok1 := str(arg(1))
		nw, ok2 := str(arg(2))
		if !ok1 || !ok2 {
			return nil
		}
		re, err := compileRegexp(old)
		if err != nil {
			return nil
		}
		return re.ReplaceAllString(s, nw)
	}
	return nil
}

func math1(c Call, v Value, arg func(int) Value) Value {
	f, ok := toFloat(v)
	if !ok {
		return nil
	}
	switch c.Name {
	case "ABS":
		if i, ok := v.(int64); ok {
			if i < 0 {
				return -i
			}
			return i
		}
		return math.Abs(f)
	case "FLOOR":
		if _, ok := v.(int64); ok {
			return v
		}
		return math.Floor(f)
	case "CEIL":
		if _, ok := v.(int64); ok {
			return v
		}
		return math.Ceil(f)
	case "SQRT":
		return math.Sqrt(f)
	case "LOG10":
		return math.Log10(f)
	case "POW":
		e, ok := toFloat(arg(1))
		if !ok {
			return nil
		}
		return math.Pow(f, e)
	}
	// ROUND
	digits := int64(0)
	if len(c.Args) > 1 {
		d, _ := single(arg(1))
		digits, _ = d.(int64)
	}
	if _, ok := v.(int64); ok && digits >= 0 {
		return v
	}
	p := math.Pow(10, float64(digits))
	return math.Round(f*p) / p
}

func cast(v Value, typ string) Value {
	v, ok := single(v)
	if !ok || v == nil {
		return nil
	}
	switch typ {
	case "string", "keyword", "text":
		return toString(v)
	case "double":
		switch x := v.(type) {
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil
			}
			return f
		case bool:
			if x {
				return 1.0
			}
			return 0.0
		case time.Time:
			return float64(x.UnixMilli())
		}
		f, _ := toFloat(v)
		return f
	case "long", "integer", "int":
		switch x := v.(type) {
		case string:
			if i, err := strconv.ParseInt(x, 10, 64); err == nil {
				return i
			}
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil
			}
			return int64(f)
		case float64:
			return int64(x)
		case bool:
			if x {
				return int64(1)
			}
			return int64(0)
		case time.Time:
			return x.UnixMilli()
		}
		return v
	case "boolean", "bool":
		switch x := v.(type) {
		case string:
			return strings.EqualFold(x, "true")
		case bool:
			return x
		}
		f, _ := toFloat(v)
		return f != 0
	case "datetime", "date":
		switch x := v.(type) {
		case string:
			t, err := parseTime(x)
			if err != nil {
				return nil
			}
			return t
		case int64:
			return time.UnixMilli(x).UTC()
		case time.Time:
			return x
		}
		return nil
	case "ip":
		s, ok := v.(string)
		if !ok {
			return nil
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return nil
		}
		return ip.String()
	}
	return nil
}

var dateDiffUnits = map[string]time.Duration{
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond, "ms": time.Millisecond,
	"second": time.Second, "seconds": time.Second, "ss": time.Second, "s": time.Second,
	"minute": time.Minute, "minutes": time.Minute, "mi": time.Minute, "n": time.Minute,
	"hour": time.Hour, "hours": time.Hour, "hh": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour, "dd": 24 * time.Hour, "d": 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour, "wk": 7 * 24 * time.Hour, "ww": 7 * 24 * time.Hour,
}

// dateDiff is DATE_DIFF: whole units from a to b.
func dateDiff(unit string, a, b time.Time) Value {
	if u, ok := dateDiffUnits[unit]; ok {
		return int64(b.Sub(a) / u)
	}
	switch unit {
	case "month", "months", "mm", "m":
		return int64((b.Year()-a.Year())*12 + int(b.Month()-a.Month()))
	case "year", "years", "yyyy", "yy":
		return int64(b.Year() - a.Year())
	}
	return nil
}

// javaLayout converts the common letters of a Java date pattern to a Go
// layout.
func javaLayout(f string) string {
	if f == "" {
		return time.RFC3339
	}
	return strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05", "SSS", "000", "'T'", "T", "XXX", "Z07:00", "Z", "Z0700").Replace(f)
}

func dedupe(vs []Value) []Value {
	seen := map[string]bool{}
	var out []Value
	for _, v := range vs {
		k := key(v)
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}
