// Package esql parses and runs Elasticsearch's ES|QL queries over CloudTrail
// events: a row-wise head (WHERE, EVAL, DISSECT, GROK, ...) evaluated as each
// event is read, and a tail (STATS, SORT, LIMIT, ...) evaluated over the rows
// of a rule run.
package esql

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp // punctuation and operators
)

type token struct {
	kind   tokKind
	text   string // identifiers unquoted, strings unescaped
	pos    int
	quoted bool // a back-quoted identifier (never a keyword)
	end    int  // the offset after the token
}

// Error is a syntax or semantic error at a byte offset of the query.
type Error struct {
	Pos       int
	Line, Col int
	Msg       string
	// Unsupported marks valid ES|QL that trailhound does not run (a
	// command, function or source), as opposed to a syntax error.
	Unsupported bool
}

func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

func errAt(src string, pos int, format string, args ...any) *Error {
	if pos > len(src) {
		pos = len(src)
	}
	line := 1 + strings.Count(src[:pos], "\n")
	col := pos - strings.LastIndexByte(src[:pos], '\n')
	return &Error{Pos: pos, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		if n := len(out); n > 0 && out[n-1].end == 0 {
			out[n-1].end = i // each token ends where the next iteration starts
		}
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
				i++ // the run at once
			}
		case c == '/' && strings.HasPrefix(src[i:], "//"):
			if end := strings.IndexByte(src[i:], '\n'); end >= 0 {
				i += end
			} else {
				i = len(src)
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errAt(src, i, "unterminated comment")
			}
			i += end + 4
		case c == '"' && strings.HasPrefix(src[i:], `"""`):
			end := strings.Index(src[i+3:], `"""`)
			if end < 0 {
				return nil, errAt(src, i, "unterminated triple-quoted string")
			}
			// a closing run of more than three quotes ends with the last three
			for i+3+end+3 < len(src) && src[i+3+end+3] == '"' {
				end++
			}
			out = append(out, token{tString, src[i+3 : i+3+end], i, false, 0})
			i += end + 6
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\n' {
					return nil, errAt(src, i, "unterminated string")
				}
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case '"', '\\':
						b.WriteByte(src[j])
					default:
						return nil, errAt(src, j-1, "invalid escape \\%c (use a triple-quoted string for regular expressions)", src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, errAt(src, i, "unterminated string")
			}
			out = append(out, token{tString, b.String(), i, false, 0})
			i = j + 1
		case c == '`':
			end := strings.IndexByte(src[i+1:], '`')
			if end < 0 {
				return nil, errAt(src, i, "unterminated quoted identifier")
			}
			out = append(out, token{tIdent, src[i+1 : i+1+end], i, true, 0})
			i += end + 2
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' && j+1 < len(src) && src[j+1] >= '0' && src[j+1] <= '9') {
				j++
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && src[k] >= '0' && src[k] <= '9' {
					for j = k; j < len(src) && src[j] >= '0' && src[j] <= '9'; j++ {
					}
				}
			}
			out = append(out, token{tNumber, src[i:j], i, false, 0})
			i = j
		case isIdentStart(src[i:]) || c == '.' && i+1 < len(src) && isIdentStart(src[i+1:]):
			j := i
			for j < len(src) {
				if b := src[j]; b < utf8.RuneSelf { // ASCII: no rune to decode
					if !identASCII[b] && (b != '*' || src[j-1] != '.') {
						break
					}
					j++
					continue
				}
				r, n := utf8.DecodeRuneInString(src[j:])
				// `*` belongs to a name pattern only after a dot (KEEP aws.*)
				star := r == '*' && src[j-1] == '.'
				if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == '@' || star) {
					break
				}
				j += n
			}
			out = append(out, token{tIdent, src[i:j], i, false, 0})
			i = j
		default:
			op := operator(src[i:])
			if op == "" {
				return nil, errAt(src, i, "unexpected character %q", src[i])
			}
			out = append(out, token{tOp, op, i, false, 0})
			i += len(op)
		}
	}
	if n := len(out); n > 0 && out[n-1].end == 0 {
		out[n-1].end = len(src)
	}
	return append(out, token{tEOF, "", len(src), false, len(src)}), nil
}

func isIdentStart(s string) bool {
	if b := s[0]; b < utf8.RuneSelf {
		return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' || b == '@'
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r) || r == '_' || r == '@'
}

// identASCII is whether an ASCII byte continues an identifier: a letter, a
// digit, '_', '.' or '@' (and '*' right after a dot, which lex checks).
var identASCII = func() (t [utf8.RuneSelf]bool) {
	for b := range t {
		t[b] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '.' || b == '@'
	}
	return t
}()

// operator returns the operator s starts with (the longest), or "".
func operator(s string) string {
	if len(s) >= 2 {
		switch s[:2] {
		case "==", "!=", "<=", ">=", "=~", "::":
			return s[:2]
		}
	}
	switch s[0] {
	case '|', '(', ')', ',', '=', '<', '>', '+', '-', '*', '/', '%', '[', ']', '?':
		return s[:1]
	}
	return ""
}
