package record

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/bits"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// scanned is everything a scanner yields.
type scanned struct {
	recs  []string
	lines []int
	errs  []*PosError // errors (records lost)
	warns []*PosError // warnings (records still read)
	final error
}

func scanAllPos(t testing.TB, r io.Reader, max int) scanned {
	t.Helper()
	var out scanned
	s := NewScanner(r, max)
	for i := 0; i < 1000000; i++ {
		rec, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			var pe *PosError
			if !errors.As(err, &pe) {
				out.final = err
				return out
			}
			if pe.Warning {
				out.warns = append(out.warns, pe)
			} else {
				out.errs = append(out.errs, pe)
			}
			continue
		}
		out.recs = append(out.recs, string(rec.Data))
		out.lines = append(out.lines, rec.Line)
	}
	t.Fatal("scanner did not terminate")
	return out
}

// readers returns r's data through readers of different chunk sizes.
func readers(data string) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":   strings.NewReader(data),
		"onebyte": iotest.OneByteReader(strings.NewReader(data)),
		"half":    iotest.HalfReader(strings.NewReader(data)),
	}
}

// A record that is not valid JSON (RFC 8259) is an error at its line and is
// not returned; the records around it are. What RFC 8259 allows is read.
func TestScannerValidatesJSON(t *testing.T) {
	invalid := []string{
		`NaN`, `nan`, `inf`, `-inf`, `Infinity`, `-Infinity`, `undefined`, `'s'`,
		"\"raw\x01control\"", "\"raw\ttab\"", "\"raw\x7f\x00nul\"", `"\q"`, `"\u12"`, `"\u12x4"`, `"\x41"`, `"\U0041"`,
		`+1`, `0123`, `-01`, `00`, `.5`, `5.`, `1.e5`, `1e`, `1e+`, `1E-`, `-`, `--1`, `0x10`, `1_000`, `1.5.2`,
		`tru`, `nul`, `falsey`, `True`, `NULL`,
		`[1,]`, `[,1]`, `[1 2]`, `{"k":1,}`, `{,}`, `{"k" 1}`, `{"k":1 "j":2}`, `{1:2}`, `{"k"}`, `{k:1}`, `[1}`, `{"k":1]`,
	}
	valid := []string{
		`0`, `-0`, `0.5e-10`, `1E+2`, `-1.5E3`, `123456789012345678901234567890`, `"\u00e9\ud83d\ude00"`, `"\/\b\f\n\r\t\"\\"`,
		`"é ☃"`, `"\u0000"`, `[]`, `{}`, `true`, `false`, `null`, `[1,[2,{"a":[]}]]`, "[ 1 ,\t2\r]",
	}
	for _, x := range append(invalid, valid...) {
		rec := `{"x":` + x + `,"y":2}`
		isValid := json.Valid([]byte(rec))
		in := `{"a":1}` + "\n" + rec + "\n" + `{"b":2}`
		for name, r := range readers(in) {
			got := scanAllPos(t, r, 0)
			want := []string{`{"a":1}`, `{"b":2}`}
			if isValid {
				want = []string{`{"a":1}`, rec, `{"b":2}`}
			}
			if strings.Join(got.recs, "\n") != strings.Join(want, "\n") || got.final != nil {
				t.Errorf("%s (%s): records %q, want %q (final %v)", x, name, got.recs, want, got.final)
			}
			if isValid && len(got.errs) != 0 {
				t.Errorf("%s (%s): errors %v, want none", x, name, got.errs)
			}
			if !isValid && (len(got.errs) != 1 || got.errs[0].Line != 2 || !strings.Contains(got.errs[0].Msg, "invalid JSON")) {
				t.Errorf("%s (%s): errors %v, want one invalid JSON error on line 2", x, name, got.errs)
			}
		}
	}
	for _, x := range invalid {
		if json.Valid([]byte(`{"x":` + x + `}`)) {
			t.Errorf("test case %s is valid JSON", x)
		}
	}
}

