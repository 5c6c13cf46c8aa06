package event

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/record"
)

// sameReads parses rec both ways (ParseRecord, reading members when
// needed, and ParseUTF8, parsing the whole record) and compares what
// they give: kind, source, name, id, event time, and every field in names,
// and with every, all the fields of the ECS view and all the record's own
// leaves.
func sameReads(rec record.Record, names []string, every bool, notAfter time.Time) error {
	lazy, whole := Parser{NotAfter: notAfter}, Parser{NotAfter: notAfter}
	a, errA := lazy.ParseRecord(rec)
	b, errB := whole.ParseUTF8(rec.Data)
	if (errA == nil) != (errB == nil) {
		return fmt.Errorf("ParseRecord: %v; ParseUTF8: %v", errA, errB)
	}
	if errA != nil {
		return nil
	}
	if a.Kind != b.Kind || a.Provider() != b.Provider() || a.Action() != b.Action() || a.ID() != b.ID() {
		return fmt.Errorf("ParseRecord: %v %q %q %q; ParseUTF8: %v %q %q %q", a.Kind, a.Provider(), a.Action(), a.ID(), b.Kind, b.Provider(), b.Action(), b.ID())
	}
	ta, tea := a.EventTime()
	tb, teb := b.EventTime()
	if !ta.Equal(tb) || fmt.Sprint(tea) != fmt.Sprint(teb) {
		return fmt.Errorf("event time: ParseRecord %v %v; ParseUTF8 %v %v", ta, tea, tb, teb)
	}
	all := names
	if every {
		all = append([]string{""}, names...)
	}
	if every && (b.Kind == KindCloudTrail || b.Kind == KindECS) {
		na, nb := FieldNames(a), FieldNames(b)
		if fmt.Sprint(na) != fmt.Sprint(nb) {
			return fmt.Errorf("FieldNames: ParseRecord %q; ParseUTF8 %q", na, nb)
		}
		all = append(all, nb...)
	}
	if every {
		all = append(all, leafNames(b.Source(), nil)...)
	}
	for _, n := range all {
		va, vb := ReadIndexed(a, n), ReadIndexed(b, n)
		if n == "" { // every leaf: the ECS view's order of the user agent's parts follows the agent cache's state
			va, vb = sortedValues(va), sortedValues(vb)
		}
		if !sameValues(va, vb) {
			return fmt.Errorf("%q: ParseRecord %v; ParseUTF8 %v", n, va, vb)
		}
	}
	if sa, sb := AppendJSON(nil, a.Source()), AppendJSON(nil, b.Source()); !sameValues([]Value{{string(sa), Object}}, []Value{{string(sb), Object}}) {
		return fmt.Errorf("Source: ParseRecord %s; ParseUTF8 %s", sa, sb)
	}
	return nil
}

// sameValues compares field values: objects and arrays by what their JSON
// says (fastjson writes an object's escaped keys as read until a lookup
// has unescaped them: either text is the same object).
func sameValues(a, b []Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].T != b[i].T {
			return false
		}
		if a[i].T == Object && a[i].S != b[i].S {
			var x, y any
			if json.Unmarshal([]byte(a[i].S), &x) != nil || json.Unmarshal([]byte(b[i].S), &y) != nil || !reflect.DeepEqual(x, y) {
				return false
			}
		} else if a[i].S != b[i].S {
			return false
		}
	}
	return true
}

func sortedValues(vs []Value) []Value {
	vs = slices.Clone(vs)
	slices.SortFunc(vs, func(x, y Value) int { return cmp.Or(cmp.Compare(x.S, y.S), cmp.Compare(x.T, y.T)) })
	return vs
}

var sameReadsNames = []string{"event.action", "event.provider", "event.outcome", "user.name", "cloud.account.id",
	"source.ip", "user_agent.original", "related.entity", "aws.cloudtrail.flattened.request_parameters",
	"eventName", "userIdentity.arn", "requestParameters", "userIdentity.sessionContext.sessionIssuer.userName",
	"user.id", "userAgent", "userIdentity.type", "userIdentity.accessKeyId", "recipientAccountId", "errorCode",
	"@timestamp", "readOnly", "aws.cloudtrail.read_only", "requestParameters.n", "user_agent.name"}

