package record

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

// scanAll returns the records and the errors a scanner yields.
func scanAll(t testing.TB, r io.Reader, max int) (recs []string, lines []int, errs []error) {
	s := NewScanner(r, max)
	for i := 0; i < 100000; i++ {
		rec, err := s.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			errs = append(errs, err)
			var pe *PosError
			if !errors.As(err, &pe) {
				return // final
			}
			continue
		}
		recs = append(recs, string(rec.Data))
		lines = append(lines, rec.Line)
	}
	t.Fatal("scanner did not terminate")
	return
}

func TestScannerShapes(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string
		lines []int
		errs  int
	}{
		{"delivery", `{"Records":[{"a":1},{"b":"x}"}]}`, []string{`{"a":1}`, `{"b":"x}"}`}, []int{1, 1}, 0},
		{"delivery pretty", "{\n \"Records\": [\n  {\"a\": 1},\n  {\"b\": 2}\n ]\n}\n", []string{`{"a": 1}`, `{"b": 2}`}, []int{3, 4}, 0},
		{"delivery keys after", `{"Records":[{"a":1}],"x":{"y":[1,2]}}`, []string{`{"a":1}`}, []int{1}, 0},
		{"delivery, Records twice", `{"Records":[{"a":1}],"x":[1],"Records":[{"b":2}]}`, []string{`{"a":1}`, `{"b":2}`}, []int{1, 1}, 0},
		{"delivery keys before", `{"v":"1","Records":[{"a":1}]}`, []string{`{"a":1}`}, []int{1}, 0},
		{"array", `[{"a":1}, {"b":[1,{"c":"]"}]}]`, []string{`{"a":1}`, `{"b":[1,{"c":"]"}]}`}, []int{1, 1}, 0},
		{"empty array", `[]`, nil, nil, 0},
		{"missing comma", `{"Records":[{"a":1} {"b":2},{"c":3}]}`, []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, []int{1, 1, 1}, 1},
		{"jsonl", "{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}", []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, []int{1, 2, 4}, 0},
		{"single", `{"eventName":"X","Recordsx":[1]}`, []string{`{"eventName":"X","Recordsx":[1]}`}, []int{1}, 0},
		{"records not array", `{"Records":5}`, []string{`{"Records":5}`}, []int{1}, 0},
		{"escaped quotes", `{"a":"x\"}\\"}` + "\n" + `{"b":"\\\\"}`, []string{`{"a":"x\"}\\"}`, `{"b":"\\\\"}`}, []int{1, 2}, 0},
		{"garbage line", "{\"a\":1}\nnot json\n{\"b\":2}", []string{`{"a":1}`, `{"b":2}`}, []int{1, 3}, 1},
		{"scalar element", `[1,{"a":1},"s"]`, []string{`{"a":1}`}, []int{1}, 2},
		{"truncated array", `[{"a":1},{"b":`, []string{`{"a":1}`}, []int{1}, 1},
		{"truncated object", `{"a":{"b":1}`, nil, nil, 1},
		{"truncated string", `{"a":"abc`, nil, nil, 1},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 3} {
			t.Run(tt.name, func(t *testing.T) {
				var r io.Reader = strings.NewReader(tt.in)
				if chunk == 1 {
					r = iotest.OneByteReader(r)
				} else if chunk == 3 {
					r = iotest.HalfReader(r)
				}
				got, lines, errs := scanAll(t, r, 0)
				if strings.Join(got, "|") != strings.Join(tt.want, "|") {
					t.Errorf("records = %q, want %q", got, tt.want)
				}
				if tt.lines != nil && !equalInts(lines, tt.lines) {
					t.Errorf("lines = %v, want %v", lines, tt.lines)
				}
				if len(errs) != tt.errs {
					t.Errorf("errors = %v, want %d", errs, tt.errs)
				}
			})
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestScannerSizeLimit(t *testing.T) {
	big := `{"a":"` + strings.Repeat("x", 5000) + `"}`
	in := `{"Records":[{"a":1},` + big + `,{"b":2}]}`
	for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
		got, _, errs := scanAll(t, r, 1000)
		if strings.Join(got, "|") != `{"a":1}|{"b":2}` {
			t.Errorf("records = %q", got)
		}
		if len(errs) != 1 || !errors.Is(errs[0], ErrTooLarge) {
			t.Errorf("errors = %v, want one ErrTooLarge", errs)
		}
	}
}

// Nesting up to MaxDepth is read; deeper is an error (the validator's
// memory is bounded) and the records around it are read.
func TestScannerDeepNesting(t *testing.T) {
	deep := func(n int) string { return `{"d":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}` }
	in := `{"a":1}` + "\n" + deep(MaxDepth-1) + "\n" + `{"b":2}` + "\n" + deep(100000) + "\n" + `{"c":3}`
	got, _, errs := scanAll(t, strings.NewReader(in), 0)
	if len(got) != 4 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "line 4") || !strings.Contains(errs[0].Error(), "nested deeper") {
		t.Fatalf("got %d records, errs %v", len(got), errs)
	}
}