// A record that is not UTF-8 is an error naming the first bad byte (its
// line and stream offset) and is not returned; the records around it are.
// Every valid sequence is read, whole or cut between reads, in keys and
// values, on the fast paths (long ASCII runs, compact members) and off them.
func TestScannerValidatesUTF8(t *testing.T) {
	pad := strings.Repeat("abcdefgh", 3) // ASCII runs the 8-byte loop reads
	for _, tc := range []struct {
		name, str string
		bad       int // the first bad byte's index in str (-1: valid)
	}{
		{"two bytes", "é", -1},
		{"three bytes", "☃", -1},
		{"four bytes", "\xf0\x9f\x98\x80", -1},
		{"U+FFFD itself", "\xef\xbf\xbd", -1},
		{"max rune", "\xf4\x8f\xbf\xbf", -1},
		{"mixed runs", pad + "é" + pad + "☃x" + pad, -1},
		{"lone continuation", "a\x80", 1},
		{"0xff", pad + "\xff", len(pad)},
		{"cut sequence", "\xe2\x98" + pad, 0},
		{"cut at the quote", "ab\xe2", 2},
		{"overlong", "\xc0\xaf", 0},
		{"surrogate", "\xed\xa0\x80", 0},
		{"past U+10FFFF", "\xf4\x90\x80\x80", 0},
		{"after a good one", "é\xc3(", 2},
	} {
		for _, where := range []string{"value", "key", "nested"} {
			var rec string
			switch where {
			case "value":
				rec = `{"a":"b","x":"` + tc.str + `","y":2}`
			case "key":
				rec = `{"a":"b","` + tc.str + `":1,"y":2}`
			case "nested":
				rec = `{"a":{"b":["c","` + tc.str + `"]},"y":2}`
			}
			in := `{"a":1}` + "\n" + rec + "\n" + `{"b":2}`
			for name, r := range readers(in) {
				got := scanAllPos(t, r, 0)
				want := []string{`{"a":1}`, `{"b":2}`}
				if tc.bad < 0 {
					want = []string{`{"a":1}`, rec, `{"b":2}`}
				}
				if strings.Join(got.recs, "\n") != strings.Join(want, "\n") || got.final != nil {
					t.Errorf("%s in a %s (%s): records %q, want %q (final %v)", tc.name, where, name, got.recs, want, got.final)
					continue
				}
				if tc.bad < 0 {
					if len(got.errs) != 0 {
						t.Errorf("%s in a %s (%s): errors %v, want none", tc.name, where, name, got.errs)
					}
					continue
				}
				at := int64(len(`{"a":1}`+"\n") + strings.Index(rec, tc.str) + tc.bad)
				if len(got.errs) != 1 || got.errs[0].Line != 2 || got.errs[0].Offset != at || !errors.Is(got.errs[0], ErrInvalidUTF8) ||
					!strings.Contains(got.errs[0].Error(), "invalid UTF-8: byte 0x") {
					t.Errorf("%s in a %s (%s): errors %v, want one invalid UTF-8 error on line 2 at byte %d", tc.name, where, name, got.errs, at)
				}
			}
		}
	}
}

