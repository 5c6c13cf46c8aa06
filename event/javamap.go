package event

import (
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/valyala/fastjson"
)

// Elastic's CloudTrail pipeline parses the raw record with Elasticsearch's
// JSON processor (Java HashMap and ArrayList values), drops null and empty
// values recursively, and stores requestParameters, responseElements,
// additionalEventData and serviceEventDetails as the Java toString() of those
// maps. Rules match on that exact text, so we reproduce it byte for byte,
// including HashMap iteration order.

// droppedString reports whether the pipeline's first drop-empty step removes
// a string: "", and since the 2025 revisions the placeholders "-" and "none".
func droppedString(s string) bool { return s == "" || s == "-" || s == "none" }

// isEmpty reports whether the pipeline's drop-empty step removes v: null,
// dropped strings (droppedString), and maps or lists that are empty once
// their own empty values are gone.
func isEmpty(v *fastjson.Value) bool {
	if v == nil {
		return true
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return true
	case fastjson.TypeString:
		return droppedString(b2s(v.GetStringBytes()))
	case fastjson.TypeObject:
		o, _ := v.Object()
		empty := true
		o.Visit(func(_ []byte, c *fastjson.Value) {
			if empty && !isEmpty(c) {
				empty = false
			}
		})
		return empty
	case fastjson.TypeArray:
		for _, c := range v.GetArray() {
			if !isEmpty(c) {
				return false
			}
		}
		return true
	}
	return false
}

// javaStringHash is java.lang.String.hashCode over UTF-16 code units.
func javaStringHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r < 0x10000 {
			h = 31*h + int32(r)
			continue
		}
		r1, r2 := utf16.EncodeRune(r)
		h = 31*h + int32(r1)
		h = 31*h + int32(r2)
	}
	return h
}

type kv struct {
	k string
	v *fastjson.Value
}

// hashMapOrder returns the members of o in the order a java.util.HashMap
// filled from them in JSON order would iterate them. Capacity follows the
// number of keys inserted (including ones drop-empty later removes); members
// that drop-empty removes are left out.
func hashMapOrder(o *fastjson.Object) []kv {
	var all []kv
	o.Visit(func(k []byte, v *fastjson.Value) {
		all = append(all, kv{string(k), v})
	})
	// duplicate keys: the later value replaces the earlier one in place
	uniq := all[:0]
	seen := make(map[string]int, len(all))
	for _, e := range all {
		if i, ok := seen[e.k]; ok {
			uniq[i].v = e.v
			continue
		}
		seen[e.k] = len(uniq)
		uniq = append(uniq, e)
	}
	n := len(uniq)
	capacity := 16
	for float64(n) > 0.75*float64(capacity) {
		capacity *= 2
	}
	bucket := func(k string) int {
		h := uint32(javaStringHash(k))
		return int((h ^ (h >> 16)) & uint32(capacity-1))
	}
	out := make([]kv, 0, n)
	for _, e := range uniq {
		if !isEmpty(e.v) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return bucket(out[i].k) < bucket(out[j].k) })
	return out
}

// JavaString renders v as Java's toString() of the value Elasticsearch's JSON
// processor builds from it, after drop-empty.
func JavaString(v *fastjson.Value) string {
	var b strings.Builder
	writeJava(&b, v)
	return b.String()
}

func writeJava(b *strings.Builder, v *fastjson.Value) {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		b.WriteByte('{')
		for i, e := range hashMapOrder(o) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(e.k)
			b.WriteByte('=')
			writeJava(b, e.v)
		}
		b.WriteByte('}')
	case fastjson.TypeArray:
		b.WriteByte('[')
		i := 0
		for _, c := range v.GetArray() {
			if isEmpty(c) {
				continue
			}
			if i > 0 {
				b.WriteString(", ")
			}
			writeJava(b, c)
			i++
		}
		b.WriteByte(']')
	case fastjson.TypeString:
		b.Write(v.GetStringBytes())
	case fastjson.TypeNumber:
		b.WriteString(javaNumber(v.String()))
	case fastjson.TypeTrue:
		b.WriteString("true")
	case fastjson.TypeFalse:
		b.WriteString("false")
	case fastjson.TypeNull:
		b.WriteString("null")
	}
}

// javaNumber renders a JSON number literal as Java would print the value
// Jackson parses it into: integers as Integer/Long/BigInteger (plain digits),
// anything with a fraction or exponent as Double.toString.
func javaNumber(lit string) string {
	if !strings.ContainsAny(lit, ".eE") {
		if _, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return strings.TrimPrefix(lit, "+")
		}
		if bi, ok := new(big.Int).SetString(lit, 10); ok {
			return bi.String()
		}
		return lit
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		return lit
	}
	return javaDouble(f)
}

// javaDouble formats f as java.lang.Double.toString does: the shortest
// decimal that round-trips, in plain notation for 1e-3 <= |f| < 1e7 and
// computerized scientific notation (1.0E10) otherwise.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.dddde±XX
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}
