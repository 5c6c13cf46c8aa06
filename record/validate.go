package record

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"unicode/utf8"
)

// The validator checks JSON (RFC 8259) in the scanner's buffer as it finds
// the end of a value. It is resumable at any byte, so a value may span any
// number of reads, and it never looks back at bytes it has passed (except
// object keys, while the record is kept), so an oversized record can be
// validated and skipped without keeping it.

// MaxDepth is the deepest nesting of objects and arrays accepted in a
// record (as in encoding/json; the event parser accepts less).
const MaxDepth = 10000

// MaxValues is the most array elements and object members a record may
// hold, nested ones included (counted as the commas between them and one
// for each array and object: an empty array or object counts as a value
// of its own). Each is a value for the parser to build, a few hundred
// bytes with its share of its parents' slices: 16 MB of `[1,1,1,...]` (8
// million elements, under the size limit) took 8.4 GB and 40 s to hunt,
// and a record of 200,000 members 310 MB. CloudTrail's records hold a few
// hundred (the most in the corpus's real logs: 296).
const MaxValues = 1 << 16

type vstate uint8

const (
	vVal        vstate = iota // a value is expected
	vValOrClose               // after '[': a value or ']'
	vKeyOrClose               // after '{': a key or '}'
	vKey                      // after ',' in an object: a key
	vColon                    // after a key: ':'
	vNext                     // after a value in a container: ',' or its closing bracket
	vStr                      // inside a string
	vEsc                      // after '\' in a string
	vHex                      // in the hex digits of a \u escape
	vLit                      // inside true, false or null
	vMinus                    // after a number's '-'
	vZero                     // after a number's leading 0 (may end)
	vInt                      // in the integer digits (may end)
	vDot                      // after '.'
	vFrac                     // in the fraction digits (may end)
	vE                        // after 'e'
	vESign                    // after the exponent's sign
	vExp                      // in the exponent digits (may end)
	vEnd                      // the value is complete
)

type vstatus uint8

const (
	vMore vstatus = iota // the buffer ended inside the value
	vDone                // the value ended at pos
	vWrap                // a delivery file's "Records": [ was found; pos is past '['
	vErr                 // not valid JSON at errAt
)

// keyRef is an object key: its content bytes in the record (at Off from
// the record's start), or, when N has canonKey set (the key has escapes), its
// decoded form in validator.canon at Off. Keys are compared byte by byte
// otherwise (two keys that differ only in invalid UTF-8 bytes, both U+FFFD
// to encoding/json, would not be found equal, but the validator refuses
// bytes that are not UTF-8).
//
// It is a Key (Sig from the key's length and first and last bytes: equal
// keys have equal sigs), so that runs of keys are copied out whole.
type keyRef = Key

const canonKey = 1 << 31

// keySig returns a key's signature: KeySig for the scanner's bytes.
func keySig(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.LittleEndian.Uint64(k) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(k[len(k)-8:]), 29) ^ uint64(len(k))
	}
	var sig uint64
	for _, c := range k {
		sig = sig<<8 | uint64(c)
	}
	return sig ^ uint64(len(k))<<59
}

// KeySig returns the signature of a key (Key.Sig): equal keys have equal
// signatures, made of their length and first and last 8 bytes.
func KeySig(k string) uint64 {
	if len(k) >= 8 {
		return le64(k) ^ bits.RotateLeft64(le64(k[len(k)-8:]), 29) ^ uint64(len(k))
	}
	var sig uint64
	for i := 0; i < len(k); i++ {
		sig = sig<<8 | uint64(k[i])
	}
	return sig ^ uint64(len(k))<<59
}

// le64 is the little-endian word of s's first 8 bytes.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

