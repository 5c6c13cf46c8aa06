package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/record"
	"github.com/trailhound/trailhound/rule"
)

// reflectJSONL is what WriteJSONL wrote before appendAlert: encoding/json's
// line for each alert, or its sanitized copy's when it does not encode.
func reflectJSONL(as []Alert) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range as {
		if err := enc.Encode(&as[i]); err != nil {
			s := sanitized(as[i], err)
			if err := enc.Encode(&s); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), nil
}

// checkSameJSONL fails unless WriteJSONL writes for as what encoding/json
// writes, every line valid JSON, and reports whether appendAlert wrote a
// itself (rather than leaving it to encoding/json).
func checkSameJSONL(t *testing.T, a Alert) (fast bool) {
	t.Helper()
	want, wantErr := reflectJSONL([]Alert{a})
	var got bytes.Buffer
	err := WriteJSONL(&got, []Alert{a})
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("WriteJSONL error %v, encoding/json's %v", err, wantErr)
	}
	if err != nil {
		return false
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("WriteJSONL wrote\n%q\nencoding/json\n%q", got.Bytes(), want)
	}
	if line := bytes.TrimSuffix(got.Bytes(), []byte("\n")); !json.Valid(line) || bytes.Contains(line, []byte("\n")) {
		t.Fatalf("not one valid JSON line: %q", got.Bytes())
	}
	_, fast = new(encoder).appendAlert(nil, &a)
	return fast
}

// hostile are strings encoding/json escapes or replaces: quotes and
// backslashes, every control character, DEL, HTML characters (not escaped),
// U+2028 and U+2029, invalid UTF-8 (a stray byte, a cut sequence, a
// surrogate, an overlong form), and plain multibyte text.
var hostile = []string{
	"",
	`quote " and \ backslash /`,
	func() string {
		var b strings.Builder
		for c := range 0x20 {
			b.WriteByte(byte(c))
		}
		b.WriteByte(0x7f)
		return b.String()
	}(),
	"<script>alert('&amp;')</script>",
	"line\u2028para\u2029end",
	"bad \xff byte", "cut \xe2\x80", "surrogate \xed\xa0\x80", "overlong \xc0\xaf", "\x80",
	"naïve 日本語 😀",
}

func TestWriteJSONLSameAsEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 11, 3, 10, 0, 0, 123456789, time.UTC)
	full := Alert{
		ID: "id-1", Time: ts,
		Rule: Rule{ID: "r", Name: "Rule <&>", Type: "query", Format: "elastic", Severity: "high", RiskScore: -73,
			Tags: []string{"a", "b"}, References: []string{"https://x/?a=1&b=2"}, BuildingBlock: true, Guide: "## Guide\n\n\"x\"", Path: "rules/r.toml",
			Threat: []rule.Threat{
				{Framework: "MITRE ATT&CK", Tactic: rule.Ref{ID: "TA1", Name: "T", Reference: "u"}},
				{Framework: "F", Tactic: rule.Ref{ID: "TA2", Name: "T2"}, Techniques: []rule.Technique{
					{Ref: rule.Ref{ID: "T1", Name: "n"}},
					{Ref: rule.Ref{ID: "T2", Name: "n", Reference: "r"}, Subtechniques: []rule.Ref{{ID: "T2.1", Name: "s"}, {ID: "T2.2", Name: "s", Reference: "r"}}},
				}},
			}},
		Event: Event{ID: "e", Provider: "p", Action: "a", File: "f.json", Line: 3, Offset: 1 << 40},
		Title: "title", Description: "desc", Destinations: []string{"slack"},
		Fields: map[string]any{
			"s": "v", "n": event.NumberString("123456789012345678901234567890"), "big": event.NumberString("1e400"),
			"b": true, "f": false, "nil": nil, "o": event.RawJSON("{ \"a\" : [1, 2] }"), "list": []any{"x", event.NumberString("-0.5e-3"), nil, []any{}},
			"int": 7, "int64": int64(math.MinInt64), "float": 0.1, "m": map[string]any{"z": 1.0, "a": map[string]any{}, "": "empty key"},
			"strs": []string{"a"}, "nilmap": map[string]any(nil), "nilslice": []any(nil), "raw": json.RawMessage(`[true ,false]`),
		},
		Context:        map[string]any{"k": "v"},
		NewTerms:       []string{"t1", "t2"},
		Threshold:      &ThresholdResult{Terms: []Term{{"f", "v"}}, Count: 5, Cardinality: []Term{{"c", "2"}}, From: ts, To: ts.Add(time.Hour)},
		Suppression:    &Suppression{Terms: map[string]any{"user": "u"}, DocsCount: 3, Start: ts, End: ts},
		Sequence:       &Sequence{ID: "s", Step: 2, Events: []Event{{File: "a", Line: 1}, {ID: "x", File: "b", Line: 2, Offset: 9}}},
		TimeSubstitute: &TimeSubstitute{From: "file_name", Reason: "no eventTime"},
		Record:         json.RawMessage(`{"a":"b c","d":[1,2.5e-3,-0,true,null,{}],"e":"\u00e9\n\"\\","f":"<>&\u2028"}`),
		RecordError:    "was bad",
	}
	tests := []struct {
		name string
		a    func(a *Alert)
		fast bool // appendAlert writes it (else encoding/json does)
	}{
		{"every field set", func(*Alert) {}, true},
		{"every optional field unset", func(a *Alert) { *a = Alert{Record: a.Record} }, true},
		{"empty, not nil, slices and maps", func(a *Alert) {
			a.Rule.Tags, a.Rule.Threat, a.Rule.References, a.Destinations, a.NewTerms = []string{}, []rule.Threat{}, []string{}, []string{}, []string{}
			a.Fields, a.Context = map[string]any{}, map[string]any{}
			a.Threshold.Terms, a.Threshold.Cardinality = []Term{}, []Term{}
			a.Suppression.Terms = map[string]any{}
			a.Sequence = &Sequence{Events: []Event{}}
		}, true},
		{"nil suppression terms", func(a *Alert) { a.Suppression.Terms = nil }, true},
		{"sequence step only", func(a *Alert) { a.Sequence = &Sequence{Step: 1} }, true},
		{"nil record", func(a *Alert) { a.Record = nil }, true},
		{"record pretty-printed", func(a *Alert) { a.Record = json.RawMessage("\n {\n\t\"a\" : [ 1 , \"x y\" ],\r\n \"b\": {} } \n") }, true},
		{"record with spaces in strings only", func(a *Alert) { a.Record = json.RawMessage(`{"a":" \t "}`) }, true},
		{"record of invalid UTF-8", func(a *Alert) { a.Record = json.RawMessage("{\"a\":\"\xff\xed\xa0\x80\"}") }, true},
		{"record a scalar", func(a *Alert) { a.Record = json.RawMessage(` -12.5E+3 `) }, true},
		{"record not JSON", func(a *Alert) { a.Record = json.RawMessage(`{"a":NaN}`) }, false},
		{"record empty", func(a *Alert) { a.Record = json.RawMessage{} }, false},
		{"record two values", func(a *Alert) { a.Record = json.RawMessage(`{} {}`) }, false},
		{"time in a zone with nanoseconds", func(a *Alert) { a.Time = time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 5*3600+1800)) }, true},
		{"zero time", func(a *Alert) { a.Time = time.Time{} }, true},
		{"year out of range", func(a *Alert) { a.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"threshold time out of range", func(a *Alert) { a.Threshold.To = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) }, false},
		{"floats", func(a *Alert) {
			a.Fields = map[string]any{"a": 1e21, "b": 1e20, "c": 1e-6, "d": 1e-7, "e": math.Copysign(0, -1), "f": 5e-324, "g": math.MaxFloat64, "h": 123456.789, "i": -1.5e-9}
		}, true},
		{"NaN", func(a *Alert) { a.Fields["nan"] = math.NaN() }, false},
		{"infinity in context", func(a *Alert) { a.Context["inf"] = math.Inf(-1) }, false},
		{"invalid number", func(a *Alert) { a.Fields["n"] = event.NumberString("NaN") }, false},
		{"invalid raw value", func(a *Alert) { a.Context["o"] = event.RawJSON("{x}") }, false},
		{"a type left to encoding/json", func(a *Alert) { a.Fields["u"] = uint8(3) }, false},
		{"a struct left to encoding/json", func(a *Alert) { a.Fields["t"] = ts }, false},
		{"json.Number left to encoding/json", func(a *Alert) { a.Fields["n"] = json.Number("12") }, false},
		{"float32 left to encoding/json", func(a *Alert) { a.Fields["f"] = float32(0.1) }, false},
		{"deep nesting", func(a *Alert) {
			var v any = "leaf"
			for range 150 {
				v = []any{map[string]any{"k": v}}
			}
			a.Fields["deep"] = v
		}, false},
	}
	for _, h := range hostile {
		tests = append(tests, struct {
			name string
			a    func(a *Alert)
			fast bool
		}{"hostile " + h, func(a *Alert) {
			a.ID, a.Title, a.Rule.Name, a.Rule.Guide, a.Event.File, a.RecordError = h, h, h, h, h, h
			a.Rule.Tags = []string{h}
			a.Rule.Threat[1].Techniques[1].Subtechniques[0].Name = h
			a.Fields = map[string]any{h: h, "list": []any{h}, "m": map[string]any{h: []string{h}}}
			a.Threshold.Terms = []Term{{h, h}}
			a.TimeSubstitute.Reason = h
			rec, _ := json.Marshal(map[string]string{"k": h})
			a.Record = rec
		}, true})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := full
			// copies of what the cases change
			a.Rule.Threat = append([]rule.Threat(nil), full.Rule.Threat...)
			a.Rule.Threat[1].Techniques = append([]rule.Technique(nil), full.Rule.Threat[1].Techniques...)
			a.Rule.Threat[1].Techniques[1].Subtechniques = append([]rule.Ref(nil), full.Rule.Threat[1].Techniques[1].Subtechniques...)
			a.Fields, a.Context = clone(full.Fields), clone(full.Context)
			th, sup, ts := *full.Threshold, *full.Suppression, *full.TimeSubstitute
			a.Threshold, a.Suppression, a.TimeSubstitute = &th, &sup, &ts
			tc.a(&a)
			if fast := checkSameJSONL(t, a); fast != tc.fast {
				t.Errorf("written by appendAlert: %v, want %v", fast, tc.fast)
			}
		})
	}
}

