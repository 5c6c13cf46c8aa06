package record

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

// FuzzResumeAtBoundary: a scanner started with NewScannerAt at a place
// Boundary returned reads the rest of the stream exactly as the scanner
// that returned it (records, lines, offsets, errors, the end), and asking
// for boundaries changes nothing a scanner yields. hunt reads a large file
// by ranges on this.
func FuzzResumeAtBoundary(f *testing.F) {
	rec := `{"eventName":"A","n":[1,{"b":2}]}`
	for _, seed := range []string{
		rec + "\n" + rec + "\n" + rec + "\n",
		"{\"Records\":[\n" + rec + ",\n" + rec + "\n,\n" + rec + "\n]}\n" + rec + "\n",
		"[\n" + rec + ",\n" + rec + "\n" + rec + ",\n7,\n]\n" + rec,
		"{\"Records\":[" + rec + "],\"x\":[1,\n2],\"Records\":[\n" + rec + "\n]}\n",
		"\ufeff" + rec + "\r\n  \n" + rec + "\nnot json\n" + rec[:10] + "\n" + rec,
		rec + "\n{\"Records\":[\n" + rec + ",\n" + rec,
	} {
		f.Add([]byte(seed), uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		const max = 200
		s := NewScanner(bytes.NewReader(data), max)
		var (
			events []scanEvent
			places []Place
			at     []int // places[i] was found before events[at[i]]
		)
		for done := false; !done; {
			if len(events) > 10000 {
				t.Fatal("scanner did not terminate")
			}
			if p, ok := s.Boundary(); ok {
				places, at = append(places, p), append(at, len(events))
			}
			rec, err := s.Next()
			if err == io.EOF {
				break
			}
			var e scanEvent
			e, done = toEvent(rec, err)
			events = append(events, e)
		}
		if want := scanEvents(t, bytes.NewReader(data), max, 10000); !reflect.DeepEqual(events, want) && (len(events) > 0 || len(want) > 0) {
			t.Fatalf("asking for boundaries changed what was read:\n%+v\nwant:\n%+v", events, want)
		}
		if len(places) == 0 {
			return
		}
		i := int(pick) % len(places)
		p := places[i]
		if p.Offset < 0 || p.Offset > int64(len(data)) {
			t.Fatalf("boundary %+v outside the %d bytes", p, len(data))
		}
		var r *Scanner
		if p.Offset == 0 {
			r = NewScanner(bytes.NewReader(data), max) // the stream's first bytes are checked
		} else {
			r = NewScannerAt(bytes.NewReader(data[p.Offset:]), max, p)
		}
		got, want := scannerEvents(t, r, 10000), events[at[i]:]
		if !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
			t.Fatalf("resumed at %+v:\n%+v\nwant:\n%+v", p, got, want)
		}
	})
}