type validator struct {
	state vstate
	stack []byte // open containers: '{' or '['
	lit   string // the rest of the literal being matched
	hex   int    // hex digits left in a \u escape
	isKey bool   // the string being scanned is an object key

	// track: the value is kept in the buffer, and object keys are checked
	// for duplicates.
	track    bool
	recStart int64 // stream offset of the record (when tracking)
	keyStart int64 // stream offset of the current key's first content byte
	keyEsc   bool  // the current key has an escape
	objKeys  []int // per open object (when tracking): index in keys of its first key
	keys     []keyRef
	canon    []byte // decoded keys (those with escapes)
	table    []int32
	dups     int    // duplicate keys found
	dupKey   string // the first one
	top      []Key  // the record's top-level keys, when topOK
	topOK    bool   // the record is an object, closed, without escaped keys
	nested   []Key  // the keys of the record's members that are objects (Record.Nested)
	kids     []kids // which member each run of nested is
	kidsOf   []Kid  // Record.Kids
	escaped  bool   // a key with an escape was read (keys has canonKey keys)
	deepest  int    // the deepest nesting seen
	values   int    // array elements and object members so far (commas and containers)

	// wrapper: the value is a top-level object that may be a delivery file;
	// recordsKey: the last key of the top-level object was "Records".
	wrapper, recordsKey bool
	wrapped             bool // a run ended at a "Records" array
	prevNL              bool // the last byte consumed between tokens was '\n'

	errAt        int    // buffer index of the offending byte
	errMsg       string // what is wrong
	errNewline   bool   // the error is a line break inside a string
	errNewRecord bool   // the error is a line starting with `{"` inside the value
	errUTF8      bool   // the error is a byte that is not UTF-8
}

func (v *validator) reset(track, wrapper bool) {
	v.state = vVal
	v.stack = v.stack[:0]
	v.objKeys = v.objKeys[:0]
	v.keys = v.keys[:0]
	v.canon = v.canon[:0]
	v.track, v.wrapper, v.recordsKey, v.prevNL = track, wrapper, false, false
	v.dups, v.dupKey, v.wrapped = 0, "", false
	v.top, v.topOK, v.deepest, v.values = v.top[:0], false, 0, 0
	v.nested, v.kids, v.escaped = v.nested[:0], v.kids[:0], false
	v.errNewline, v.errNewRecord, v.errUTF8 = false, false, false
}

// kids are the keys of a member that is an object: nested[from:from+n],
// the member being the record's top-level key number member.
type kids struct{ member, from, n int }

// recordKeys returns the record's top-level keys (nil when not known).
func (v *validator) recordKeys() []Key {
	if !v.topOK {
		return nil
	}
	if v.top == nil {
		return []Key{} // an empty object
	}
	return v.top
}

// recordNested returns Record.Nested and Record.Kids (nil when the keys
// are not known).
func (v *validator) recordNested() ([]Key, []Kid) {
	if !v.topOK {
		return nil, nil
	}
	return v.nested, v.kidsOf
}

func (v *validator) push(c byte) {
	v.values++ // its first element or member (or itself, when empty)
	v.stack = append(v.stack, c)
	v.deepest = max(v.deepest, len(v.stack))
	if c == '{' && v.track {
		v.objKeys = append(v.objKeys, len(v.keys))
	}
}

// inString reports whether the validator stopped inside a string.
func (v *validator) inString() bool {
	return v.state == vStr || v.state == vEsc || v.state == vHex
}

// atNumberEnd reports whether the input may end here: a top-level number is
// complete.
func (v *validator) atNumberEnd() bool {
	if len(v.stack) > 0 {
		return false
	}
	switch v.state {
	case vZero, vInt, vFrac, vExp, vEnd:
		return true
	}
	return false
}

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// Special returns a mask with the high bit set in the bytes of x (8 bytes,
// little endian) that are '"', '\\', a control character or not ASCII: the
// bytes a JSON string cannot hold as they are, or that start a multi-byte
// sequence (the validator's strings, and alert's writer, skip the others).
// False positives can only follow a true one, so the lowest set bit marks
// the first.
//
// Bytes from 0x80 have the high bit set already and borrow nothing.
func Special(x uint64) uint64 { return StringStops(x) | x&hi8 }