func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Alerts after one that encoding/json writes are written by appendAlert,
// and a batch larger than a chunk is written whole, in order.
func TestWriteJSONLMixedBatch(t *testing.T) {
	var as []Alert
	for i := range 300 {
		a := Alert{ID: strings.Repeat("x", i), Rule: Rule{Guide: strings.Repeat("guide ", 100)}, Record: json.RawMessage(`{"i":1}`)}
		if i%7 == 0 {
			a.Record = json.RawMessage(`{"i":}`)
		}
		if i%11 == 0 {
			a.Fields = map[string]any{"u": uint16(i)}
		}
		as = append(as, a)
	}
	want, err := reflectJSONL(as)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := WriteJSONL(&got, as); err != nil {
		t.Fatal(err)
	}
	if got.Len() <= chunkSize || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("WriteJSONL wrote %d bytes, encoding/json %d (equal: %v)", got.Len(), len(want), bytes.Equal(got.Bytes(), want))
	}
}

// checkJSON's verdict is json.Valid's, and its spaced is whether
// json.Compact changes the text.
func TestCheckJSON(t *testing.T) {
	for _, s := range []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `-`, `01`, `1.`, `.5`, `1e`, `1e+`, `1E-2`, `-1.5e10`, `+1`, `NaN`, `Infinity`,
		`true`, `tru`, `nul`, `null `, ` false`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `[1 2]`,
		`"\u12"`, `"\u12g4"`, `"\uABCD"`, `"\q"`, `"\/"`, "\"\x01\"", "\"\x7f\"", "\"\xff\"", `"a`, `"\`, `{"a":[}`, `[{]}`,
		`{} {}`, `{}x`, "[\n1,\t2\r]", `{"a":{"b":{"c":[[[]]]}}}`, strings.Repeat("[", 2000) + strings.Repeat("]", 2000),
	} {
		valid, spaced := checkJSON([]byte(s))
		if valid != json.Valid([]byte(s)) && !(s[0] == '[' && len(s) > 1000) {
			t.Errorf("checkJSON(%q) valid = %v, json.Valid says %v", s, valid, !valid)
		}
		if !valid {
			continue
		}
		var c bytes.Buffer
		if err := json.Compact(&c, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if spaced != (c.String() != s) {
			t.Errorf("checkJSON(%q) spaced = %v, compact is %q", s, spaced, c.String())
		}
	}
}

// FuzzWriteJSONL's property: WriteJSONL writes the bytes encoding/json
// writes (an alert with the fuzzed record and values in every string, map
// and number; and the alert New builds from the record parsed as an event),
// and they are valid JSON.
func FuzzWriteJSONL(f *testing.F) {
	f.Add([]byte(`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e","eventTime":"2026-11-03T10:00:00Z","userIdentity":{"arn":"a"},"requestParameters":{"k":[1,2]}}`), "v", "k", "1.5", 0.5, int64(3))
	f.Add([]byte("{\n  \"eventName\" : \"x\u2028\",\n  \"sourceIPAddress\": \"192.0.2.1\" }"), "<&>\u2029", "\xff", `{"a" : [ ]}`, 1e21, int64(-1))
	f.Add([]byte(`{"a":NaN}`), "\x00\x1f\"\\", "", "NaN", math.Inf(1), int64(0))
	f.Add([]byte(`[1, 2]`), "\xed\xa0\x80", "é", "-0.0e-0", -1e-7, int64(math.MaxInt64))
	fields := []string{"event.action", "source.address", "aws.cloudtrail.request_parameters", "user_agent.original", "@timestamp", "cloud.account.id"}
	f.Fuzz(func(t *testing.T, rec []byte, s, key, raw string, fl float64, n int64) {
		// the fuzzed strings and numbers everywhere, with a valid record:
		// appendAlert writes it unless the float is NaN or infinite
		a := Alert{
			ID: s, Time: time.Unix(n%(1<<35), n%1e9).UTC(),
			Rule:        Rule{Name: s, Tags: []string{s, key}, Guide: s, Threat: []rule.Threat{{Framework: s, Tactic: rule.Ref{ID: key, Reference: s}}}},
			Event:       Event{ID: s, File: key, Line: int(n), Offset: n},
			Title:       s,
			Fields:      map[string]any{key: s, "n": n, "f": fl, "list": []any{s, fl, int(n), map[string]any{key: raw}}, "strs": []string{raw}},
			Context:     map[string]any{s: key, raw: true},
			Threshold:   &ThresholdResult{Terms: []Term{{key, s}}, Count: int(n)},
			Suppression: &Suppression{Terms: map[string]any{key: s}},
			Record:      json.RawMessage(`{"k":1}`),
		}
		if fast := checkSameJSONL(t, a); !fast && !math.IsNaN(fl) && !math.IsInf(fl, 0) {
			t.Errorf("appendAlert left %+v to encoding/json", a)
		}
		// the fuzzed record, and raw values that may not be JSON
		checkSameJSONL(t, Alert{ID: s, Record: rec,
			Fields: map[string]any{"num": event.NumberString(raw), "raw": event.RawJSON(raw), "list": []any{json.RawMessage(raw)}}})
		var p event.Parser
		ev, err := p.Parse(rec)
		if err != nil {
			return
		}
		ev.File = key
		checkSameJSONL(t, New(ev, &rule.Rule{ID: s, Name: key, InvestigationFields: append(fields, key)}))
		// and as the scanner returns it, known valid
		record.ForEach(bytes.NewReader(rec), 1<<20, func(r record.Record) error {
			if ev, err := p.ParseRecord(r); err == nil {
				checkSameJSONL(t, New(ev, &rule.Rule{ID: s, Name: key, InvestigationFields: append(fields, key)}))
			}
			return nil
		}, func(*record.PosError) {})
	})
}

// errWriter fails after n bytes.
type failAfter struct{ n int }

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		return f.n, errors.New("disk full")
	}
	f.n -= len(b)
	return len(b), nil
}