// Every record of the real corpus reads the same parsed member by member
// as parsed whole.
func TestParseRecordReadsAsParseUTF8(t *testing.T) {
	dir := corpus(t, "cloudtrail-logs")
	walked := record.Walk([]string{dir})
	keyed, n := 0, 0
	for _, in := range walked.Inputs {
		rc, err := record.Open(in.Path)
		if err != nil {
			t.Fatal(err)
		}
		err = record.ForEach(rc, 0, func(rec record.Record) error {
			n++
			if rec.Keys != nil {
				keyed++
			}
			if testing.Short() && n%64 != 1 { // (-race -short in CI: a sample)
				return nil
			}
			// every field of one record in 16 (all of them take a minute)
			if err := sameReads(rec, sameReadsNames, n%16 == 1, time.Time{}); err != nil {
				return fmt.Errorf("%s:%d: %w", in.Path, rec.Line, err)
			}
			return nil
		}, func(*record.PosError) {})
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if keyed == 0 {
		t.Fatalf("none of %d records came with keys", n)
	}
	t.Logf("%d records (%d with keys) read alike", n, keyed)
}

// FuzzParseRecord: whatever the scanner returns reads the same member by
// member as parsed whole (kind, source, name, id, time, every field), with
// an event time bound (Parser.NotAfter) that the seeds' times straddle.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		`{"eventSource":"s","eventName":"X","eventTime":"2030-01-01T00:00:00Z"}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"PutObject","eventTime":"2024-01-01T00:00:00Z","requestParameters":{"a":[1,{"b":null}],"c":""}}`,
		`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","accessKeyId":"AKIA1"},"eventSource":"iam.amazonaws.com","eventName":"CreateUser","sourceIPAddress":"1.2.3.4","userAgent":"aws-cli/2"}`,
		`{"_source":{"event":{"action":"X","provider":"y"},"@timestamp":"2024-01-01T00:00:00Z"}}`,
		`{"event.action":"X","event":{"provider":"y"}}`,
		`{"userIdentity.arn":"dotted","userIdentity":{"arn":"nested"},"eventName":"X","eventSource":"s","eventTime":"2024-01-01T00:00:00Z"}`,
		`{"eventName":"X","eventSource":"s","eventID":"e","resources":{"ARN":"not a list"},"errorCode":""}`,
		`{"digestStartTime":"2024-01-01T00:00:00Z"}`, `{"a":1}`, `{}`, `[1,2]`, `"s"`,
		`{"":"empty key","eventName":"X","eventSource":"s","eventID":"1","":2}`, `{"":{"":"x"},"eventName":"X","eventSource":"s","eventTime":"2024-01-01T00:00:00Z"}`,
		`{"Records":[{"eventName":"A","eventSource":"s","awsRegion":"r"},{"eventName":"B","eventSource":"s","eventID":"x"}]}`,
		`{"eventName" : "X" , "eventSource":"s" ,"eventTime": "2024-01-01T00:00:00Z" ,"n": -1.5e3 , "t":true,"z":null }`,
		`{"eventName":"X","eventSource":"s","eventID":"1","insightDetails":{"state":"Start"}}`,
		`{"insightDetails":{"eventName":"X","eventSource":"s"},"eventTime":"2024-01-01T00:00:00Z"}`,
		`{"eventName":"X","eventSource":"s","eventID":"1","requestParameters":{"\u0061":"esc"}}`,
		`{"eventName":"X","eventSource":"s","eventID":"1","eventName":"Y"}`,
		// members read from their bytes (scalarLeaf), and those parsed:
		// escapes, blanks, numbers, literals, one level down too
		`{"eventSource":"s\u0033","eventName":"A\"b","eventTime":"2024-01-01T00:00:00\u005a","eventID":"\\","userAgent":"a\/b","sourceIPAddress":"1.2.3.4"}`,
		`{"eventSource" : "s" ,"eventName":"X", "eventTime" :"2024-01-01T00:00:00Z" , "readOnly" : true ,"errorCode": null, "recipientAccountId" : 123 }`,
		`{"eventSource":"s","eventName":"X","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"IAMUser","principalId":-0.5e+3,"accountId":"\u0031","userName":"-","accessKeyId":false},"errorMessage":"none"}`,
		`{"eventSource":"s","eventName":"X","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type" : "AWSService" , "invokedBy" : "x.amazonaws.com" },"errorCode":"","errorMessage":"m"}`,
		`{"eventSource":"s","eventName":"X","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":["IAMUser"],"userName":{"a":1},"accountId":[]},"sourceIPAddress":"::ffff:1.2.3.4","userAgent":null}`,
		// two-segment paths (walk2) and where it leaves them to walkSrc
		`{"eventSource":"s","eventName":"X","eventTime":"2024-01-01T00:00:00Z","userIdentity":"IAMUser","requestParameters":[{"n":1}]}`,
		`{"eventSource":"s","eventName":"X","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"IAM\u0055ser","arn":null},"requestParameters":{"n":{"m":2}}}`,
		`{"eventSource":"s","eventName":"X","eventTime":"2024-01-01T00:00:00Z","userIdentity":{"t\u0079pe":"IAMUser"},"userIdentity.type":"Root"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		err := record.ForEach(bytes.NewReader(in), 1<<20, func(rec record.Record) error {
			// a bound on event times, so that some are in the future
			return sameReads(rec, sameReadsNames, true, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		}, func(*record.PosError) {})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// A record deeper than the JSON parser allows is refused, not read member
// by member, with an error that says so in a line (fastjson's own repeats
// "cannot parse array value" for every level).
func TestParseRecordTooDeep(t *testing.T) {
	deep := `{"eventName":"X","eventSource":"s","eventID":"1","requestParameters":` +
		string(bytes.Repeat([]byte("["), 400)) + string(bytes.Repeat([]byte("]"), 400)) + `}`
	err := record.ForEach(bytes.NewReader([]byte(deep)), 1<<20, func(rec record.Record) error {
		if rec.Keys == nil {
			return fmt.Errorf("no keys")
		}
		var p Parser
		if _, err := p.ParseRecord(rec); err == nil || !strings.Contains(err.Error(), "nested 401 levels deep") || len(err.Error()) > 200 {
			return fmt.Errorf("a record nested 401 deep: %.300v", err)
		}
		return nil
	}, func(pe *record.PosError) { t.Fatal(pe) })
	if err != nil {
		t.Fatal(err)
	}
}

// A flattened object's leaves read member by member are those of the ECS
// view, on either side of the sizes where the getter stops trusting the
// member's bytes (3 bytes written for each), its encoding, and the
// pipeline's own limit; U+0085 is written \u0085 by fastjson, 3 bytes for 2.
func TestParseRecordFlattenedSizes(t *testing.T) {
	const field = "aws.cloudtrail.flattened.request_parameters.a"
	for _, tc := range []struct {
		pad  string
		n    int
		want string
	}{
		{"y", 10, "x"},
		{"y", 5300, "x"},
		{"y", 5400, "x"},
		{"y", 17000, "x"},
		{"y", 40000, ""}, // past the pipeline's limit: not kept flattened
		{"\u0085", 2600, "x"},
		{"\u0085", 2700, "x"},
		{"\u0085", 9000, "x"},
		{"\u0085", 17000, ""},
	} {
		in := fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2026-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","requestParameters":{"pad":%q,"a":"x"},"eventID":"e"}`, strings.Repeat(tc.pad, tc.n))
		var recs []record.Record
		if err := record.ForEach(bytes.NewReader([]byte(in)), 0, func(rec record.Record) error {
			recs = append(recs, record.Record{Data: bytes.Clone(rec.Data), Keys: slices.Clone(rec.Keys)})
			return nil
		}, func(pe *record.PosError) { t.Error(pe) }); err != nil || len(recs) != 1 || recs[0].Keys == nil {
			t.Fatalf("%d x %q: %v %v", tc.n, tc.pad, err, recs)
		}
		var p Parser
		ev, err := p.ParseRecord(recs[0])
		if err != nil {
			t.Fatal(err)
		}
		got := valuesString(Resolve(field)(ev, nil))
		view := valuesString(walk(ev.ECS(), newPath(field), 0, nil))
		if got != tc.want || view != tc.want {
			t.Errorf("%d x %q: getter %q, ECS view %q, want %q", tc.n, tc.pad, got, view, tc.want)
		}
		if err := sameReads(recs[0], []string{field}, false, time.Time{}); err != nil {
			t.Errorf("%d x %q: %v", tc.n, tc.pad, err)
		}
	}
}