// StringStops is Special without the bytes from 0x80: the bytes of x that
// are '"', '\\' or a control character, where a JSON string ends or needs a
// look (alert's check of a record's strings passes the others). False
// positives can only follow a true one.
//
// Flipping bit 1 maps the control characters onto themselves and '"' onto
// ' ', so both are the bytes below 0x21 once flipped: one test finds them.
func StringStops(x uint64) uint64 {
	q := x ^ (lo8 * 0x02)
	b := x ^ (lo8 * '\\')
	return ((q-lo8*0x21)&^q | (b-lo8)&^b) & hi8
}

// skipPlain returns the index of the first byte from i that is '"', '\\',
// a control character or not ASCII (s.end if none): the first bit set in
// s.special from i, which fill computed for the whole buffer at once.
func (s *Scanner) skipPlain(i int) int {
	words := s.special[:(s.end+63)>>6]
	w := i >> 6
	if w >= len(words) {
		return s.end
	}
	if m := words[w] >> (uint(i) & 63); m != 0 {
		return min(i+bits.TrailingZeros64(m), s.end)
	}
	for w++; w < len(words); w++ {
		if m := words[w]; m != 0 {
			return min(w<<6+bits.TrailingZeros64(m), s.end)
		}
	}
	return s.end
}

// member reads, from the quote at i, an ASCII key without escapes, the ':' right
// after it and a value right after that when it is an ASCII string without
// escapes, a literal or the start of an object, and goes on through the
// members that follow compactly (`,"key":value`), as far as it can; it
// returns where it stopped and false if the first key is not plain (the
// caller then reads it byte by byte).
func (s *Scanner) member(buf []byte, i int) (int, bool) {
	v := &s.v
	next := vKey // the state at a key that is not plain, if not the first
	for first := true; ; first = false {
		from := i + 1
		j, ok := s.plainString(buf, from)
		if !ok {
			if first {
				v.keyStart, v.keyEsc = s.base+int64(from), false
				return i, false
			}
			v.state = next
			return i, true
		}
		if v.track && !(v.wrapper && len(v.stack) == 1) && len(v.keys) < cap(v.keys) && s.base+int64(from)-v.recStart <= int64(s.max) {
			// endKey's common case, in line
			v.keys = append(v.keys, keyRef{Off: uint32(s.base + int64(from) - v.recStart), N: uint32(j - from), Sig: keySig(buf[from:j])})
		} else {
			v.keyStart, v.keyEsc = s.base+int64(from), false
			s.endKey(j)
		}
		i = j + 1
		v.state = vColon
		if i >= len(buf) || buf[i] != ':' {
			return i, true
		}
		v.state = vVal
		i++
		if i >= len(buf) {
			return i, true
		}
		switch c := buf[i]; c {
		case '"':
			if j, ok = s.plainString(buf, i+1); !ok {
				return i, true
			}
			i = j + 1
		case 't', 'f', 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if len(buf)-i < len(lit) || string(buf[i:i+len(lit)]) != lit {
				return i, true
			}
			i += len(lit)
		case '{':
			if len(v.stack) >= MaxDepth || i+1 >= len(buf) || buf[i+1] != '"' {
				return i, true
			}
			v.push('{')
			i++
			next = vKeyOrClose
			continue // its first key
		default:
			return i, true
		}
		v.state = vNext // inside an object: the value does not end the record
		if i+1 >= len(buf) || buf[i] != ',' || buf[i+1] != '"' {
			return i, true
		}
		i++
		v.values++
		next = vKey
	}
}

// plainString returns the index of the closing quote of a string whose
// content starts at i, when the string is ASCII without escapes and ends in
// buf.
func (s *Scanner) plainString(buf []byte, i int) (int, bool) {
	i = s.skipPlain(i)
	return i, i < len(buf) && buf[i] == '"'
}

func (s *Scanner) verr(i int, format string, args ...any) vstatus {
	s.v.errAt = i
	s.v.errMsg = fmt.Sprintf(format, args...)
	s.pos = i
	return vErr
}