// A write error in a later chunk is returned.
func TestWriteJSONLLaterWriteError(t *testing.T) {
	as := make([]Alert, 100)
	for i := range as {
		as[i] = Alert{ID: "a", Rule: Rule{Guide: strings.Repeat("g", 2000)}, Record: json.RawMessage(`{}`)}
	}
	if err := WriteJSONL(&failAfter{n: chunkSize}, as); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the write error", err)
	}
}

// plainPrefix finds the first byte that is not plain, wherever it lies in
// the eight-byte words, whatever follows it (a borrow may mark later bytes).
func TestPlainPrefix(t *testing.T) {
	naive := func(s string, i int) int {
		for ; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf || !plain[s[i]] {
				return i
			}
		}
		return i
	}
	base := []byte("abcdefghijklmnopqrstuvwxyz0123")
	for pos := range len(base) {
		for c := range 256 {
			for _, after := range []byte{'a', 0, '"', 0xff} {
				s := bytes.Clone(base)
				s[pos] = byte(c)
				if pos+1 < len(s) {
					s[pos+1] = after
				}
				for from := range 3 {
					if got, want := plainPrefix(string(s), from), naive(string(s), from); got != want {
						t.Fatalf("plainPrefix(%q, %d) = %d, want %d", s, from, got, want)
					}
				}
			}
		}
	}
}

