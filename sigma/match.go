package sigma

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/event"
)

// values returns what a Sigma field value matches against: strings as they
// are, numbers and booleans in their text form, and for an object (or an
// array of them) its compact JSON and every scalar leaf. present is false
// when the field is absent; null values are left out.
func values(get event.View, ev *event.Event, out []string) (_ []string, present bool) {
	for _, v := range get(ev) {
		present = true
		switch v.T {
		case event.Null:
		case event.Object:
			out = append(out, v.S)
			var p fastjson.Parser
			if j, err := p.Parse(v.S); err == nil {
				out = appendLeaves(out, j)
			}
		default:
			out = append(out, v.S)
		}
	}
	return out, present
}

func appendLeaves(out []string, v *fastjson.Value) []string {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(_ []byte, c *fastjson.Value) { out = appendLeaves(out, c) })
	case fastjson.TypeArray:
		for _, c := range v.GetArray() {
			out = appendLeaves(out, c)
		}
	case fastjson.TypeString:
		out = append(out, string(v.GetStringBytes()))
	case fastjson.TypeNull:
	default:
		out = append(out, string(v.MarshalTo(nil)))
	}
	return out
}

// matcher tests one string.
type matcher func(string) bool

// wildcard compiles a Sigma value: `*` any run, `?` one character, `\*`
// and `\?` literal, `\\` one backslash, any other backslash literal;
// case-insensitive unless cased.
func wildcard(v string, cased bool) (matcher, error) {
	var b strings.Builder
	literal := true
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v) && (v[i+1] == '*' || v[i+1] == '?' || v[i+1] == '\\'):
			i++
			b.WriteString(regexp.QuoteMeta(v[i : i+1]))
		case c == '*':
			b.WriteString(".*")
			literal = false
		case c == '?':
			b.WriteString(".")
			literal = false
		default:
			b.WriteString(regexp.QuoteMeta(v[i : i+1]))
		}
	}
	if literal {
		lit := unescape(v)
		if cased {
			return func(s string) bool { return s == lit }, nil
		}
		return func(s string) bool { return strings.EqualFold(s, lit) }, nil
	}
	flags := "(?s)"
	if !cased {
		flags = "(?is)"
	}
	re, err := regexp.Compile(flags + "^(?:" + b.String() + ")$")
	if err != nil {
		return nil, err
	}
	return re.MatchString, nil
}

// unescape resolves Sigma's escapes in a value without wildcards.
func unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && (v[i+1] == '*' || v[i+1] == '?' || v[i+1] == '\\') {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// escapeLiteral makes a transformed value (base64, utf16 ...) literal.
func escapeLiteral(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(s)
}

// wrap adds the wildcards of contains/startswith/endswith, without doubling
// one already there.
func wrap(v string, start, end bool) string {
	if start && !strings.HasPrefix(v, "*") {
		v = "*" + v
	}
	if end && (!strings.HasSuffix(v, "*") || strings.HasSuffix(v, `\*`)) {
		v += "*"
	}
	return v
}

// transforms expand a value into its encoded alternatives.
var transforms = map[string]func(string) []string{
	"base64": func(s string) []string { return []string{base64.StdEncoding.EncodeToString([]byte(s))} },
	"base64offset": func(s string) []string {
		// pySigma's three alignments: the value after 0, 1 or 2 spaces, with
		// the characters that depend on the neighbouring bytes cut off
		var out []string
		for i := range 3 {
			enc := base64.StdEncoding.EncodeToString(append([]byte(strings.Repeat(" ", i)), s...))
			start := []int{0, 2, 3}[i]
			end := len(enc) - []int{0, 3, 2}[(len(s)+i)%3]
			if start < end {
				out = append(out, enc[start:end])
			}
		}
		return out
	},
	"utf16le": func(s string) []string { return []string{utf16String(s, binary.LittleEndian, false)} },
	"wide":    func(s string) []string { return []string{utf16String(s, binary.LittleEndian, false)} },
	"utf16be": func(s string) []string { return []string{utf16String(s, binary.BigEndian, false)} },
	"utf16":   func(s string) []string { return []string{utf16String(s, binary.LittleEndian, true)} },
	"windash": func(s string) []string {
		// every combination of - / – — ― in place of a leading - or /
		dashes := []string{"-", "/", "\u2013", "\u2014", "\u2015"}
		out := []string{""}
		for i := 0; i < len(s); {
			r := s[i]
			if r == '-' || r == '/' {
				var next []string
				for _, o := range out {
					for _, d := range dashes {
						next = append(next, o+d)
					}
				}
				out = next
				i++
				continue
			}
			for k := range out {
				out[k] += s[i : i+1]
			}
			i++
		}
		return out
	},
}

func utf16String(s string, order binary.AppendByteOrder, bom bool) string {
	var b []byte
	if bom {
		b = append(b, 0xff, 0xfe)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = order.AppendUint16(b, u)
	}
	return string(b)
}

// cidrMatcher matches IP addresses inside a prefix; anything that is not an
// IP (`AWS Internal`, a host name) does not match.
func cidrMatcher(v string) (matcher, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("cidr %q: %w", v, err)
	}
	return func(s string) bool {
		ip, err := netip.ParseAddr(s)
		return err == nil && p.Contains(ip.Unmap())
	}, nil
}

// numeric compares numbers.
func numeric(op, v string) (matcher, error) {
	want, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return nil, fmt.Errorf("|%s needs a number, not %q", op, v)
	}
	return func(s string) bool {
		got, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return false
		}
		switch op {
		case "gt":
			return got > want
		case "gte":
			return got >= want
		case "lt":
			return got < want
		}
		return got <= want
	}, nil
}

// timePart matches one part of a date-time field against a number.
func timePart(part, v string) (matcher, error) {
	want, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("|%s needs a number, not %q", part, v)
	}
	return func(s string) bool {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return false
		}
		t = t.UTC()
		var got int
		switch part {
		case "minute":
			got = t.Minute()
		case "hour":
			got = t.Hour()
		case "day":
			got = t.Day()
		case "week":
			_, got = t.ISOWeek()
		case "month":
			got = int(t.Month())
		case "year":
			got = t.Year()
		}
		return got == want
	}, nil
}