// validate advances pos through the value being validated until it ends,
// the buffer ends, or it is found invalid.
func (s *Scanner) validate() vstatus {
	v := &s.v
	buf := s.buf[:s.end]
	i := s.pos
	for i < len(buf) {
		switch v.state {
		case vStr:
			i = s.skipPlain(i)
			if i == len(buf) {
				continue
			}
			switch c := buf[i]; c {
			case '"':
				if v.isKey {
					v.state = vColon
					s.endKey(i)
				} else {
					s.endValue()
				}
				i++
			case '\\':
				v.keyEsc = v.keyEsc || v.isKey
				v.state = vEsc
				i++
			case '\n':
				v.errNewline = true
				return s.verr(i, "line break inside a string (a cut line?)")
			default:
				if c < utf8.RuneSelf {
					return s.verr(i, "control character %q inside a string", c)
				}
				if _, n := utf8.DecodeRune(buf[i:]); n > 1 {
					i += n // a multi-byte sequence
					continue
				}
				if !utf8.FullRune(buf[i:]) {
					s.pos = i // the sequence goes on in the next read
					return vMore
				}
				v.errUTF8 = true
				return s.verr(i, "byte %#02x inside a string", c)
			}
		case vEsc:
			switch c := buf[i]; c {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				v.state = vStr
			case 'u':
				v.state, v.hex = vHex, 4
			case '\n':
				v.errNewline = true
				return s.verr(i, "line break inside a string (a cut line?)")
			default:
				return s.verr(i, "invalid escape '\\%c' in a string", c)
			}
			i++
		case vHex:
			c := buf[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				if c == '\n' {
					v.errNewline = true
				}
				return s.verr(i, "invalid \\u escape: %q is not a hex digit", c)
			}
			i++
			if v.hex--; v.hex == 0 {
				v.state = vStr
			}
		case vLit:
			if buf[i] != v.lit[0] {
				return s.verr(i, "invalid literal (true, false or null expected)")
			}
			i++
			if v.lit = v.lit[1:]; v.lit == "" {
				s.endValue()
			}
		case vMinus, vZero, vInt, vDot, vFrac, vE, vESign, vExp:
			c := buf[i]
			digit := '0' <= c && c <= '9'
			switch v.state {
			case vMinus:
				switch {
				case c == '0':
					v.state = vZero
				case digit:
					v.state = vInt
				default:
					return s.verr(i, "invalid number: a digit must follow '-'")
				}
			case vZero:
				switch {
				case c == '.':
					v.state = vDot
				case c == 'e' || c == 'E':
					v.state = vE
				case digit:
					return s.verr(i, "invalid number: leading zero")
				default:
					s.endValue()
					continue // c is not part of the number
				}
			case vInt:
				switch {
				case digit:
				case c == '.':
					v.state = vDot
				case c == 'e' || c == 'E':
					v.state = vE
				default:
					s.endValue()
					continue
				}
			case vDot:
				if !digit {
					return s.verr(i, "invalid number: a digit must follow '.'")
				}
				v.state = vFrac
			case vFrac:
				switch {
				case digit:
				case c == 'e' || c == 'E':
					v.state = vE
				default:
					s.endValue()
					continue
				}
			case vE:
				switch {
				case c == '+' || c == '-':
					v.state = vESign
				case digit:
					v.state = vExp
				default:
					return s.verr(i, "invalid number: exponent without digits")
				}
			case vESign:
				if !digit {
					return s.verr(i, "invalid number: exponent without digits")
				}
				v.state = vExp
			case vExp:
				if !digit {
					s.endValue()
					continue
				}
			}
			i++
		case vEnd:
			s.pos = i
			return vDone
		default:
			c := buf[i]
			switch c {
			case ' ', '\t', '\r':
				v.prevNL = false
				i++
				continue
			case '\n':
				v.prevNL = true
				i++
				continue
			}
			if c == '{' && v.prevNL && len(v.stack) > 0 {
				// a line that starts with `{"` inside a value: in JSON
				// Lines, the previous line was cut and a record starts here
				if i+1 == len(buf) {
					s.pos = i // look at the next byte when there is one
					return vMore
				}
				if buf[i+1] == '"' {
					v.errNewRecord = true
					return s.verr(i, "incomplete record (a cut line?): the next line starts a new record")
				}
			}
			v.prevNL = false
			switch v.state {
			case vVal, vValOrClose:
				if (c == '{' || c == '[') && len(v.stack) >= MaxDepth {
					return s.verr(i, "nested deeper than %d levels", MaxDepth)
				}
				switch {
				case c == '{':
					v.push('{')
					v.state = vKeyOrClose
				case c == '[':
					if v.wrapper && v.recordsKey && len(v.stack) == 1 {
						s.pos = i + 1
						return vWrap
					}
					v.push('[')
					v.state = vValOrClose
				case c == '"':
					if j, ok := s.plainString(buf, i+1); ok {
						// fast path: an ASCII string without escapes, whole in the buffer
						i = j + 1
						s.endValue()
						if v.state == vEnd {
							s.pos = i
							return vDone
						}
						continue
					}
					v.state, v.isKey = vStr, false
				case c == '-':
					v.state = vMinus
				case c == '0':
					v.state = vZero
				case '1' <= c && c <= '9':
					v.state = vInt
				case c == 't':
					v.state, v.lit = vLit, "rue"
				case c == 'f':
					v.state, v.lit = vLit, "alse"
				case c == 'n':
					v.state, v.lit = vLit, "ull"
				case c == ']' && v.state == vValOrClose:
					s.close(i, c)
				default:
					return s.verr(i, "unexpected %q where a value is expected", c)
				}
			case vKeyOrClose, vKey:
				switch {
				case c == '"':
					if j, ok := s.member(buf, i); ok {
						i = j
						continue
					}
					v.state, v.isKey = vStr, true
				case c == '}' && v.state == vKeyOrClose:
					s.close(i, c)
				default:
					if v.state == vKey {
						return s.verr(i, "unexpected %q where a key is expected after ','", c)
					}
					return s.verr(i, "unexpected %q where a key or '}' is expected", c)
				}
			case vColon:
				if c != ':' {
					return s.verr(i, "unexpected %q where ':' is expected after a key", c)
				}
				v.state = vVal
			case vNext:
				top := v.stack[len(v.stack)-1]
				switch {
				case c == ',':
					v.values++
					v.state = vVal
					if top == '{' {
						v.state = vKey
						if i+1 < len(buf) && buf[i+1] == '"' {
							if j, ok := s.member(buf, i+1); ok { // compact `,"key":`
								i = j
								continue
							}
						}
					}
				case c == '}' && top == '{', c == ']' && top == '[':
					s.close(i, c)
				default:
					want := "'}'"
					if top == '[' {
						want = "']'"
					}
					return s.verr(i, "unexpected %q where ',' or %s is expected", c, want)
				}
			}
			i++
		}
		if v.state == vEnd {
			s.pos = i
			return vDone
		}
	}
	s.pos = i
	return vMore
}