// The rule cache writes a rule's JSON again when the rule differs from the
// cached one under the same id and path: any field (sameRule misses none),
// a slice changed in place, a nested ATT&CK reference.
func TestWriteJSONLRuleCache(t *testing.T) {
	base := func() Rule {
		return Rule{ID: "r", Name: "n", Type: "query", Format: "elastic", Severity: "low", RiskScore: 1, Tags: []string{"t"},
			References: []string{"u"}, Guide: "g", Path: "p",
			Threat: []rule.Threat{{Framework: "f", Tactic: rule.Ref{ID: "TA1"}, Techniques: []rule.Technique{{Ref: rule.Ref{ID: "T1"}, Subtechniques: []rule.Ref{{ID: "T1.1"}}}}}}}
	}
	var changed []Rule
	rt := reflect.TypeFor[Rule]()
	for i := range rt.NumField() {
		r := base()
		f := reflect.ValueOf(&r).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int:
			f.SetInt(f.Int() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Slice:
			f.Set(reflect.Append(f, f.Index(0)))
		default:
			t.Fatalf("Rule.%s: a kind this test does not change", rt.Field(i).Name)
		}
		if sameRule(new(base()), &r) {
			t.Errorf("sameRule misses a change of Rule.%s", rt.Field(i).Name)
		}
		changed = append(changed, r)
	}
	for _, change := range []func(r *Rule){
		func(r *Rule) { r.Threat[0].Framework = "g" },
		func(r *Rule) { r.Threat[0].Tactic.Reference = "x" },
		func(r *Rule) { r.Threat[0].Techniques[0].Name = "x" },
		func(r *Rule) { r.Threat[0].Techniques[0].Subtechniques[0].Reference = "x" },
		func(r *Rule) { r.Threat[0].Techniques = append(r.Threat[0].Techniques, rule.Technique{}) },
	} {
		r := base()
		change(&r)
		changed = append(changed, r)
	}
	// one encoder (one cache) writes them all, each checked as written
	e := new(encoder)
	check := func(a Alert) {
		t.Helper()
		got, ok := e.appendAlert(nil, &a)
		want, err := reflectJSONL([]Alert{a})
		if !ok || err != nil || !bytes.Equal(got, want) {
			t.Errorf("appendAlert wrote (%v)\n%s\nencoding/json (%v)\n%s", ok, got, err, want)
		}
	}
	// a rule whose slices change in place between alerts
	inPlace := base()
	check(Alert{Rule: inPlace})
	inPlace.Tags[0] = "changed in place"
	check(Alert{Rule: inPlace})
	inPlace.Threat[0].Techniques[0].Subtechniques[0].ID = "T9"
	check(Alert{Rule: inPlace})
	for _, r := range changed {
		check(Alert{Rule: r})
		check(Alert{Rule: base()})
	}
	if len(e.rules) != 3 {
		t.Errorf("%d rules cached, want 3 (the id and path, and each changed)", len(e.rules))
	}
}

