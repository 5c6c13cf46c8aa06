package record

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzVerdict: a record (an object whose member holds the fuzzer's bytes),
// alone on a line or in a delivery file's Records, is read exactly when it
// is valid JSON in UTF-8, whatever the read sizes (so wherever a chunk
// boundary splits a multibyte sequence), in keys as in values.
func FuzzVerdict(f *testing.F) {
	for _, s := range []string{
		`"é☃"`, "\"\xe2\x98\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", `"\ud800"`, `"\u00e9"`,
		`{"é":1}`, "{\"\xe2\x98\x83\":1,\"\xe2\x98\":2}", "\"\xef\xbf\xbd\"", `[1,2,{"a":null}]`, `1e400`, `-0`,
		"\"\xf0\x9f\x98\x80\"", "\"\xf0\x9f\x98\"", "\"a\x7f\"", "\"\x00\"", `{"a":"b","a":"c"}`, `tru`, `"\/"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.Count(in, []byte("{"))+bytes.Count(in, []byte("[")) > MaxDepth-4 {
			return // deeper than the scanner accepts, on purpose
		}
		// one line: the bytes' line breaks become spaces
		in = bytes.Clone(in)
		for i, c := range in {
			if c == '\n' || c == '\r' {
				in[i] = ' '
			}
		}
		for _, shape := range []struct{ pre, post string }{
			{`{"k":`, `}`},
			{`{"eventName":"x","k":[`, `]}`},
			{`{"Records":[{"k":`, `}]}`},
		} {
			rec := []byte(shape.pre + string(in) + shape.post)
			want := json.Valid(rec) && utf8.Valid(rec)
			for name, r := range readers(string(rec)) {
				got := scanAllPos(t, r, 1<<20)
				if read := len(got.recs) == 1 && len(got.errs) == 0; read != want {
					t.Fatalf("%s reader, %q: read %v (%+v), valid %v", name, rec, read, got, want)
				}
			}
		}
	})
}