// endValue moves on after a complete value.
func (s *Scanner) endValue() {
	if len(s.v.stack) == 0 {
		s.v.state = vEnd
	} else {
		s.v.state = vNext
	}
}

// close pops the container closed by c at buffer index i.
func (s *Scanner) close(i int, c byte) {
	v := &s.v
	v.stack = v.stack[:len(v.stack)-1]
	if c == '}' && v.track {
		first := v.objKeys[len(v.objKeys)-1]
		v.objKeys = v.objKeys[:len(v.objKeys)-1]
		if len(v.keys)-first > 1 {
			s.checkDups(v.keys[first:])
		}
		switch {
		case len(v.stack) == 0: // the record's own members
			v.top, v.topOK = v.plainKeys(v.top[:0], v.keys[first:])
			v.kidsOf = v.kidsOf[:0]
			if v.topOK {
				v.kidsOf = append(v.kidsOf, make([]Kid, len(v.top))...)
				for _, c := range v.kids {
					v.kidsOf[c.member] = Kid{From: uint32(c.from + 1), N: uint32(c.n)}
				}
			}
		case len(v.stack) == 1 && len(v.objKeys) == 1 && first > v.objKeys[0] && v.dups == 0:
			// a member of the record's own object, whose key is the one
			// before this object's first
			from := len(v.nested)
			var ok bool
			if v.nested, ok = v.plainKeys(v.nested, v.keys[first:]); ok {
				v.kids = append(v.kids, kids{member: first - 1 - v.objKeys[0], from: from, n: len(v.nested) - from})
			}
		}
		v.keys = v.keys[:first]
	}
	s.endValue()
}

