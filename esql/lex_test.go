package esql

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// The lexer gives the tokens, or the error, the lexer before its ASCII
// fast paths (lexRef, below) gives, on any input.
func FuzzLex(f *testing.F) {
	for _, s := range []string{
		"FROM logs-* | WHERE a.b == \"x\\n\" AND c::keyword != 1.5e3 // note\n| KEEP aws.*, `q` /* c */",
		"| EVAL é = ünï.ç, x = a.*b * 2 % 3 >= 4 <= 5 =~ \"\"\"r\"\"\"\"",
		"@timestamp ? [1] | :: = < > + - / ( ) , _x .y .",
		"a // trailing comment without newline",
		"\"unterminated", "/* open", "`open", "\"bad \\q\"", "#", "a\x80b", ".\xffx", "x.\u00e9*",
	} {
		f.Add(s)
	}
	f.Add(seedEBS)
	f.Fuzz(func(t *testing.T, src string) {
		got, err := lex(src)
		want, werr := lexRef(src)
		if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n%v %v\nwant %v %v", src, got, err, want, werr)
		}
	})
}

// TestLexIdent checks the ASCII table of identifier bytes against the
// Unicode classes the lexer applies to other runes.
func TestLexIdent(t *testing.T) {
	for b := range utf8.RuneSelf {
		r := rune(b)
		want := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.' || r == '@'
		if identASCII[b] != want {
			t.Errorf("%q: %v, want %v", r, identASCII[b], want)
		}
		if s := string(r); isIdentStart(s) != isIdentStartRef(s) {
			t.Errorf("isIdentStart(%q) = %v", s, isIdentStart(s))
		}
	}
	if strings.Count(operatorList, " ") != 20 {
		t.Fatal("operators")
	}
	for _, op := range strings.Fields(operatorList) {
		if got := operator(op + "x"); got != op {
			t.Errorf("operator(%q) = %q", op+"x", got)
		}
	}
}

const operatorList = "== != <= >= =~ :: | ( ) , = < > + - * / % [ ] ?"

// lexRef is lex as it was before its ASCII fast paths: the reference
// FuzzLex holds it to.
func lexRef(src string) ([]token, error) {
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
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, errAt(src, i, "unterminated comment")
			}
			i += end + 4
		case strings.HasPrefix(src[i:], `"""`):
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
		case isIdentStartRef(src[i:]) || c == '.' && i+1 < len(src) && isIdentStartRef(src[i+1:]):
			j := i
			for j < len(src) {
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
			for _, op := range []string{"==", "!=", "<=", ">=", "=~", "::", "|", "(", ")", ",", "=", "<", ">", "+", "-", "*", "/", "%", "[", "]", "?"} {
				if strings.HasPrefix(src[i:], op) {
					out = append(out, token{tOp, op, i, false, 0})
					i += len(op)
					goto next
				}
			}
			return nil, errAt(src, i, "unexpected character %q", src[i])
		next:
		}
	}
	if n := len(out); n > 0 && out[n-1].end == 0 {
		out[n-1].end = len(src)
	}
	return append(out, token{tEOF, "", len(src), false, len(src)}), nil
}
func isIdentStartRef(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r) || r == '_' || r == '@'
}
