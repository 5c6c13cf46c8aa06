package record

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// appendCanonical appends the string a key's raw content (between its
// quotes, valid JSON) decodes to, as encoding/json decodes it: escapes
// resolved, invalid UTF-8 bytes and lone surrogates each replaced by U+FFFD.
func appendCanonical(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw):
			e := raw[i+1]
			i += 2
			switch e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i:])
				i += 4
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if d := utf16.DecodeRune(r, hex4(raw[i+2:])); d != utf8.RuneError {
							dst = utf8.AppendRune(dst, d)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
		}
	}
	return dst
}

// hex4 decodes four hex digits (-1 if there are not four).
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// quoteKey quotes a key for a message, shortened if long.
func quoteKey(k string) string {
	if len(k) > 80 {
		n := 80
		for n > 0 && !utf8.RuneStart(k[n]) {
			n--
		}
		return strconv.Quote(k[:n]) + "…"
	}
	return strconv.Quote(k)
}

// maxNormDepth bounds the nesting lastWins re-encodes; deeper values are
// copied as they are (the event parser refuses records nested that deep).
const maxNormDepth = 1000

// lastWins appends valid JSON data re-encoded compactly with one member per
// key in every object: the last occurrence's value at the first
// occurrence's place, as jq and Python read duplicate keys (encoding/json
// also keeps the last value).
func lastWins(dst, data []byte) []byte {
	n := normalizer{data: data}
	dst, _ = n.value(dst, n.ws(0), 0)
	return dst
}

type normalizer struct {
	data []byte
}

type member struct {
	key        string // canonical
	keyRaw     []byte // with its quotes
	start, end int    // the normalized value in dst
}

func (n *normalizer) ws(i int) int {
	for i < len(n.data) {
		switch n.data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index after the string starting at i.
func (n *normalizer) stringEnd(i int) int {
	for i++; i < len(n.data); i++ {
		switch n.data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// rawEnd returns the index after the value starting at i.
func (n *normalizer) rawEnd(i int) int {
	depth := 0
	for i < len(n.data) {
		switch c := n.data[i]; c {
		case '"':
			i = n.stringEnd(i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// value appends the value at i normalized and returns the index after it.
func (n *normalizer) value(dst []byte, i, depth int) ([]byte, int) {
	if i >= len(n.data) {
		return dst, i
	}
	switch n.data[i] {
	case '{':
		if depth >= maxNormDepth {
			break
		}
		return n.object(dst, i, depth)
	case '[':
		if depth >= maxNormDepth {
			break
		}
		dst = append(dst, '[')
		i = n.ws(i + 1)
		for first := true; i < len(n.data) && n.data[i] != ']'; first = false {
			if !first {
				dst = append(dst, ',')
				i = n.ws(i + 1) // ','
			}
			dst, i = n.value(dst, i, depth+1)
			i = n.ws(i)
		}
		return append(dst, ']'), i + 1
	}
	e := n.rawEnd(i)
	return append(dst, n.data[i:e]...), e
}

func (n *normalizer) object(dst []byte, i, depth int) ([]byte, int) {
	start := len(dst)
	dst = append(dst, '{')
	var ms []member
	seen := map[string]int{} // key -> index of its last occurrence in ms
	dup := false
	i = n.ws(i + 1)
	for i < len(n.data) && n.data[i] != '}' {
		if len(ms) > 0 {
			dst = append(dst, ',')
			i = n.ws(i + 1) // ','
		}
		ke := n.stringEnd(i)
		m := member{keyRaw: n.data[i:ke]}
		m.key = string(appendCanonical(nil, m.keyRaw[1:len(m.keyRaw)-1]))
		dst = append(dst, m.keyRaw...)
		dst = append(dst, ':')
		i = n.ws(n.ws(ke) + 1) // ':'
		m.start = len(dst)
		dst, i = n.value(dst, i, depth+1)
		m.end = len(dst)
		i = n.ws(i)
		if _, ok := seen[m.key]; ok {
			dup = true
		}
		seen[m.key] = len(ms)
		ms = append(ms, m)
	}
	dst = append(dst, '}')
	if !dup {
		return dst, i + 1
	}
	// rebuild: each key once, where it first occurs, with its last value
	body := append([]byte(nil), dst[start:]...)
	dst = append(dst[:start], '{')
	done := map[string]bool{}
	for _, m := range ms {
		if done[m.key] {
			continue
		}
		if len(done) > 0 {
			dst = append(dst, ',')
		}
		done[m.key] = true
		v := ms[seen[m.key]]
		dst = append(dst, m.keyRaw...)
		dst = append(dst, ':')
		dst = append(dst, body[v.start-start:v.end-start]...)
	}
	return append(dst, '}'), i + 1
}
