package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

// scanEvent is one thing a scanner yields, for comparing runs.
type scanEvent struct {
	Data    string
	Line    int
	Offset  int64
	Msg     string
	Warning bool
	Final   string
	Members []string // Record.Keys, each as key and KeyValue (nil: no Keys)
	Kids    []string // per member with Kids: member, "\x00", "", then member, key, value for each of its object's keys
	Depth   int
}

func scanEvents(t *testing.T, r io.Reader, max int, limit int) []scanEvent {
	t.Helper()
	return scannerEvents(t, NewScanner(r, max), limit)
}

// scannerEvents is what s yields until the end of its stream.
func scannerEvents(t *testing.T, s *Scanner, limit int) []scanEvent {
	t.Helper()
	var out []scanEvent
	for i := 0; i < limit; i++ {
		rec, err := s.Next()
		if err == io.EOF {
			return out
		}
		e, final := toEvent(rec, err)
		out = append(out, e)
		if final {
			return out
		}
	}
	t.Fatalf("scanner did not terminate")
	return nil
}

// toEvent is what one call of Next yielded, and whether it ended the stream.
func toEvent(rec Record, err error) (scanEvent, bool) {
	if err != nil {
		var pe *PosError
		if !errors.As(err, &pe) {
			return scanEvent{Final: err.Error()}, true
		}
		return scanEvent{Line: pe.Line, Offset: pe.Offset, Msg: pe.Message(), Warning: pe.Warning}, false
	}
	e := scanEvent{Data: string(rec.Data), Line: rec.Line, Offset: rec.Offset, Depth: rec.Depth}
	if rec.Keys != nil {
		e.Members = []string{}
		for i, k := range rec.Keys {
			key := rec.Data[k.Off : k.Off+k.N]
			if k.Sig != keySig(key) || KeySig(string(key)) != k.Sig {
				panic(fmt.Sprintf("key %q: Sig %#x, KeySig %#x", key, k.Sig, KeySig(string(key))))
			}
			e.Members = append(e.Members, string(key), string(KeyValue(rec.Data, rec.Keys, i)))
		}
		if len(rec.Kids) != len(rec.Keys) && len(rec.Kids) != 0 {
			panic(fmt.Sprintf("%d Kids for %d Keys", len(rec.Kids), len(rec.Keys)))
		}
		for i, kid := range rec.Kids {
			if kid.From == 0 {
				continue
			}
			member := e.Members[2*i]
			e.Kids = append(e.Kids, member, "\x00", "")
			kids, data := rec.Nested[kid.From-1:kid.From-1+kid.N], MemberData(rec.Data, rec.Keys, i)
			for j, k := range kids {
				key := rec.Data[k.Off : k.Off+k.N]
				if k.Sig != keySig(key) {
					panic(fmt.Sprintf("nested key %q: Sig %#x, keySig %#x", key, k.Sig, keySig(key)))
				}
				e.Kids = append(e.Kids, member, string(key), string(KeyValue(data, kids, j)))
			}
		}
	}
	return e, false
}

var fuzzSeeds = []string{
	`{"Records":[{"a":1}]}`, `[{"a":"\"}"}]`, "{\"a\":1}\n{\"b\":2}", `{"Records":[{"a":[1,2,{"b":"\\"}]}],"z":1}`, `{"a":`,
	"\xEF\xBB\xBF{\"a\":1}\n", "\xFF\xFE{\x00}\x00", "{\"a\":\"x\ny\"}\n{\"b\":2}", "{\"a\":\"\x01\"}", `{"a":NaN}`, `{"a":"\q"}`,
	`{"a":1,"a":2}`, `{"a":{"b":1,"b":[1,{"c":1,"\u0063":2}]}}`, "{\"a\":1,\n{\"b\":2}", `{"a":0123}`, `{"a":1e}`,
	"{\n  \"a\": [\n    1\n  ]\n}", `[1,"s",{"a":1} {"b":2},]`, `{"Records":[]}garbage`,
	// the member loop's paths: literals, nested objects, keys that end it
	`{"a":true,"b":{"c":"d","e":{"f":null}},"g":false}`, `{"a":tru}`, `{"a":nulll}`, `{"a":{"b"}}`, `{"a":{}}`,
	`{"a":{"b":1,"b":true}}`, `{"a":"b","c\u0064":"e","cd":1}`, `{"a":"b",,"c":1}`, `{"a":"b","c":"d\"}`,
	// errors inside the member loop, which the one-byte reader sees on the slow path
	`{"a":"b","c":tru}`, `{"a":"b","c"x}`, `{"a":"b","c":truex}`, "{\"a\":{\"b\":\"\x01\"}}", `{"a":{"b":{"c":{`,
	`{"a":"b","c":{"d":nul,"e":1}}`, `{"a":"b" ,"c":"d"}`, `{"a":{"b":"c"},"d":{"e":{}}}`, "{\"a\":\"b\",\"c\n\":1}",
	`{"Records":"x","Records":[{"a":1}]}`, `{"a":"b","Records":[{"a":1}]}`, `{"a":-,"b":1}`, `{"a":"b","c":"d"}x`,
	"{\"a\":\"\xff\xfe\",\"\xc3\":1}", `{"a":"b","a":"c","\u0061":1}`,
	// UTF-8: sequences whole, cut by the end, overlong, surrogates, past U+10FFFF, in keys
	"{\"é☃\":\"\xf0\x9f\x98\x80x\"}", "{\"a\":\"\xe2\x98\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}",
	"{\"a\":\"\xf4\x90\x80\x80\"}", "{\"\xe2\x98\x83\":1,\"\xe2\x98\":2}", "{\"a\":\"\xef\xbf\xbd\"}",
}

