package alert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/rule"
)

// appendAlert appends a's JSON line (with its newline) to dst, the bytes
// encoding/json writes for it with SetEscapeHTML(false), without reflection.
// ok is false, and dst returned unchanged, when a holds something this
// encoder leaves to encoding/json: a value of a type it does not know, a
// record or value that is not valid JSON, a time out of RFC 3339's range,
// a NaN or infinite float. The caller then encodes a with encoding/json.
func (e *encoder) appendAlert(dst []byte, a *Alert) (_ []byte, ok bool) {
	n := len(dst)
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, a.ID)
	dst = append(dst, `,"@timestamp":`...)
	if dst, ok = appendTime(dst, a.Time); !ok {
		return dst[:n], false
	}
	dst = append(dst, `,"rule":`...)
	dst = e.appendRule(dst, &a.Rule)
	dst = append(dst, `,"event":`...)
	dst = appendEvent(dst, &a.Event)
	if a.Title != "" {
		dst = append(dst, `,"title":`...)
		dst = appendString(dst, a.Title)
	}
	if a.Description != "" {
		dst = append(dst, `,"description":`...)
		dst = appendString(dst, a.Description)
	}
	if len(a.Destinations) > 0 {
		dst = append(dst, `,"destinations":`...)
		dst = appendStrings(dst, a.Destinations)
	}
	if len(a.Fields) > 0 {
		dst = append(dst, `,"fields":`...)
		if dst, ok = e.appendFields(dst, a.Fields); !ok {
			return dst[:n], false
		}
	}
	if len(a.Context) > 0 {
		dst = append(dst, `,"context":`...)
		if dst, ok = appendMap(dst, a.Context, 0); !ok {
			return dst[:n], false
		}
	}
	if len(a.NewTerms) > 0 {
		dst = append(dst, `,"new_terms":`...)
		dst = appendStrings(dst, a.NewTerms)
	}
	if t := a.Threshold; t != nil {
		dst = append(dst, `,"threshold_result":{`...)
		sep := ""
		if len(t.Terms) > 0 {
			dst = append(dst, `"terms":`...)
			dst = appendTerms(dst, t.Terms)
			sep = ","
		}
		dst = append(dst, sep+`"count":`...)
		dst = strconv.AppendInt(dst, int64(t.Count), 10)
		if len(t.Cardinality) > 0 {
			dst = append(dst, `,"cardinality":`...)
			dst = appendTerms(dst, t.Cardinality)
		}
		dst = append(dst, `,"from":`...)
		if dst, ok = appendTime(dst, t.From); !ok {
			return dst[:n], false
		}
		dst = append(dst, `,"to":`...)
		if dst, ok = appendTime(dst, t.To); !ok {
			return dst[:n], false
		}
		dst = append(dst, '}')
	}
	if s := a.Suppression; s != nil {
		dst = append(dst, `,"suppression":{"terms":`...)
		if s.Terms == nil {
			dst = append(dst, "null"...)
		} else if dst, ok = appendMap(dst, s.Terms, 0); !ok {
			return dst[:n], false
		}
		dst = append(dst, `,"docs_count":`...)
		dst = strconv.AppendInt(dst, int64(s.DocsCount), 10)
		dst = append(dst, `,"start":`...)
		if dst, ok = appendTime(dst, s.Start); !ok {
			return dst[:n], false
		}
		dst = append(dst, `,"end":`...)
		if dst, ok = appendTime(dst, s.End); !ok {
			return dst[:n], false
		}
		dst = append(dst, '}')
	}
	if s := a.Sequence; s != nil {
		dst = append(dst, `,"sequence":{`...)
		sep := ""
		if s.ID != "" {
			dst = append(dst, `"id":`...)
			dst = appendString(dst, s.ID)
			sep = ","
		}
		if s.Step != 0 {
			dst = append(dst, sep+`"step":`...)
			dst = strconv.AppendInt(dst, int64(s.Step), 10)
			sep = ","
		}
		if len(s.Events) > 0 {
			dst = append(dst, sep+`"events":[`...)
			for i := range s.Events {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendEvent(dst, &s.Events[i])
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	if t := a.TimeSubstitute; t != nil {
		dst = append(dst, `,"time_substitute":{"from":`...)
		dst = appendString(dst, t.From)
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, t.Reason)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"record":`...)
	switch {
	case a.Record == nil:
		dst = append(dst, "null"...)
	case a.recordValid():
		if dst, ok = appendValidCompact(dst, a.Record); !ok {
			return dst[:n], false
		}
	default:
		if dst, ok = appendCompact(dst, a.Record); !ok {
			return dst[:n], false
		}
	}
	if a.RecordError != "" {
		dst = append(dst, `,"record_error":`...)
		dst = appendString(dst, a.RecordError)
	}
	return append(dst, "}\n"...), true
}

// encoder is appendAlert's state: a buffer and the JSON of the rules it
// wrote last (the rule object, with its investigation guide, is most of an
// Elastic alert's line, and the same for each alert of a rule), and the
// key sets of the fields it wrote last (a rule's alerts have the same).
type encoder struct {
	buf    []byte
	rules  map[ruleKey]*ruleJSON
	orders []*keyOrder
	next   int // the order to replace when orders is full
}

// keyOrder is a set of map keys in the order appendMap writes them, each
// key written with its colon.
type keyOrder struct {
	keys []string
	json [][]byte
}

// maxKeyOrders bounds an encoder's key sets.
const maxKeyOrders = 32

// appendFields is appendMap of an alert's fields (depth 0), with their keys
// in the order kept for their set: not sorted and encoded again.
func (e *encoder) appendFields(dst []byte, m map[string]any) ([]byte, bool) {
	var small [16]any
	if len(m) > len(small) {
		return appendMap(dst, m, 0)
	}
	vals := small[:len(m)]
	var ko *keyOrder
find:
	for _, o := range e.orders {
		if len(o.keys) != len(m) {
			continue
		}
		for i, k := range o.keys {
			v, ok := m[k]
			if !ok {
				continue find
			}
			vals[i] = v
		}
		ko = o
		break
	}
	if ko == nil {
		ko = &keyOrder{keys: make([]string, 0, len(m))}
		for k := range m {
			ko.keys = append(ko.keys, k)
		}
		slices.Sort(ko.keys)
		for i, k := range ko.keys {
			ko.json = append(ko.json, append(appendString(nil, k), ':'))
			vals[i] = m[k]
		}
		if len(e.orders) < maxKeyOrders {
			e.orders = append(e.orders, ko)
		} else {
			e.orders[e.next] = ko
			e.next = (e.next + 1) % maxKeyOrders
		}
	}
	dst = append(dst, '{')
	for i := range ko.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, ko.json[i]...)
		var ok bool
		if dst, ok = appendValue(dst, vals[i], 1); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

type ruleKey struct{ id, path string }

// ruleJSON is a rule's JSON and a deep copy of the rule it is of.
type ruleJSON struct {
	r    Rule
	json []byte
}

// maxCachedRules bounds an encoder's rule cache (it is emptied when full).
const maxCachedRules = 512

// appendRule appends r's JSON, from the cache when the rule is the same
// as the one cached under its id and path.
func (e *encoder) appendRule(dst []byte, r *Rule) []byte {
	k := ruleKey{r.ID, r.Path}
	if c := e.rules[k]; c != nil && sameRule(&c.r, r) {
		return append(dst, c.json...)
	}
	n := len(dst)
	dst = appendRule(dst, r)
	if e.rules == nil || len(e.rules) >= maxCachedRules {
		e.rules = make(map[ruleKey]*ruleJSON)
	}
	e.rules[k] = &ruleJSON{r: cloneRule(r), json: bytes.Clone(dst[n:])}
	return dst
}

// sameRule reports whether a and b have the same fields, deeply.
func sameRule(a, b *Rule) bool {
	if a.ID != b.ID || a.Name != b.Name || a.Type != b.Type || a.Format != b.Format || a.Severity != b.Severity ||
		a.RiskScore != b.RiskScore || a.BuildingBlock != b.BuildingBlock || a.Guide != b.Guide || a.Path != b.Path ||
		!slices.Equal(a.Tags, b.Tags) || !slices.Equal(a.References, b.References) || len(a.Threat) != len(b.Threat) {
		return false
	}
	for i := range a.Threat {
		x, y := &a.Threat[i], &b.Threat[i]
		if x.Framework != y.Framework || x.Tactic != y.Tactic || len(x.Techniques) != len(y.Techniques) {
			return false
		}
		for j := range x.Techniques {
			if x.Techniques[j].Ref != y.Techniques[j].Ref || !slices.Equal(x.Techniques[j].Subtechniques, y.Techniques[j].Subtechniques) {
				return false
			}
		}
	}
	return true
}

// cloneRule returns a copy of r sharing nothing that can change.
func cloneRule(r *Rule) Rule {
	c := *r
	c.Tags, c.References = slices.Clone(r.Tags), slices.Clone(r.References)
	c.Threat = slices.Clone(r.Threat)
	for i := range c.Threat {
		t := &c.Threat[i]
		t.Techniques = slices.Clone(t.Techniques)
		for j := range t.Techniques {
			t.Techniques[j].Subtechniques = slices.Clone(t.Techniques[j].Subtechniques)
		}
	}
	return c
}

func appendRule(dst []byte, r *Rule) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, r.Name)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, r.Type)
	dst = append(dst, `,"format":`...)
	dst = appendString(dst, r.Format)
	dst = append(dst, `,"severity":`...)
	dst = appendString(dst, r.Severity)
	dst = append(dst, `,"risk_score":`...)
	dst = strconv.AppendInt(dst, int64(r.RiskScore), 10)
	if len(r.Tags) > 0 {
		dst = append(dst, `,"tags":`...)
		dst = appendStrings(dst, r.Tags)
	}
	if len(r.Threat) > 0 {
		dst = append(dst, `,"threat":[`...)
		for i := range r.Threat {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendThreat(dst, &r.Threat[i])
		}
		dst = append(dst, ']')
	}
	if len(r.References) > 0 {
		dst = append(dst, `,"references":`...)
		dst = appendStrings(dst, r.References)
	}
	if r.BuildingBlock {
		dst = append(dst, `,"building_block":true`...)
	}
	if r.Guide != "" {
		dst = append(dst, `,"guide":`...)
		dst = appendString(dst, r.Guide)
	}
	dst = append(dst, `,"path":`...)
	dst = appendString(dst, r.Path)
	return append(dst, '}')
}

func appendThreat(dst []byte, t *rule.Threat) []byte {
	dst = append(dst, `{"framework":`...)
	dst = appendString(dst, t.Framework)
	dst = append(dst, `,"tactic":`...)
	dst = appendRef(dst, &t.Tactic, '}')
	if len(t.Techniques) > 0 {
		dst = append(dst, `,"techniques":[`...)
		for i := range t.Techniques {
			if i > 0 {
				dst = append(dst, ',')
			}
			tq := &t.Techniques[i]
			if len(tq.Subtechniques) == 0 {
				dst = appendRef(dst, &tq.Ref, '}')
				continue
			}
			dst = appendRef(dst, &tq.Ref, ',')
			dst = append(dst, `"subtechniques":[`...)
			for j := range tq.Subtechniques {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendRef(dst, &tq.Subtechniques[j], '}')
			}
			dst = append(dst, "]}"...)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendRef appends r's object, ended by end: '}' closes it, ',' leaves it
// open for the fields of a struct that embeds Ref.
func appendRef(dst []byte, r *rule.Ref, end byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, r.Name)
	if r.Reference != "" {
		dst = append(dst, `,"reference":`...)
		dst = appendString(dst, r.Reference)
	}
	return append(dst, end)
}

func appendEvent(dst []byte, e *Event) []byte {
	dst = append(dst, '{')
	sep := ""
	if e.ID != "" {
		dst = append(dst, `"id":`...)
		dst = appendString(dst, e.ID)
		sep = ","
	}
	if e.Provider != "" {
		dst = append(dst, sep+`"provider":`...)
		dst = appendString(dst, e.Provider)
		sep = ","
	}
	if e.Action != "" {
		dst = append(dst, sep+`"action":`...)
		dst = appendString(dst, e.Action)
		sep = ","
	}
	dst = append(dst, sep+`"file":`...)
	dst = appendString(dst, e.File)
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendInt(dst, int64(e.Line), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, e.Offset, 10)
	return append(dst, '}')
}

func appendTerms(dst []byte, ts []Term) []byte {
	dst = append(dst, '[')
	for i := range ts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"field":`...)
		dst = appendString(dst, ts[i].Field)
		dst = append(dst, `,"value":`...)
		dst = appendString(dst, ts[i].Value)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendStrings appends a non-nil slice of strings.
func appendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendTime appends t as time.Time's MarshalJSON does; not ok when that
// fails (a year outside 0-9999, a zone offset of 24 hours or more).
func appendTime(dst []byte, t time.Time) ([]byte, bool) {
	out, err := t.AppendText(append(dst, '"'))
	if err != nil { // out is nil
		return dst, false
	}
	return append(out, '"'), true
}

// maxDepth bounds the nesting of the values this encoder writes itself;
// deeper ones are left to encoding/json (which has its own bound and cycle
// check).
const maxDepth = 100

// appendValue appends v as encoding/json would, for the types values taken
// from records and rules have; not ok for any other type and for values
// encoding/json would refuse.
func appendValue(dst []byte, v any, depth int) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendString(dst, v), true
	case bool:
		return strconv.AppendBool(dst, v), true
	case event.NumberString:
		return appendCompact(dst, []byte(v))
	case event.RawJSON:
		return appendCompact(dst, []byte(v))
	case json.RawMessage:
		if v == nil {
			return append(dst, "null"...), true
		}
		return appendCompact(dst, v)
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case int64:
		return strconv.AppendInt(dst, v, 10), true
	case float64:
		return appendFloat(dst, v)
	case []any:
		if v == nil {
			return append(dst, "null"...), true
		}
		if depth >= maxDepth {
			return dst, false
		}
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendValue(dst, x, depth+1); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case []string:
		if v == nil {
			return append(dst, "null"...), true
		}
		return appendStrings(dst, v), true
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), true
		}
		return appendMap(dst, v, depth)
	}
	return dst, false
}

// appendMap appends a non-nil map with its keys sorted, as encoding/json
// does.
func appendMap(dst []byte, m map[string]any, depth int) ([]byte, bool) {
	if depth >= maxDepth {
		return dst, false
	}
	var arr [16]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var ok bool
		if dst, ok = appendValue(dst, m[k], depth+1); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// appendFloat appends f as encoding/json writes a float64 (ES6's number to
// string conversion); not ok for NaN and the infinities.
func appendFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 is written e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, true
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes a JSON string holds as they are (without
// HTML escaping): all but the control characters, '"' and '\\'.
var plain = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendString appends s as a JSON string as encoding/json does without
// HTML escaping: control characters escaped (\b \f \n \r \t by name),
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = plainPrefix(s, i); i == len(s) {
			break
		}
		b := s[i]
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func plainPrefix[T string | []byte](s T, i int) int {
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8] // one bounds check for the eight bytes, not one each
		x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
		if m := record.Special(x); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b >= utf8.RuneSelf || !plain[b] {
			return i
		}
	}
	return i
}

// appendCompact appends src, one JSON value, as encoding/json writes a
// json.Marshaler's output without HTML escaping: whitespace outside strings
// removed. Not ok when src is not valid JSON (as json.Valid says). Values
// without such whitespace (records as the scanner gives them, mostly) are
// checked in one pass and copied whole.
func appendCompact(dst, src []byte) ([]byte, bool) {
	valid, spaced := checkJSON(src)
	if !valid {
		return dst, false
	}
	return appendSpaced(dst, src, spaced)
}

// appendValidCompact is appendCompact of src known to be valid JSON (a
// record the scanner validated): it only looks for whitespace outside the
// strings, with the bytes package's searches where src has no backslash.
func appendValidCompact(dst, src []byte) ([]byte, bool) {
	spaced, ok := spacedValid(src)
	if !ok {
		return appendCompact(dst, src)
	}
	return appendSpaced(dst, src, spaced)
}

// appendSpaced appends valid JSON src compacted: as it is when it has no
// whitespace outside its strings (spaced false).
func appendSpaced(dst, src []byte, spaced bool) ([]byte, bool) {
	if !spaced {
		return append(dst, src...), true
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, src); err != nil {
		return dst, false
	}
	return buf.Bytes(), true
}

// spacedValid reports whether src, valid JSON, has whitespace outside its
// strings; ok is false when src has a backslash (a quote may be escaped),
// which leaves it to checkJSON. Without escapes, a byte is inside a string
// when an odd number of quotes precede it; and a valid string holds no raw
// tab, newline or carriage return.
func spacedValid(src []byte) (spaced, ok bool) {
	if bytes.IndexByte(src, '\\') >= 0 {
		return false, false
	}
	if bytes.IndexByte(src, '\n') >= 0 || bytes.IndexByte(src, '\t') >= 0 || bytes.IndexByte(src, '\r') >= 0 {
		return true, true
	}
	quotes := 0 // before i
	for i := 0; ; {
		j := bytes.IndexByte(src[i:], ' ')
		if j < 0 {
			return false, true
		}
		if quotes += bytes.Count(src[i:i+j], quote); quotes%2 == 0 {
			return true, true
		}
		i += j + 1
	}
}

var quote = []byte{'"'}

// maxCheckDepth bounds the nesting checkJSON follows; deeper values are
// reported invalid, which leaves them to encoding/json.
const maxCheckDepth = 1000

// checkJSON reports whether src is one valid JSON value (json.Valid's
// verdict; like it, bytes in strings are not checked for UTF-8) and
// whether it has whitespace outside its strings.
func checkJSON(src []byte) (valid, spaced bool) {
	c := checker{src: src}
	c.space()
	if !c.value(0) {
		return false, false
	}
	c.space()
	return c.i == len(src), c.spaced
}

// checker walks a JSON text: i is the next byte, spaced whether whitespace
// was skipped.
type checker struct {
	src    []byte
	i      int
	spaced bool
}

func (c *checker) space() {
	for c.i < len(c.src) {
		switch c.src[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
			c.spaced = true
		default:
			return
		}
	}
}

func (c *checker) value(depth int) bool {
	if c.i >= len(c.src) {
		return false
	}
	switch b := c.src[c.i]; {
	case b == '"':
		return c.str()
	case b == '{':
		if depth >= maxCheckDepth {
			return false
		}
		c.i++
		c.space()
		if c.i < len(c.src) && c.src[c.i] == '}' {
			c.i++
			return true
		}
		for {
			if c.i >= len(c.src) || c.src[c.i] != '"' || !c.str() {
				return false
			}
			c.space()
			if c.i >= len(c.src) || c.src[c.i] != ':' {
				return false
			}
			c.i++
			c.space()
			if !c.value(depth + 1) {
				return false
			}
			c.space()
			if c.i >= len(c.src) {
				return false
			}
			switch c.src[c.i] {
			case ',':
				c.i++
				c.space()
			case '}':
				c.i++
				return true
			default:
				return false
			}
		}
	case b == '[':
		if depth >= maxCheckDepth {
			return false
		}
		c.i++
		c.space()
		if c.i < len(c.src) && c.src[c.i] == ']' {
			c.i++
			return true
		}
		for {
			if !c.value(depth + 1) {
				return false
			}
			c.space()
			if c.i >= len(c.src) {
				return false
			}
			switch c.src[c.i] {
			case ',':
				c.i++
				c.space()
			case ']':
				c.i++
				return true
			default:
				return false
			}
		}
	case b == '-' || '0' <= b && b <= '9':
		return c.number()
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	}
	return false
}

func (c *checker) literal(lit string) bool {
	if !bytes.HasPrefix(c.src[c.i:], []byte(lit)) {
		return false
	}
	c.i += len(lit)
	return true
}

// str checks the string starting at c.i (its opening quote).
func (c *checker) str() bool {
	src := c.src
	for i := c.i + 1; ; {
		// to the next '"', '\\' or control character, eight bytes at a
		// time (bytes from 0x80 are not checked: they pass)
		for i+8 <= len(src) {
			if m := record.StringStops(binary.LittleEndian.Uint64(src[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(src) && src[i] >= 0x20 && src[i] != '"' && src[i] != '\\' {
			i++
		}
		if i >= len(src) {
			return false
		}
		switch src[i] {
		case '"':
			c.i = i + 1
			return true
		case '\\':
			if i+1 >= len(src) {
				return false
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) {
					return false
				}
				for _, h := range src[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				i += 6
			default:
				return false
			}
		default: // a control character
			return false
		}
	}
}

// number checks the number starting at c.i: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *checker) number() bool {
	src, i := c.src, c.i
	if src[i] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(src) && '0' <= src[i] && src[i] <= '9' {
			i++
		}
		return i > start
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(src) && src[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	c.i = i
	return true
}