// An alert that does not encode even sanitized (a time out of RFC 3339's
// range) is an error naming it, and the alerts before it are written, as
// when they were written one by one.
func TestWriteJSONLUnencodable(t *testing.T) {
	good := Alert{ID: "good", Record: json.RawMessage(`{}`)}
	bad := Alert{ID: "bad", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Record: json.RawMessage(`{}`)}
	var out bytes.Buffer
	err := WriteJSONL(&out, []Alert{good, good, bad, good})
	if err == nil || !strings.Contains(err.Error(), "writing alert bad") {
		t.Errorf("err = %v, want one naming alert bad", err)
	}
	want, _ := reflectJSONL([]Alert{good, good})
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("wrote\n%s\nwant the two alerts before it\n%s", out.Bytes(), want)
	}
}

// WriteJSONL called from several goroutines at once (serve's sinks) writes
// each its own alerts' bytes: rules with the same id and path but
// different fields, cached by encoders the goroutines share through the
// pool, never give one goroutine another's rule.
func TestWriteJSONLConcurrent(t *testing.T) {
	const workers, rounds = 4, 200
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				r := Rule{ID: "same", Path: "same.toml", Name: fmt.Sprintf("worker %d", w), Tags: []string{strconv.Itoa(i % 3)}, Guide: strings.Repeat("g", w*100)}
				as := []Alert{{ID: "a", Rule: r, Record: json.RawMessage(`{}`)}, {ID: "b", Rule: r, Record: json.RawMessage(`{"x":1}`)}}
				var got bytes.Buffer
				if err := WriteJSONL(&got, as); err != nil {
					errs <- err.Error()
					return
				}
				if want, _ := reflectJSONL(as); !bytes.Equal(got.Bytes(), want) {
					errs <- fmt.Sprintf("worker %d round %d wrote\n%s\nwant\n%s", w, i, got.Bytes(), want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// fill sets every field reachable from v (a settable struct, slice,
// pointer or basic value) to a value that is not its zero: strings, numbers
// and booleans, one element in each slice and map, each pointer to a filled
// value.
func fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 11, 3, 10, 0, 0, 5, time.UTC)))
		return
	case reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(json.RawMessage(`{"k":[1]}`)))
		return
	case reflect.TypeFor[map[string]any]():
		v.Set(reflect.ValueOf(map[string]any{"k": path}))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(path)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(len(path)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() { // (not written: the encoder's own state)
				continue
			}
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(t, v.Index(0), path+"[0]")
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), path)
	default:
		t.Fatalf("%s: a %s, which this test does not fill (nor, perhaps, appendAlert write)", path, v.Type())
	}
}

// appendAlert writes every field of an alert, nested ones too, as
// encoding/json does: an alert with each field set (by reflection, so a
// field added to Alert or to what it holds is set too) is written by
// appendAlert itself and byte for byte as encoding/json writes it.
func TestWriteJSONLEveryField(t *testing.T) {
	var a Alert
	fill(t, reflect.ValueOf(&a).Elem(), "alert")
	if fast := checkSameJSONL(t, a); !fast {
		t.Errorf("appendAlert left an alert of plain fields to encoding/json: %+v", a)
	}
}

// FuzzCheckJSON holds checkJSON to json.Valid, and its spaced to whether
// json.Compact changes the text.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b\"c\\d\u00e9\n","n":[1,-2.5e3,true,null]}`, "{\n \"k\" : \"v\" }", "\"\x01\"", `"abcdefgh\"ijklmnop"`, "\"\xff\xfe\x80abcdefgh\x1f\"", `{"a":"b"}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		valid, spaced := checkJSON(src)
		if valid != json.Valid(src) && !(!valid && len(src) > maxCheckDepth) { // deeper than maxCheckDepth: left to encoding/json

			t.Fatalf("checkJSON(%q) valid = %v, json.Valid says %v", src, valid, !valid)
		}
		if !valid {
			return
		}
		var c bytes.Buffer
		if err := json.Compact(&c, src); err != nil {
			t.Fatal(err)
		}
		if spaced != !bytes.Equal(c.Bytes(), src) {
			t.Errorf("checkJSON(%q) spaced = %v, compact is %q", src, spaced, c.Bytes())
		}
		// the scan of text known to be valid agrees, where it answers,
		// and writes the same
		if sp, ok := spacedValid(src); ok && sp != spaced {
			t.Errorf("spacedValid(%q) = %v, checkJSON says %v", src, sp, spaced)
		} else if !ok && !bytes.ContainsRune(src, '\\') {
			t.Errorf("spacedValid(%q) does not answer", src)
		}
		if got, ok := appendValidCompact([]byte("x"), src); !ok || string(got) != "x"+c.String() {
			t.Errorf("appendValidCompact(%q) = %q, %v; want %q", src, got, ok, c.Bytes())
		}
	})
}