// Every member of records with up to hashedKeys keys and more (read key by
// key) is found, and absent keys are not, whatever their signatures share.
func TestParseRecordManyKeys(t *testing.T) {
	for _, n := range []int{1, 2, hashedKeys - 1, hashedKeys, hashedKeys + 1, 300} {
		var b strings.Builder
		b.WriteString(`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2026-01-01T00:00:00Z"`)
		var names []string
		for i := 3; i < n; i++ {
			// keys of one length and first and last 8 bytes but the middle
			k := fmt.Sprintf("abcdefgh%03dabcdefgh", i)
			fmt.Fprintf(&b, `,%q:%d`, k, i)
			names = append(names, k, fmt.Sprintf("abcdefgh%03dabcdefgh", i+1000))
		}
		b.WriteString("}")
		var recs []record.Record
		if err := record.ForEach(strings.NewReader(b.String()), 0, func(rec record.Record) error {
			recs = append(recs, record.Record{Data: bytes.Clone(rec.Data), Keys: slices.Clone(rec.Keys)})
			return nil
		}, func(pe *record.PosError) { t.Error(pe) }); err != nil || len(recs) != 1 || recs[0].Keys == nil {
			t.Fatalf("%d keys: %v %v", n, err, len(recs))
		}
		if err := sameReads(recs[0], names, false, time.Time{}); err != nil {
			t.Errorf("%d keys: %v", n, err)
		}
		var p Parser
		ev, err := p.ParseRecord(recs[0])
		if err != nil {
			t.Fatal(err)
		}
		for i := 3; i < n; i++ {
			if v := ev.Member(fmt.Sprintf("abcdefgh%03dabcdefgh", i)); v == nil || v.GetInt() != i {
				t.Fatalf("%d keys: member %d is %v", n, i, v)
			}
		}
		if ev.Member("abcdefgh999abcdefgh") != nil || ev.Provider() != "s3.amazonaws.com" {
			t.Fatalf("%d keys: an absent member found, or the source lost", n)
		}
	}
}

