package event

import (
	"bytes"
	"strconv"
	"unicode/utf16"

	"github.com/valyala/fastjson"
)

// AppendJSON appends v as JSON text. It is fastjson's MarshalTo made
// right: MarshalTo writes a string as the record had it until a lookup has
// unescaped it, and from then on quoted as Go quotes strings
// (strconv.AppendQuote), with escapes that JSON does not have: \a, \v,
// \xNN and \UNNNNNNNN. A record with "\u000b" in a value that a rule read
// came out as invalid JSON. Those escapes are rewritten: \u0007, \u000b,
// \u00NN (from \x80 up, the byte itself, as the record had it: strconv
// writes a byte of invalid UTF-8 so) and a UTF-16 surrogate pair.
func AppendJSON(dst []byte, v *fastjson.Value) []byte {
	n := len(dst)
	dst = v.MarshalTo(dst)
	if bytes.IndexByte(dst[n:], '\\') < 0 {
		return dst
	}
	return append(dst[:n], jsonEscapes(dst[n:])...)
}

// jsonEscapes returns b, JSON whose strings may hold Go's escapes, with
// them rewritten as JSON's (see AppendJSON).
func jsonEscapes(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 || i+j+1 >= len(b) {
			if out == nil {
				return b
			}
			return append(out, b[i:]...)
		}
		j += i
		esc := b[j+1]
		switch esc {
		case 'a', 'v', 'x', 'U':
		case 'u':
			j += 4 // \uNNNN: its digits cannot start an escape
			fallthrough
		default: // \\ \" \/ \b \f \n \r \t: JSON's own
			if out != nil {
				out = append(out, b[i:min(j+2, len(b))]...)
			}
			i = min(j+2, len(b))
			continue
		}
		if out == nil { // what came before is as it was
			out = append(make([]byte, 0, len(b)+16), b[:j]...)
		} else {
			out = append(out, b[i:j]...)
		}
		switch esc {
		case 'a':
			out = append(out, `\u0007`...)
			i = j + 2
		case 'v':
			out = append(out, `\u000b`...)
			i = j + 2
		case 'x':
			c, ok := hexAt(b, j+2, 2)
			switch {
			case !ok:
				out = append(out, b[j:j+2]...) // not Go's: left as it was
				i = j + 2
				continue
			case c < 0x80:
				out = appendU(out, rune(c))
			default:
				out = append(out, byte(c))
			}
			i = j + 4
		case 'U':
			r, ok := hexAt(b, j+2, 8)
			if !ok {
				out = append(out, b[j:j+2]...)
				i = j + 2
				continue
			}
			if r1, r2 := utf16.EncodeRune(rune(r)); r1 != '\uFFFD' {
				out = appendU(appendU(out, r1), r2)
			} else {
				out = appendU(out, rune(r))
			}
			i = j + 10
		}
	}
	if out == nil {
		return b
	}
	return out
}

// hexAt reads n hex digits at b[i:].
func hexAt(b []byte, i, n int) (uint32, bool) {
	if i+n > len(b) {
		return 0, false
	}
	c, err := strconv.ParseUint(string(b[i:i+n]), 16, 32)
	return uint32(c), err == nil
}

// appendU appends r (at most U+FFFF) as \uNNNN.
func appendU(dst []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
}