// In JSON Lines, a line cut short does not swallow the next line: a line
// break inside a string, or a line starting with `{"` inside a record, ends
// the record. Pretty-printed documents and delivery files still read.
func TestScannerJSONLResync(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     []string
		errLines []int
	}{
		{"cut in a string", "{\"a\":\"abc\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"cut in a key", "{\"a\":1,\"ke\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"cut after a backslash", "{\"a\":\"abc\\\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"cut in a unicode escape", "{\"a\":\"\\u00\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"cut after a comma", "{\"a\":1,\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"cut after a colon", "{\"a\":\n{\"b\":2}\n{\"c\":3}", []string{`{"b":2}`, `{"c":3}`}, []int{1}},
		{"cut after a bracket", "{\"a\":[\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"cut in a number", "{\"a\":1.\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"cut in a literal", "{\"a\":tr\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"cut after a value", "{\"a\":{\"x\":1}\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"CRLF cut", "{\"a\":\"abc\r\n{\"b\":2}\r\n", []string{`{"b":2}`}, []int{1}},
		{"invalid then cut", "{\"a\":NaN,\"b\":\"x\n{\"b\":2}\n", []string{`{"b":2}`}, []int{1}},
		{"two cut lines", "{\"a\":\"x\n{\"b\":\"y\n{\"c\":3}", []string{`{"c":3}`}, []int{1, 2}},
		{"cut in a delivery file", "{\"Records\":[\n{\"a\":\"x\n{\"b\":2}]}", []string{`{"b":2}`}, []int{2}},
		{"cut in an array", "[{\"a\":1,\n{\"b\":2}]", []string{`{"b":2}`}, []int{1}},
		{"garbage lines", "hello\nworld\n  more\n{\"b\":2}", []string{`{"b":2}`}, []int{1}},
		{"pretty document", "{\n  \"a\": {\n    \"b\": [\n      {\"c\": 1},\n      2\n    ]\n  }\n}\n{\"d\":4}",
			[]string{"{\n  \"a\": {\n    \"b\": [\n      {\"c\": 1},\n      2\n    ]\n  }\n}", `{"d":4}`}, nil},
		{"pretty, no indent", "{\n\"a\": [\n{\n\"b\": 1\n}\n]\n}", []string{"{\n\"a\": [\n{\n\"b\": 1\n}\n]\n}"}, nil},
		{"pretty delivery", "{\n \"Records\": [\n  {\n   \"a\": 1\n  },\n  {\"b\": 2}\n ],\n \"x\": {\n  \"y\": 1\n }\n}",
			[]string{"{\n   \"a\": 1\n  }", `{"b": 2}`}, nil},
		{"invalid pretty document", "{\n  \"a\": NaN,\n  \"b\": {\n    \"c\": 1\n  }\n}\n{\"d\":4}", []string{`{"d":4}`}, []int{2}},
	}
	for _, tt := range tests {
		for name, r := range readers(tt.in) {
			got := scanAllPos(t, r, 0)
			if strings.Join(got.recs, "|") != strings.Join(tt.want, "|") {
				t.Errorf("%s (%s): records %q, want %q", tt.name, name, got.recs, tt.want)
			}
			var lines []int
			for _, e := range got.errs {
				lines = append(lines, e.Line)
			}
			if !equalInts(lines, tt.errLines) || len(got.warns) != 0 {
				t.Errorf("%s (%s): errors %v (lines %v), warnings %v; want errors on lines %v", tt.name, name, got.errs, lines, got.warns, tt.errLines)
			}
		}
	}
}

// A UTF-8 byte order mark is skipped; UTF-16 input is one clear error.
func TestScannerBOM(t *testing.T) {
	bom := "\xEF\xBB\xBF"
	tests := []struct {
		name  string
		in    string
		want  []string
		lines []int
		err   string
	}{
		{"jsonl", bom + "{\"a\":1}\n{\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}, []int{1, 2}, ""},
		{"delivery", bom + `{"Records":[{"a":1},{"b":2}]}`, []string{`{"a":1}`, `{"b":2}`}, []int{1, 1}, ""},
		{"array", bom + "[\n{\"a\":1}]", []string{`{"a":1}`}, []int{2}, ""},
		{"concatenated files", bom + "{\"a\":1}\n" + bom + "{\"b\":2}\n", []string{`{"a":1}`, `{"b":2}`}, []int{1, 2}, ""},
		{"only a BOM", bom, nil, nil, ""},
		{"UTF-16LE", "\xFF\xFE{\x00\"\x00a\x00\"\x00:\x001\x00}\x00", nil, nil, "UTF-16"},
		{"UTF-16BE", "\xFE\xFF\x00{\x00\"\x00a\x00\"\x00:\x001\x00}", nil, nil, "UTF-16"},
		{"UTF-16LE without BOM", "{\x00\"\x00a\x00\"\x00:\x001\x00}\x00", nil, nil, "UTF-16"},
		{"UTF-16BE without BOM", "\x00[\x00{\x00}\x00]", nil, nil, "UTF-16"},
		{"BOM inside a string", "{\"a\":\"" + bom + "\"}", []string{"{\"a\":\"" + bom + "\"}"}, []int{1}, ""},
	}
	for _, tt := range tests {
		for name, r := range readers(tt.in) {
			got := scanAllPos(t, r, 0)
			if strings.Join(got.recs, "|") != strings.Join(tt.want, "|") || !equalInts(got.lines, tt.lines) {
				t.Errorf("%s (%s): records %q lines %v, want %q %v", tt.name, name, got.recs, got.lines, tt.want, tt.lines)
			}
			switch {
			case tt.err == "" && len(got.errs) > 0:
				t.Errorf("%s (%s): errors %v", tt.name, name, got.errs)
			case tt.err != "" && (len(got.errs) != 1 || !strings.Contains(got.errs[0].Msg, tt.err) || !errors.Is(got.errs[0], ErrUTF16)):
				t.Errorf("%s (%s): errors %v, want one %q", tt.name, name, got.errs, tt.err)
			}
		}
	}
}

// Duplicate keys: the last occurrence wins at every level (as jq, Python
// and encoding/json read them), and the record is a warning naming the key.
func TestScannerDuplicateKeys(t *testing.T) {
	var many strings.Builder
	many.WriteString(`{`)
	for i := 0; i < 40; i++ {
		many.WriteString(`"k` + strings.Repeat("x", i) + `":1,`)
	}
	many.WriteString(`"eventName":"GetPolicy","eventName":"AddPermission20150331v2"}`)
	tests := []struct {
		name, in, want, key string
	}{
		{"top level", `{"eventName":"GetPolicy","eventName":"AddPermission20150331v2"}`, `{"eventName":"AddPermission20150331v2"}`, `"eventName"`},
		{"first place, last value", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`, `"a"`},
		{"nested", `{"r":{"x":1,"x":{"y":[1,{"z":1,"z":2}]}},"s":[{"q":1,"q":2}]}`, `{"r":{"x":{"y":[1,{"z":2}]}},"s":[{"q":2}]}`, ``},
		{"escaped key", `{"a":1,"\u0061":2}`, `{"a":2}`, `"a"`},
		{"surrogate pair key", `{"😀":1,"\ud83d\ude00":2}`, `{"😀":2}`, `"😀"`},
		{"three times", `{"a":1,"a":2,"a":3}`, `{"a":3}`, `"a"`},
		{"many keys", many.String(), strings.Replace(many.String(), `"eventName":"GetPolicy",`, ``, 1), `"eventName"`},
		{"pretty", "{\n \"a\": 1,\n \"a\": [ 2 ]\n}", `{"a":[2]}`, `"a"`},
	}
	for _, tt := range tests {
		if !json.Valid([]byte(tt.want)) {
			t.Fatalf("%s: want is not JSON", tt.name)
		}
		for name, r := range readers(tt.in + "\n" + `{"next":1,"b":{"next":2}}`) {
			got := scanAllPos(t, r, 0)
			want := []string{tt.want, `{"next":1,"b":{"next":2}}`}
			if strings.Join(got.recs, "\n") != strings.Join(want, "\n") || len(got.errs) != 0 {
				t.Errorf("%s (%s): records %q errors %v, want %q", tt.name, name, got.recs, got.errs, want)
			}
			if len(got.warns) != 1 || !strings.Contains(got.warns[0].Msg, "duplicate key") || !strings.Contains(got.warns[0].Msg, tt.key) ||
				got.warns[0].Line != 1 || got.warns[0].Offset != 0 {
				t.Errorf("%s (%s): warnings %v, want one naming %s at line 1", tt.name, name, got.warns, tt.key)
			}
			// what encoding/json reads from the input is what we return
			var a, b any
			json.Unmarshal([]byte(tt.in), &a)
			json.Unmarshal([]byte(got.recs[0]), &b)
			if !jsonEqual(a, b) {
				t.Errorf("%s: %v, encoding/json reads %v", tt.name, b, a)
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// giantRecord streams a record of n bytes ({"a":"xxx..."}) and a valid one
// after it, without holding them.
type giantRecord struct {
	head, tail string
	fill       string // repeated; "x" if empty
	n, off     int
	block      []byte // fill repeated
}

func (g *giantRecord) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && g.off < g.n {
		switch {
		case g.off < len(g.head):
			c := copy(p[k:], g.head[g.off:])
			k += c
			g.off += c
		case g.off >= g.n-len(g.tail):
			c := copy(p[k:], g.tail[g.off-(g.n-len(g.tail)):])
			k += c
			g.off += c
		default:
			c := min(len(p)-k, g.n-len(g.tail)-g.off)
			if g.block == nil {
				fill := g.fill
				if fill == "" {
					fill = "x"
				}
				g.block = []byte(strings.Repeat(fill, (64<<10)/len(fill)+2))
			}
			period := len(g.fill)
			if period == 0 {
				period = 1
			}
			at := (g.off - len(g.head)) % period
			c = copy(p[k:k+c], g.block[at:len(g.block)-period])
			k += c
			g.off += c
		}
	}
	return k, nil
}

// The record size limit bounds memory: a record over it is skipped by
// scanning, without buffering it, and the next record is read.
func TestScannerSizeLimitBoundsMemory(t *testing.T) {
	const limit = 1 << 20
	size := 256 << 20
	if testing.Short() { // CI's race run: still 16 times the limit
		size = 16 << 20
	}
	next := "\n" + `{"eventName":"next"}` + "\n"
	tests := []struct {
		name       string
		head, tail string
		fill       string
	}{
		{"one string", `{"a":"`, `"}` + next, ""},
		{"deep nesting", `{"a":`, next, "["},
		{"many keys", `{"a":{"k":1`, `}}` + next, `,"k":1`},
		{"many duplicate keys", `{"k":1`, `}` + next, `,"k":{"k":1,"k":2}`},
		{"delivery file", `{"Records":[{"a":1},{"b":"`, `"},{"eventName":"next"}]}` + "\n", ""},
		{"cut string", `{"a":"`, next, ""},
		{"unterminated top-level string key", `{"`, next, ""},
		{"invalid after the limit", `{"a":"`, `"NaN}` + next, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got := scanAllPos(t, &giantRecord{head: tt.head, tail: tt.tail, fill: tt.fill, n: size}, limit)
			runtime.ReadMemStats(&after)
			t.Logf("%d MB allocated", (after.TotalAlloc-before.TotalAlloc)>>20)
			// the buffer holds up to twice the limit, and the keys of the
			// objects being read (16 bytes a key) up to the limit
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*limit {
				t.Errorf("allocated %d MB to skip a %d MB record with a %d MB limit", alloc>>20, size>>20, limit>>20)
			}
			if n := len(got.recs); n == 0 || got.recs[n-1] != `{"eventName":"next"}` {
				t.Errorf("records %q, want the one after the giant record", got.recs)
			}
			if len(got.errs) != 1 {
				t.Errorf("errors %v, want one", got.errs)
			}
		})
	}
}

// Random binary data: memory stays bounded and scanning ends.
func TestScannerBinaryBoundsMemory(t *testing.T) {
	const limit = 1 << 20
	size := 64 << 20
	if testing.Short() { // CI's race run
		size = 8 << 20
	}
	data := make([]byte, size)
	x := uint64(0x9E3779B97F4A7C15)
	for i := range data {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		data[i] = byte(x)
	}
	data[0] = '{' // not UTF-16
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := scanAllPos(t, bytes.NewReader(data), limit)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MB scanning %d MB of random bytes", alloc>>20, size>>20)
	}
	if len(got.errs) == 0 {
		t.Error("no errors on random bytes")
	}
}

// Special finds the first '"', '\\', control character or byte from 0x80
// of a word, and StringStops the first of the same but the bytes from 0x80,
// for every byte value at every place after plain bytes and before any.
func TestSpecial(t *testing.T) {
	for _, f := range []struct {
		name string
		mask func(uint64) uint64
		is   func(byte) bool
	}{
		{"Special", Special, func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }},
		{"StringStops", StringStops, func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }},
	} {
		fill := []byte{'a', ' ', '!', '#', 0x7f, '[', ']', '0'} // plain bytes, some next to special ones
		for c := 0; c < 256; c++ {
			for at := 0; at < 8; at++ {
				for _, before := range fill {
					for _, after := range []byte{'a', '"', '\\', 0, 0x1f, 0x21, 0xff, 0x80} {
						var w [8]byte
						for i := range w {
							switch {
							case i < at:
								w[i] = before
							case i == at:
								w[i] = byte(c)
							default:
								w[i] = after
							}
						}
						want := 8 // the first special byte
						for i, b := range w {
							if f.is(b) {
								want = i
								break
							}
						}
						got := 8
						if m := f.mask(binary.LittleEndian.Uint64(w[:])); m != 0 {
							got = bits.TrailingZeros64(m) / 8
						}
						if got != want {
							t.Fatalf("%s(%q) finds byte %d, want %d", f.name, w, got, want)
						}
					}
				}
			}
		}
	}
}

// firstSpecial is skipPlain's reference: the first byte from i that a
// string cannot hold as it is.
func firstSpecial(buf []byte, i int) int {
	for ; i < len(buf); i++ {
		if c := buf[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return i
		}
	}
	return len(buf)
}

// skipPlainOf is the scanner's skipPlain over buf, its bits made by
// specialBits (over a slice with room past it, as the scanner's buffer).
func skipPlainOf(buf []byte, from int) int {
	room := append(buf[:len(buf):len(buf)], bytes.Repeat([]byte("a"), 100)...)
	s := &Scanner{buf: room, end: len(buf), special: make([]uint64, specialWords(len(room)))}
	for i := range s.special {
		s.special[i] = 0x5555 // garbage past the bits specialBits sets
	}
	specialBits(s.special, buf)
	return s.skipPlain(from)
}

// skipPlain, with and without AVX2, finds every byte value at every place
// of buffers around and past 64-byte blocks, from any start.
func TestSkipPlain(t *testing.T) {
	defer func(v bool) { useAVX2 = v }(useAVX2)
	for _, avx := range []bool{false, useAVX2} {
		useAVX2 = avx
		for _, n := range []int{0, 1, 7, 8, 31, 32, 33, 63, 64, 65, 127, 128, 130, 200} {
			for _, from := range []int{0, 1, 3, 62, 63, 64, 65, n} {
				if from > n {
					continue
				}
				buf := bytes.Repeat([]byte("a"), n)
				if got := skipPlainOf(buf, from); got != n {
					t.Fatalf("avx2=%v: plain %d bytes from %d: got %d", avx, n, from, got)
				}
				for at := from; at < n; at++ {
					for c := 0; c < 256; c++ {
						buf[at] = byte(c)
						if got, want := skipPlainOf(buf, from), firstSpecial(buf, from); got != want {
							t.Fatalf("avx2=%v: byte %#02x at %d of %d, from %d: got %d, want %d", avx, c, at, n, from, got, want)
						}
					}
					buf[at] = '"' // a later special byte must not hide this one
				}
			}
		}
	}
}

// specialBits marks exactly the special bytes, with and without AVX2, and
// the bits past the end.
func FuzzSpecialBits(f *testing.F) {
	f.Add([]byte(`abcdefghijklmnopqrstuvwxyz0123456789"`))
	f.Add([]byte("0123456789012345678901234567890123456789\x7f\x80\\\t\x1f !"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		defer func(v bool) { useAVX2 = v }(useAVX2)
		for _, avx := range []bool{false, useAVX2} {
			useAVX2 = avx
			words := make([]uint64, specialWords(len(buf))+1)
			words[len(words)-1] = 0x1234 // not to be touched
			specialBits(words, buf)
			for i := 0; i < len(words)*64-64; i++ {
				want := i >= len(buf) || firstSpecial(buf, i) == i
				if got := words[i>>6]>>(i&63)&1 == 1; got != want {
					t.Fatalf("avx2=%v: %q: bit %d is %v, want %v", avx, buf, i, got, want)
				}
			}
			if words[len(words)-1] != 0x1234 {
				t.Fatalf("avx2=%v: %q: a word past the bits was written", avx, buf)
			}
			for from := 0; from <= len(buf); from++ {
				if got, want := skipPlainOf(buf, from), firstSpecial(buf, from); got != want {
					t.Fatalf("avx2=%v: skipPlain(%q, %d) = %d, want %d", avx, buf, from, got, want)
				}
			}
		}
	})
}