// scalarLeaf reads what leaf reads of the parsed value, or leaves it to the
// parse.
func TestScalarLeaf(t *testing.T) {
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{`"abc"`, true}, {`""`, true}, {`"a b/c"`, true}, {`"é\u00e9"`, false}, {`"a\"b"`, false}, {`"\\"`, false},
		{`0`, true}, {`-1.5e+3`, true}, {`123456789012345678901234567890`, true}, {`1E400`, true},
		{`true`, true}, {`false`, true}, {`null`, true},
		{`{}`, false}, {`{"a":1}`, false}, {`[]`, false}, {`["a"]`, false}, {``, false},
	} {
		got, ok := scalarLeaf([]byte(tc.raw), nil)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.raw, ok, tc.ok)
			continue
		}
		if ok {
			if want := leaf(fastjson.MustParse(tc.raw), nil); !slices.Equal(got, want) {
				t.Errorf("%s: %v, parsed %v", tc.raw, got, want)
			}
		}
	}
}

// FuzzScalarLeaf: on any valid JSON value, scalarLeaf, when it reads one,
// gives what leaf gives of the value parsed; and it reads every string
// without a backslash, every number and literal.
func FuzzScalarLeaf(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\nb"`, `-0.0e-0`, `true`, `null`, `{"a":"b"}`, `[1]`, `"\u0000"`, `"\u00e9x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		raw = bytes.TrimSpace(raw) // KeyValue trims the blanks around a value
		v, err := fastjson.ParseBytes(raw)
		if err != nil {
			return // fastjson refuses it (deeper than it allows): not read from bytes either
		}
		got, ok := scalarLeaf(raw, nil)
		switch typ := v.Type(); {
		case ok:
			if want := leaf(v, nil); !slices.Equal(got, want) {
				t.Fatalf("%s: %v, parsed %v", raw, got, want)
			}
		case typ == fastjson.TypeNumber || typ == fastjson.TypeTrue || typ == fastjson.TypeFalse || typ == fastjson.TypeNull,
			typ == fastjson.TypeString && !bytes.ContainsRune(raw, '\\'):
			t.Fatalf("%s: not read from its bytes", raw)
		}
	})
}

// FuzzRenamedViews: the view of an ECS field renamed from a raw one, which
// gives the raw field's values when drop-empty keeps them as they are, is
// what the field's getter computes, on records parsed whole and member by
// member; and reading the views again gives the same.
func FuzzRenamedViews(f *testing.F) {
	for _, s := range []string{
		`{"eventVersion":"1.08","eventSource":"s","eventName":"X","userAgent":"a","userIdentity":{"type":"IAMUser","accessKeyId":"AKIA1","arn":["a",{"b":1}]},"errorCode":"-","readOnly":true,"eventType":null,"awsRegion":"none"}`,
		`{"eventVersion":"1.08","eventSource":"s","eventName":"X","userAgent":["a",""],"userIdentity":{"type":{"t":1},"sessionContext":{"sessionIssuer":{"arn":"x","type":""}}},"errorCode":"","recipientAccountId":12}`,
		`{"_source":{"event":{"action":"X","provider":"y"},"user_agent":{"original":"u"},"aws":{"cloudtrail":{"user_identity":{"type":"Root"}}}}}`,
	} {
		f.Add([]byte(s))
	}
	var names []string
	for n, raw := range renames {
		if !IsECSName(raw) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	views := make([]View, len(names))
	gets := make([]Getter, len(names))
	for i, n := range names {
		views[i], gets[i] = ResolveView(n), resolve(n)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		check := func(ev *Event) {
			for i, n := range names {
				want := gets[i](ev, nil)
				for range 2 {
					if got := views[i](ev); !slices.Equal(got, want) {
						t.Fatalf("%s of %s: view %v, getter %v", n, in, got, want)
					}
				}
			}
		}
		var p Parser
		if ev, err := p.Parse(in); err == nil {
			check(ev)
		}
		record.ForEach(bytes.NewReader(in), 1<<20, func(rec record.Record) error {
			if ev, err := p.ParseRecord(rec); err == nil {
				check(ev)
			}
			return nil
		}, func(*record.PosError) {})
	})
}
