package termtext

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text, a tab\tand lines\n", "plain text, a tab\tand lines\n"},
		{`C:\path\unchanged`, `C:\path\unchanged`},
		{"héllo 日本 🙂", "héllo 日本 🙂"},
		{"arn:aws:iam::1:root\x1b]0;pwned\x07", `arn:aws:iam::1:root\u001b]0;pwned\u0007`},
		{"1.2.3.4\x1b[31mRED", `1.2.3.4\u001b[31mRED`},
		{"cr\rhides", `cr\u000dhides`},
		{"crlf\r\nlines\r\n", "crlf\r\nlines\r\n"},
		{"cr at the end\r", `cr at the end\u000d`},
		{"del\x7f", `del\u007f`},
		{"c1 \u009b31m", `c1 \u009b31m`},
		{"bidi \u202eevil\u2066x\u2069", `bidi \u202eevil\u2066x\u2069`},
		{"not utf-8 \xff\xc3", `not utf-8 \xff\xc3`},
		{"nul\x00", `nul\u0000`},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := &Writer{W: &out}
	for _, s := range []string{"a\x1b[2J", "fine\n", "\xe2\x80"} {
		n, err := w.Write([]byte(s))
		if err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if want := `a\u001b[2Jfine` + "\n" + `\xe2\x80`; out.String() != want {
		t.Errorf("wrote %q, want %q", out.String(), want)
	}
	failing := &Writer{W: errWriter{}}
	if _, err := failing.Write([]byte("x\x1b")); err == nil {
		t.Error("a failing writer's error was lost")
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("broken") }

// FuzzString checks what the escape promises on any bytes: the result is
// UTF-8 with nothing a terminal acts on but newline and tab; text with
// nothing to escape comes back unchanged; and the escaped text, with its
// escapes taken for what they name, is the input.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "plain\n", "\x1b[31m", "\u202e", "\xff", "a\\u001b", "\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if !utf8.ValidString(got) {
			t.Fatalf("String(%q) = %q: not UTF-8", s, got)
		}
		if strings.Contains(strings.ReplaceAll(got, "\r\n", ""), "\r") {
			t.Fatalf("String(%q) = %q keeps a carriage return not before a newline", s, got)
		}
		for _, r := range got {
			if r < 0x20 && r != '\n' && r != '\t' && r != '\r' || r == 0x7f || unsafeRune(r) {
				t.Fatalf("String(%q) = %q keeps %U", s, got, r)
			}
		}
		if safePrefix([]byte(s)) == len(s) && got != s {
			t.Fatalf("String(%q) = %q: changed text that needed no escape", s, got)
		}
		if back := unescape(t, got, s); back != s {
			t.Fatalf("String(%q) = %q, read back as %q", s, got, back)
		}
	})
}

// unescape reads String's output back: a backslash escape is taken as the
// character or byte it names when String would have written it there
// (orig tells an escape from a backslash that was in the input).
func unescape(t *testing.T, esc, orig string) string {
	var b strings.Builder
	for len(esc) > 0 {
		if strings.HasPrefix(orig, `\`) || !strings.HasPrefix(esc, `\`) {
			_, n := utf8.DecodeRuneInString(esc)
			b.WriteString(esc[:n])
			esc = esc[n:]
			_, m := utf8.DecodeRuneInString(orig)
			orig = orig[m:]
			continue
		}
		width, rune16 := 4, false // \xff, or \uffff
		if strings.HasPrefix(esc, `\u`) {
			width, rune16 = 6, true
		}
		if len(esc) < width {
			t.Fatalf("unexpected text %q", esc)
		}
		v, err := strconv.ParseUint(esc[2:width], 16, 4*(width-2))
		if err != nil || !rune16 && esc[1] != 'x' {
			t.Fatalf("bad escape in %q", esc)
		}
		if rune16 {
			b.WriteRune(rune(v))
			_, m := utf8.DecodeRuneInString(orig)
			orig = orig[m:]
		} else {
			b.WriteByte(byte(v))
			orig = orig[1:]
		}
		esc = esc[width:]
	}
	return b.String()
}