// FuzzScanner: every record emitted is valid JSON and decodes to what
// encoding/json decodes from the input at its offset (duplicate keys: the
// last wins); line numbers match offsets; a region that holds anything but
// records and array/delivery punctuation is reported by an error inside it;
// the result does not depend on how the input is read.
func FuzzScanner(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 64
		whole := scanEvents(t, bytes.NewReader(in), max, 4*len(in)+10)
		// (d) independent of the read sizes
		for name, r := range map[string]io.Reader{
			"onebyte": iotest.OneByteReader(bytes.NewReader(in)),
			"half":    iotest.HalfReader(bytes.NewReader(in)),
		} {
			if got := scanEvents(t, r, max, 4*len(in)+10); !reflect.DeepEqual(got, whole) {
				t.Fatalf("%s reader: %+v\nwhole reader: %+v", name, got, whole)
			}
		}
		var covered []span // records, and errors' positions
		for _, e := range whole {
			if e.Final != "" {
				t.Fatalf("final error on an in-memory input: %s", e.Final)
			}
			if e.Offset < 0 || e.Offset > int64(len(in)) || e.Line != 1+bytes.Count(in[:e.Offset], []byte{'\n'}) {
				t.Fatalf("bad position: %+v", e)
			}
			if e.Msg != "" {
				continue
			}
			// (a) valid, and what encoding/json reads there
			if !json.Valid([]byte(e.Data)) || !utf8.ValidString(e.Data) {
				t.Fatalf("record %q is not valid JSON in UTF-8", e.Data)
			}
			if len(e.Data) > max {
				t.Fatalf("record %q over the limit", e.Data)
			}
			got, want := decode(t, []byte(e.Data)), decode(t, in[e.Offset:])
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("record %q decodes to %v, the input at %d to %v", e.Data, got, e.Offset, want)
			}
			end := e.Offset + int64(len(e.Data))
			checkMembers(t, e, !bytes.Equal(in[e.Offset:min(end, int64(len(in)))], []byte(e.Data)))
			if bytes.Equal(in[e.Offset:end], []byte(e.Data)) {
				covered = append(covered, span{e.Offset, end})
			} else { // re-encoded: covers the value
				d := json.NewDecoder(bytes.NewReader(in[e.Offset:]))
				var v json.RawMessage
				d.Decode(&v)
				covered = append(covered, span{e.Offset, e.Offset + d.InputOffset()})
			}
		}
		// (c) text outside records is reported (a delivery file's other
		// members are not records and need no report)
		if bytes.Contains(in, []byte(`"Records"`)) {
			return
		}
		for _, gap := range gaps(in, covered) {
			if !suspicious(in[gap.from:gap.to]) {
				continue
			}
			reported := false
			for _, e := range whole {
				if e.Msg != "" && !e.Warning && e.Offset >= gap.from && e.Offset <= gap.to {
					reported = true
				}
			}
			if !reported {
				t.Fatalf("bytes %d-%d %q neither read nor reported: %+v", gap.from, gap.to, in[gap.from:gap.to], whole)
			}
		}
	})
}

type span struct{ from, to int64 }

// gaps returns the regions of in between the covered spans (in order).
func gaps(in []byte, covered []span) []span {
	var out []span
	at := int64(0)
	for _, c := range covered {
		if c.from > at {
			out = append(out, span{at, c.from})
		}
		at = max(at, c.to)
	}
	if at < int64(len(in)) {
		out = append(out, span{at, int64(len(in))})
	}
	return out
}

// suspicious reports whether a region between records holds more than
// white space, a BOM and the punctuation of arrays and delivery files.
func suspicious(b []byte) bool {
	b = bytes.ReplaceAll(b, []byte("\xEF\xBB\xBF"), nil)
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n', '[', ']', ',', '{', '}', ':':
		default:
			return true
		}
	}
	return false
}

func decode(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("encoding/json cannot decode %q: %v", b, err)
	}
	return v
}