// spacedValid finds whitespace outside the strings of valid JSON without
// escapes, whatever the strings hold, and leaves text with a backslash to
// checkJSON.
func TestSpacedValid(t *testing.T) {
	for _, tc := range []struct {
		src        string
		spaced, ok bool
	}{
		{`{"a":"b c","d":[1,2]}`, false, true},
		{`{"a":"b c", "d":[1,2]}`, true, true},
		{`{"a b":"c d e","f":" "}`, false, true},
		{`{"a":"x"} `, true, true},
		{` {"a":"x"}`, true, true},
		{"{\"a\":\n1}", true, true},
		{"[1,\t2]", true, true},
		{"{\"a\":1}\r", true, true},
		{`"   "`, false, true},
		{`"a" `, true, true},
		{`0`, false, true},
		{`{"a":"b\"c d"}`, false, false},
		{`{"a":"\u0020"}`, false, false},
	} {
		spaced, ok := spacedValid([]byte(tc.src))
		if spaced != tc.spaced || ok != tc.ok {
			t.Errorf("spacedValid(%q) = %v, %v; want %v, %v", tc.src, spaced, ok, tc.spaced, tc.ok)
		}
	}
}

// An alert made from a record the scanner validated is written as any
// other (its record not validated again), and one whose Record was
// replaced since is validated: an invalid one is written as a string.
func TestWriteJSONLValidRecord(t *testing.T) {
	in := "{\"eventVersion\":\"1.08\",\"eventSource\":\"s\",\"eventName\":\"n\",\"eventID\":\"e\",\"userAgent\":\"a b\"}\n" +
		"{\"eventVersion\":\"1.08\", \"eventSource\" : \"s\",\"eventName\":\"n\",\"eventID\":\"f\",\"userAgent\":\"a \\\" b\"}\n"
	var as []Alert
	if err := record.ForEach(strings.NewReader(in), 0, func(rec record.Record) error {
		var p event.Parser
		ev, err := p.ParseRecord(rec)
		if err != nil {
			return err
		}
		if !ev.ValidJSON() {
			t.Errorf("a scanner's record not known valid")
		}
		a := New(ev, &rule.Rule{ID: "r"})
		if !a.recordValid() {
			t.Errorf("the alert's record not known valid")
		}
		as = append(as, a)
		return nil
	}, func(pe *record.PosError) { t.Fatal(pe) }); err != nil || len(as) != 2 {
		t.Fatal(err, len(as))
	}
	for _, a := range as {
		checkSameJSONL(t, a)
	}
	a := as[0]
	a.Record = json.RawMessage(`{"not":json`)
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, []Alert{a}); err != nil || !strings.Contains(buf.String(), `"record":"{\"not\":json"`) {
		t.Errorf("a replaced invalid record: %v %s", err, buf.String())
	}
}

// Fields are written in key order whatever key sets came before: the same
// set again, one of the same size with other keys, a subset, more than the
// kept sets, more keys than the kept orders hold; in one batch and apart.
func TestWriteJSONLFieldOrders(t *testing.T) {
	var as []Alert
	add := func(keys ...string) {
		m := map[string]any{}
		for i, k := range keys {
			m[k] = fmt.Sprintf("%s=%d", k, i)
		}
		as = append(as, Alert{ID: strings.Join(keys, ","), Fields: m, Record: json.RawMessage(`{}`)})
	}
	add("b", "a", "c")
	add("a", "b", "c")
	add("a", "b", "d")
	add("c", "b")
	add(hostile...)
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprintf("k%02d", 19-i))
	}
	add(many...)
	for i := range 2 * maxKeyOrders {
		add(fmt.Sprintf("x%d", i), "y")
	}
	add("b", "a", "c")
	for _, a := range as {
		checkSameJSONL(t, a)
	}
	want, err := reflectJSONL(as)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := WriteJSONL(&got, as); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Errorf("batch: %v\n%s\nwant\n%s", err, got.Bytes(), want)
	}
}