// plainKeys appends keys to dst when none of them has an escape (their
// content is their bytes in the record); ok is false, and dst as it was,
// otherwise.
func (v *validator) plainKeys(dst, keys []keyRef) (_ []Key, ok bool) {
	if v.escaped {
		for _, k := range keys {
			if k.N&canonKey != 0 {
				return dst, false
			}
		}
	}
	return append(dst, keys...), true
}

// endKey records the key that ends at buffer index i (its closing quote).
func (s *Scanner) endKey(i int) {
	v := &s.v
	from := int(v.keyStart - s.base)
	if v.wrapper && len(v.stack) == 1 {
		v.recordsKey = !v.keyEsc && from >= 0 && string(s.buf[from:i]) == "Records"
	}
	if !v.track {
		return
	}
	if v.keyStart-v.recStart > int64(s.max) {
		v.track = false // the record is over the limit: it will not be returned
		return
	}
	if len(v.keys) == cap(v.keys) { // grow by doubling: less garbage than append's 1.25 on large objects
		v.keys = append(make([]keyRef, 0, 2*cap(v.keys)+64), v.keys...)
	}
	raw := s.buf[from:i]
	if v.keyEsc {
		v.escaped = true
		off := len(v.canon)
		v.canon = appendCanonical(v.canon, raw)
		v.keys = append(v.keys, keyRef{Off: uint32(off), N: uint32(len(v.canon)-off) | canonKey, Sig: keySig(v.canon[off:])})
		return
	}
	v.keys = append(v.keys, keyRef{Off: uint32(v.keyStart - v.recStart), N: uint32(i - from), Sig: keySig(raw)})
}

func (s *Scanner) keyBytes(k keyRef) []byte {
	if k.N&canonKey != 0 {
		return s.v.canon[k.Off : k.Off+k.N&^canonKey]
	}
	from := s.v.recStart - s.base + int64(k.Off)
	return s.buf[from : from+int64(k.N)]
}

var dupSeed = maphash.MakeSeed()

// checkDups looks for a key that occurs twice among the keys of one object.
func (s *Scanner) checkDups(keys []keyRef) {
	v := &s.v
	found := func(k []byte) {
		if v.dups == 0 {
			v.dupKey = string(k)
		}
		v.dups++
	}
	if len(keys) <= 32 {
		// a 256-bit filter on the signatures; only a key whose bit is
		// already set is compared with the keys before it
		var seen [4]uint64
		for j := range keys {
			sig := keys[j].Sig
			h := (sig * 0x9E3779B97F4A7C15) >> 56
			if seen[h>>6]&(1<<(h&63)) == 0 {
				seen[h>>6] |= 1 << (h & 63)
				continue
			}
			for i := 0; i < j; i++ {
				if keys[i].Sig == sig && bytes.Equal(s.keyBytes(keys[i]), s.keyBytes(keys[j])) {
					found(s.keyBytes(keys[j]))
					break
				}
			}
		}
		return
	}
	size := 32
	for size < 2*len(keys) {
		size *= 2
	}
	if cap(v.table) < size {
		v.table = make([]int32, size)
	}
	t := v.table[:size]
	clear(t)
	for j := range keys {
		kj := s.keyBytes(keys[j])
		h := int(maphash.Comparable(dupSeed, keys[j].Sig) & uint64(size-1))
		for {
			if t[h] == 0 {
				t[h] = int32(j + 1)
				break
			}
			if bytes.Equal(s.keyBytes(keys[t[h]-1]), kj) {
				found(kj)
				break
			}
			h = (h + 1) & (size - 1)
		}
	}
}