// FuzzScannerResync: a valid JSON Lines record after any garbage line is
// still read (unless the garbage makes the whole input UTF-16).
func FuzzScannerResync(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	const v = `{"eventName":"Valid","n":[1,{"k":"v"}]}`
	f.Fuzz(func(t *testing.T, garbage []byte) {
		in := append(append(append([]byte(nil), garbage...), '\n'), v...)
		events := scanEvents(t, bytes.NewReader(in), 0, 4*len(in)+10)
		if len(events) == 1 && strings.Contains(events[0].Msg, "UTF-16") {
			return
		}
		for _, e := range events {
			if e.Data == v && e.Offset == int64(len(garbage)+1) {
				return
			}
		}
		t.Fatalf("the valid record after %q was not read: %+v", garbage, events)
	})
}

// FuzzValid: the validator agrees with encoding/json's Valid and
// unicode/utf8's Valid (RFC 8259 asks for UTF-8; encoding/json reads a bad
// byte as U+FFFD). Arbitrary bytes b are put in a record, `{"k":` b `}`;
// the scanner reads it whole and alone, without an error, exactly when it
// is valid JSON in UTF-8; when it is valid JSON but not UTF-8, the one
// error says so at the first bad byte. Left out: inputs
// with a line that starts with `{"` (inside a value that is a cut JSON Lines
// record to the scanner, though JSON allows it), delivery files (a
// "Records" key), and inputs longer than MaxValues bytes (each value takes
// a byte at least: shorter ones cannot hold more than MaxValues).
func FuzzValid(f *testing.F) {
	for _, s := range append(fuzzSeeds, `1`, `"a\u00e9\ud83d\ude00"`, `-0.5e+3`, `[true,false,null]`, `{"a":{}} `, "\"\x7f\xff\"",
		`1,"k":2`, `"\u12g4"`, `01`, `1.`, `[1,]`, `{"a" 1}`, `tru`, `"a\`, "\"\t\"", ` [ { } , [ ] ] `) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append(append([]byte(`{"k":`), b...), '}')
		if bytes.Contains(in, []byte("\n{\"")) || bytes.Contains(in, []byte(`"Records"`)) || len(in) > MaxValues {
			return
		}
		var recs []Record
		var errs []*PosError
		s := NewScanner(bytes.NewReader(in), 1<<20)
		for n := 0; ; n++ {
			if n > 4*len(in)+10 {
				t.Fatal("scanner did not terminate")
			}
			rec, err := s.Next()
			if err == io.EOF {
				break
			}
			var pe *PosError
			if err != nil && !errors.As(err, &pe) {
				t.Fatalf("final error on an in-memory input: %v", err)
			}
			switch {
			case pe != nil && !pe.Warning:
				errs = append(errs, pe)
			case pe == nil:
				recs = append(recs, Record{Data: bytes.Clone(rec.Data), Offset: rec.Offset})
			}
		}
		whole := false
		if len(errs) == 0 && len(recs) == 1 && recs[0].Offset == 0 {
			// the record spans the input (re-encoded when it had duplicate keys)
			d := json.NewDecoder(bytes.NewReader(in))
			var v json.RawMessage
			whole = bytes.Equal(recs[0].Data, in) ||
				d.Decode(&v) == nil && len(bytes.TrimRight(in[d.InputOffset():], " \t\r\n")) == 0
		}
		if valid := json.Valid(in) && utf8.Valid(in); whole != valid {
			t.Fatalf("%q: encoding/json and utf8 say valid=%v; the scanner read %d records whole=%v, errors %v", in, valid, len(recs), whole, errs)
		}
		if json.Valid(in) && !utf8.Valid(in) {
			if len(errs) != 1 || !errors.Is(errs[0], ErrInvalidUTF8) || errs[0].Offset != int64(firstBadUTF8(in)) {
				t.Fatalf("%q: not UTF-8 from byte %d; errors %v", in, firstBadUTF8(in), errs)
			}
		}
	})
}

// firstBadUTF8 returns the offset of b's first byte that is not UTF-8.
func firstBadUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// Nesting past MaxDepth is the same error at the same place whether the
// member loop opens the objects (a whole buffer) or the slow path does (one
// byte at a time), as is nesting up to it.
func TestMaxDepthMemberLoop(t *testing.T) {
	for _, tc := range []struct {
		open  string
		depth int
		err   bool
	}{{`{"a":`, MaxDepth + 1, true}, {`{"a": `, MaxDepth + 1, true}, {`{"a":`, MaxDepth, false}, {`[`, MaxDepth + 1, true}} {
		in := []byte(strings.Repeat(tc.open, tc.depth) + "1" + closing(tc.open, tc.depth))
		whole := scanEvents(t, bytes.NewReader(in), 1<<20, 10)
		one := scanEvents(t, iotest.OneByteReader(bytes.NewReader(in)), 1<<20, 10)
		if !reflect.DeepEqual(whole, one) {
			t.Errorf("%q x %d: whole buffer %+v\none byte at a time %+v", tc.open, tc.depth, whole, one)
		}
		if got := len(whole) > 0 && whole[0].Msg != ""; got != tc.err {
			t.Errorf("%q x %d: error %v, want %v: %+v", tc.open, tc.depth, got, tc.err, whole)
		}
	}
}

func closing(open string, n int) string {
	if open[0] == '[' {
		return strings.Repeat("]", n)
	}
	return strings.Repeat("}", n)
}

// checkMembers asserts Record.Keys and Depth: the record is an object whose
// members, in order, are the keys given, each with the value KeyValue gives
// (as encoding/json decodes both); a record without Keys is not an object,
// has a key with an escape, or was rewritten (duplicate keys); Depth is the
// record's deepest nesting (as read: no less when it was rewritten).
func checkMembers(t *testing.T, e scanEvent, rewritten bool) {
	t.Helper()
	if d := nesting(e.Data); d != e.Depth && !(rewritten && d < e.Depth) {
		t.Fatalf("record %q: Depth %d, nesting %d", e.Data, e.Depth, d)
	}
	d := json.NewDecoder(strings.NewReader(e.Data))
	d.UseNumber()
	tok, _ := d.Token()
	if tok != json.Delim('{') {
		if e.Members != nil {
			t.Fatalf("record %q is not an object but has Keys %q", e.Data, e.Members)
		}
		return
	}
	if e.Members == nil {
		if !rewritten && !strings.Contains(e.Data, `\`) {
			t.Fatalf("object %q without an escape has no Keys", e.Data)
		}
		return
	}
	for i := 0; d.More(); i += 2 {
		k, _ := d.Token()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if i+1 >= len(e.Members) {
			t.Fatalf("record %q: more members than Keys %q", e.Data, e.Members)
		}
		var got any
		vd := json.NewDecoder(strings.NewReader(e.Members[i+1]))
		vd.UseNumber()
		if err := vd.Decode(&got); err != nil || vd.More() || k != e.Members[i] || !reflect.DeepEqual(got, v) {
			t.Fatalf("record %q member %d: %q = %v; Keys give %q = %q (%v)", e.Data, i/2, k, v, e.Members[i], e.Members[i+1], err)
		}
		if i+2 == len(e.Members) && d.More() {
			t.Fatalf("record %q: fewer Keys than members: %q", e.Data, e.Members)
		}
	}
	checkKids(t, e)
}

// checkKids asserts Record.Nested and Kids: each member that is an object
// whose keys have no escape has its keys and their values, in order, as
// encoding/json decodes them; no other member has any.
func checkKids(t *testing.T, e scanEvent) {
	t.Helper()
	kids := map[string][]string{}
	for i := 0; i+2 < len(e.Kids); i += 3 {
		if member, k := e.Kids[i], e.Kids[i+1]; k == "\x00" {
			kids[member] = []string{}
		} else {
			kids[member] = append(kids[member], k, e.Kids[i+2])
		}
	}
	for i := 0; i+1 < len(e.Members); i += 2 {
		member, raw := e.Members[i], e.Members[i+1]
		got, has := kids[member]
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		if tok, _ := d.Token(); tok != json.Delim('{') {
			if has {
				t.Fatalf("record %q: member %q is not an object but has Kids %q", e.Data, member, got)
			}
			continue
		}
		if !has {
			if !strings.Contains(raw, `\`) {
				t.Fatalf("record %q: member %q is an object without an escape and has no Kids", e.Data, member)
			}
			continue
		}
		j := 0
		for ; d.More(); j += 2 {
			k, _ := d.Token()
			var v any
			if err := d.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if j+1 >= len(got) {
				t.Fatalf("record %q member %q: more members than Kids %q", e.Data, member, got)
			}
			var g any
			vd := json.NewDecoder(strings.NewReader(got[j+1]))
			vd.UseNumber()
			if err := vd.Decode(&g); err != nil || vd.More() || k != got[j] || !reflect.DeepEqual(g, v) {
				t.Fatalf("record %q member %q kid %d: %q = %v; Kids give %q = %q (%v)", e.Data, member, j/2, k, v, got[j], got[j+1], err)
			}
		}
		if j != len(got) {
			t.Fatalf("record %q member %q: fewer members than Kids %q", e.Data, member, got)
		}
	}
}

// nesting is the deepest nesting of objects and arrays in valid JSON.
func nesting(s string) (deepest int) {
	d := json.NewDecoder(strings.NewReader(s))
	n := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			n++
			deepest = max(deepest, n)
		case json.Delim('}'), json.Delim(']'):
			n--
		}
	}
}
