// Package termtext makes text safe to show on a terminal. Alerts, file
// names and error messages carry what an attacker wrote (a user agent, a
// role session, an S3 key): printed raw, an escape sequence in them could
// retitle the window, hide lines, recolour or rewrite what the analyst
// reads. Text shown to people goes through a Writer, which writes such
// characters as visible escapes instead.
package termtext

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// Writer writes to W what it is given, with every character a terminal
// could act on or that reorders text written as an escape: C0 controls
// (as \u001b) other than newline, tab and a carriage return before a
// newline (a lone one can hide a line's start), DEL, C1 controls, the
// bidi embedding, override and isolate controls (U+202A-U+202E,
// U+2066-U+2069), and bytes that are not UTF-8 (as \xff). Other text,
// backslashes included, is written unchanged. Each Write is escaped on its
// own: a character split across two writes is written as escaped bytes.
type Writer struct {
	W   io.Writer
	buf []byte
}

// Write writes p, escaped, to w.W. It returns len(p) when all of it was
// written (the escaped text is longer).
func (w *Writer) Write(p []byte) (int, error) {
	i := safePrefix(p)
	if i == len(p) {
		return w.W.Write(p)
	}
	w.buf = Append(append(w.buf[:0], p[:i]...), p[i:])
	if _, err := w.W.Write(w.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// String returns s with the characters Writer escapes escaped.
func String(s string) string {
	i := safePrefix([]byte(s))
	if i == len(s) {
		return s
	}
	return string(Append([]byte(s[:i]), []byte(s[i:])))
}

// Append appends p to b, escaped as Writer escapes it.
func Append(b, p []byte) []byte {
	for len(p) > 0 {
		i := safePrefix(p)
		b = append(b, p[:i]...)
		p = p[i:]
		if len(p) == 0 {
			break
		}
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n <= 1 {
			b = fmt.Appendf(b, `\x%02x`, p[0])
			p = p[1:]
			continue
		}
		b = fmt.Appendf(b, `\u%04x`, r)
		p = p[n:]
	}
	return b
}

// safePrefix is how many bytes at the start of p need no escape.
func safePrefix(p []byte) int {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\t' && !(c == '\r' && i+1 < len(p) && p[i+1] == '\n') || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n <= 1 || unsafeRune(r) {
			return i
		}
		i += n
	}
	return len(p)
}

// unsafeRune reports whether r (not ASCII) is a C1 control or a bidi
// control.
func unsafeRune(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