// A record may hold MaxValues array elements and object members in all;
// one more, in an array, in compact members or in spaced ones, is an
// error naming its line, and the records around it are read.
func TestScannerMaxValues(t *testing.T) {
	elems := func(n int, sep string) string { // {"a":[1,1,...]}
		return `{"a":[` + strings.Repeat("1"+sep, n-1) + `1]}`
	}
	members := func(n int, sep string) string { // {"k0":"v","k1":"v",...}
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(sep)
			}
			fmt.Fprintf(&b, `"k%d":"v"`, i)
		}
		b.WriteString("}")
		return b.String()
	}
	for _, tc := range []struct {
		name     string
		ok, over string
	}{
		// the array's elements and the record's one member
		{"elements", elems(MaxValues-1, ","), elems(MaxValues, ",")},
		{"spaced elements", elems(MaxValues-1, ", "), elems(MaxValues, ", ")},
		// n arrays of one element: 2n+1 values
		{"nested arrays", `{"a":[` + strings.Repeat("[1],", MaxValues/2-2) + `[1]]}`, `{"a":[` + strings.Repeat("[1],", MaxValues/2-1) + `[1]]}`},
		{"members", members(MaxValues, ","), members(MaxValues+1, ",")}, // read on in Scanner.member
		{"spaced members", members(MaxValues, ", "), members(MaxValues+1, ", ")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := `{"a":1}` + "\n" + tc.ok + "\n" + `{"b":2}` + "\n" + tc.over + "\n" + `{"c":3}`
			got, _, errs := scanAll(t, strings.NewReader(in), 64<<20)
			if len(got) != 4 || len(errs) != 1 || !errors.Is(errs[0], ErrTooManyValues) || !strings.Contains(errs[0].Error(), "line 4") {
				t.Fatalf("got %d records, errs %v; want 4 and one ErrTooManyValues at line 4", len(got), errs)
			}
		})
	}
}

func TestScannerLargeStream(t *testing.T) {
	// Many records across several buffer refills keep their line numbers.
	var b bytes.Buffer
	b.WriteString("{\"Records\":[\n")
	const n = 20000
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString(`{"eventName":"GetObject","requestParameters":{"key":"` + strings.Repeat("k", i%97) + `"}}`)
	}
	b.WriteString("\n]}\n")
	got, lines, errs := scanAll(t, &b, 0)
	if len(got) != n || len(errs) != 0 {
		t.Fatalf("got %d records, errs %v", len(got), errs)
	}
	for i, l := range lines {
		if l != i+2 {
			t.Fatalf("record %d on line %d, want %d", i, l, i+2)
		}
	}
}

func TestTruncatedGzip(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[`))
	for i := 0; i < 2000; i++ {
		zw.Write([]byte(`{"eventName":"ListBuckets","i":"` + strings.Repeat("z", 50) + `"},`))
	}
	zw.Write([]byte(`{"eventName":"last"}]}`))
	zw.Close()
	data := b.Bytes()[:b.Len()/2]
	path := t.TempDir() + "/t.json.gz"
	if err := writeFile(path, data); err != nil {
		t.Fatal(err)
	}
	rc, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _, errs := scanAll(t, rc, 0)
	if len(got) == 0 {
		t.Fatal("no records before the truncation point")
	}
	if len(errs) != 1 || !errors.Is(errs[0], io.ErrUnexpectedEOF) {
		t.Fatalf("errs = %v, want one unexpected EOF", errs)
	}
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }

// oddReader returns its input in reads of sizes cycling through sizes.
type oddReader struct {
	r     io.Reader
	sizes []int
	n     int
}

func (o *oddReader) Read(b []byte) (int, error) {
	size := o.sizes[o.n%len(o.sizes)]
	o.n++
	return o.r.Read(b[:min(len(b), size)])
}

// Records across reads of every size, and past the buffer (which grows,
// its special-byte bits with it), come out as from one read: strings
// that end at, before and after 64-byte words, escapes and non-ASCII at
// read boundaries, records of 300 KB.
func TestScannerReadSizes(t *testing.T) {
	var in strings.Builder
	for i := range 400 {
		pad := strings.Repeat("p", i%131)
		fmt.Fprintf(&in, `{"k%d":"%s","e":"a\"b\\c\u00e9\n","n":[1,true,null,{"x":"%s"}],"u":"é€😀"}`+"\n", i, pad, pad)
		if i%97 == 0 {
			fmt.Fprintf(&in, `{"big":"%s","tail":"t"}`+"\n", strings.Repeat("b", 300<<10+i))
		}
	}
	want, _, errs := scanAll(t, strings.NewReader(in.String()), 1<<20)
	if len(errs) > 0 || len(want) != 405 {
		t.Fatalf("one read: %d records, errors %v", len(want), errs)
	}
	for _, sizes := range [][]int{{1}, {63, 64, 65}, {4093}, {100000, 7}, {256 << 10}} {
		got, _, errs := scanAll(t, &oddReader{r: strings.NewReader(in.String()), sizes: sizes}, 1<<20)
		if len(errs) > 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("reads of %v: %d records (want %d), errors %v", sizes, len(got), len(want), errs)
		}
	}
}

// Key.Is is string equality of the key's content, for keys of every length
// around its two words, differing at every place.
func TestKeyIs(t *testing.T) {
	for n := 0; n <= 40; n++ {
		key := strings.Repeat("k", n)
		data := []byte(`{"` + key + `":1}`)
		k := Key{Off: 2, N: uint32(n)}
		if !k.Is(data, key) || k.Is(data, key+"x") || n > 0 && k.Is(data, key[1:]) {
			t.Fatalf("length %d: equal or shorter and longer keys misjudged", n)
		}
		for at := 0; at < n; at++ {
			other := key[:at] + "j" + key[at+1:]
			if k.Is(data, other) {
				t.Fatalf("%q is %q", key, other)
			}
		}
	}
}
