package esql

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/event"
)

// run evaluates q over the records (one run, NOW() = now).
func run(t *testing.T, q string, recs []string, now time.Time) Table {
	t.Helper()
	prog := compileQuery(t, q)
	var rows []Row
	for _, rec := range recs {
		var p event.Parser
		ev, err := p.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		prog.Head(ev, ev.Time(), func(r Row) { rows = append(rows, r) })
	}
	return prog.Tail(rows, now)
}

func col(tb Table, row int, name string) Value {
	for i, c := range tb.Columns {
		if c == name {
			return tb.Rows[row][i]
		}
	}
	return "<no column>"
}

const seedEBS = `from logs-aws.cloudtrail-* metadata _id, _version, _index
| where event.provider == "ec2.amazonaws.com" and event.action == "ModifySnapshotAttribute" and event.outcome == "success"
| dissect aws.cloudtrail.request_parameters "{%{?snapshotId}=%{snapshotId},%{?attributeType}=%{attributeType},%{?createVolumePermission}={%{operationType}={%{?items}=[{%{?userId}=%{userId}}]}}}"
| where operationType == "add" and cloud.account.id != userId
| keep @timestamp, aws.cloudtrail.user_identity.arn, cloud.account.id, event.action, snapshotId, attributeType, operationType, userId`

// The seed rule's query fires on the sample that shares a snapshot with
// another account, not on sharing with the own account or removing.
func TestSeedEBSQueryOnSamples(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "samples", "snapshot-sharing.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(strings.TrimSpace(string(data)), "\n")
	tb := run(t, seedEBS, recs, time.Now())
	// Two rows: the share with another account, and (as Elastic runs this
	// query) the public share: dissect reads {group=all} as userId "all",
	// which is not the account id. Sharing with the own account and removing
	// a permission raise nothing.
	if len(tb.Rows) != 2 || col(tb, 1, "userId") != "all" {
		t.Fatalf("%d rows, want 2 (another account, then group=all): %v", len(tb.Rows), tb.Rows)
	}
	want := map[string]Value{"userId": "123456789012", "operationType": "add", "attributeType": "CREATE_VOLUME_PERMISSION",
		"snapshotId": "snap-0f1e2d3c4b5a69788", "cloud.account.id": "210987654321", "event.action": "ModifySnapshotAttribute"}
	for k, v := range want {
		if got := col(tb, 0, k); got != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if got := strings.Join(tb.Columns, ","); got != "@timestamp,aws.cloudtrail.user_identity.arn,cloud.account.id,event.action,snapshotId,attributeType,operationType,userId" {
		t.Errorf("columns %s", got)
	}
}

func TestStats(t *testing.T) {
	rec := func(user, action, ts string) string {
		return fmt.Sprintf(`{"eventTime":%q,"eventSource":"ec2.amazonaws.com","eventName":%q,"userIdentity":{"type":"IAMUser","userName":%q,"accountId":"1"},"sourceIPAddress":"192.0.2.1"}`, ts, action, user)
	}
	recs := []string{
		rec("alice", "StopInstances", "2026-11-01T10:00:10Z"),
		rec("alice", "StartInstances", "2026-11-01T10:01:00Z"),
		rec("alice", "StartInstances", "2026-11-01T10:07:00Z"),
		rec("bob", "DescribeInstances", "2026-11-01T10:02:00Z"),
	}
	tb := run(t, `FROM logs-aws.cloudtrail-*
| WHERE event.provider == "ec2.amazonaws.com" // comment
| STATS n = COUNT(*), actions = COUNT_DISTINCT(event.action), vals = VALUES(event.action), first = MIN(@timestamp),
        starts = COUNT(*) WHERE event.action == "StartInstances" BY user.name, bucket = DATE_TRUNC(5 minute, @timestamp)
| WHERE n >= 1 /* block */
| SORT user.name ASC, bucket DESC
| KEEP user.name, b*, n, actions, vals, starts, first`, recs, time.Now())
	want := [][]string{
		{"alice", "2026-11-01T10:05:00.000Z", "1", "1", "StartInstances", "1", "2026-11-01T10:07:00.000Z"},
		{"alice", "2026-11-01T10:00:00.000Z", "2", "2", "StartInstances|StopInstances", "1", "2026-11-01T10:00:10.000Z"},
		{"bob", "2026-11-01T10:00:00.000Z", "1", "1", "DescribeInstances", "0", "2026-11-01T10:02:00.000Z"},
	}
	if len(tb.Rows) != len(want) {
		t.Fatalf("rows %v", tb.Rows)
	}
	for i, w := range want {
		var got []string
		for _, v := range tb.Rows[i] {
			var parts []string
			for _, x := range values(v) {
				parts = append(parts, toString(x))
			}
			got = append(got, strings.Join(parts, "|"))
		}
		if strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("row %d: %v, want %v", i, got, w)
		}
	}
}

func TestExpressions(t *testing.T) {
	rec := `{"eventTime":"2026-11-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"IAMUser","userName":"Alice"},
		"requestParameters":{"userName":"bob"},"responseElements":{"accessKey":{"accessKeyId":"AKIAABCDEFGHIJKLMNOP","status":"Active"}},"sourceIPAddress":"10.1.2.3"}`
	tests := []struct{ expr, want string }{
		{`TO_LOWER(user.name)`, "alice"},
		{`CONCAT(user.name, "-", event.action)`, "Alice-CreateAccessKey"},
		{`CASE(user.name == "x", 1, user.name LIKE "Al*", 2, 3)`, "2"},
		{`COALESCE(aws.cloudtrail.error_code, "fallback")`, "fallback"},
		{`user.name RLIKE """[Aa]l.*"""`, "true"},
		{`user.name NOT IN ("bob", "carol")`, "true"},
		{`aws.cloudtrail.error_code IS NULL`, "true"},
		{`aws.cloudtrail.error_code == "x"`, "<nil>"},
		{`STARTS_WITH(event.action, "Create")`, "true"},
		{`LENGTH(event.action) * 2 + 1`, "31"},
		{`10 / 4`, "2"},
		{`10.0 / 4`, "2.5"},
		{`TO_STRING(FROM_BASE64("aGVsbG8="))`, "hello"},
		{`DATE_DIFF("minutes", @timestamp - 1 hour, @timestamp)`, "60"},
		{`SUBSTRING(event.action, 7, 3)`, "Acc"},
		{`MV_COUNT(SPLIT("a,b,c", ","))`, "3"},
		{`CIDR_MATCH(source.ip, "10.0.0.0/8")`, "true"},
		{`user.target.name`, "bob"},
		{`@timestamp >= "2026-11-01T09:00:00Z"`, "true"},
		{"`user.name` == \"Alice\"", "true"},
	}
	for _, tt := range tests {
		tb := run(t, "FROM x | EVAL r = "+tt.expr+" | KEEP r", []string{rec}, time.Now())
		got := fmt.Sprint(tb.Rows[0][0])
		if got != tt.want {
			t.Errorf("%s = %s, want %s", tt.expr, got, tt.want)
		}
	}
	tb := run(t, `FROM x | GROK aws.cloudtrail.response_elements """.*accessKeyId=(?<Esql.key>AKIA[A-Z0-9]{16}).*""" | GROK event.action "%{DATA:verb}Access%{GREEDYDATA:noun}" | KEEP Esql.key, verb, noun`, []string{rec}, time.Now())
	if fmt.Sprint(tb.Rows[0]) != "[AKIAABCDEFGHIJKLMNOP Create Key]" {
		t.Errorf("grok: %v", tb.Rows[0])
	}
}

func TestDissect(t *testing.T) {
	tests := []struct{ pattern, in, want string }{
		{"%{a} %{b}", "one two", "a=one b=two"},
		{"%{a->} %{b}", "one    two", "a=one b=two"},
		{"%{+a} %{+a}", "x y", "a=x y"},
		{"%{+a/2} %{+a/1}", "x y", "a=y x"},
		{"%{*k}=%{&k}", "color=red", "color=red"},
		{"[%{?skip}] %{msg}", "[x] hello world", "msg=hello world"},
		{"%{a},%{b}", "no comma", "nomatch"},
	}
	for _, tt := range tests {
		d, err := parseDissect(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := d.match(tt.in, " ")
		got := "nomatch"
		if ok {
			var parts []string
			for _, n := range []string{"a", "b", "color", "msg"} {
				if v, ok := m[n]; ok {
					parts = append(parts, n+"="+v)
				}
			}
			got = strings.Join(parts, " ")
		}
		if got != tt.want {
			t.Errorf("%s on %q: %s, want %s", tt.pattern, tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ q, want string }{
		{"FROM x | WHERE a ==", "1:20"},
		{"FROM x\n| FOO bar", "2:3: unknown command FOO"},
		{"FROM x | ENRICH policy", "command ENRICH is not supported"},
		{"FROM x | EVAL y = NOPE(a)", "function NOPE is not supported"},
		{"FROM x | WHERE a == \"unterminated", "unterminated string"},
		{"ROW a = 1", "not supported"},
		{"FROM x | STATS COUNT(*) + 1", "aggregate functions"},
		{"FROM x | GROK a \"%{NOPE:x}\"", "unknown grok pattern"},
	} {
		_, err := Parse(tt.q)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.q, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(seedEBS)
	f.Add(`FROM x | STATS c = COUNT(*) WHERE a > 1 BY b = DATE_TRUNC(5 minute, @timestamp) | SORT c DESC NULLS LAST | LIMIT 3`)
	f.Add(`FROM x | GROK event.action """(?<a>[0-9]+) %{WORD:w}""" | EVAL y = CASE(a IS NULL, "n", a RLIKE "1.*", "one", "x") | KEEP y, w*`)
	f.Add("FROM x | STATS COUNT(*) BY user.name // c\n| KEEP user.name /* d */")
	f.Add("FROM x | WHERE " + nested["parentheses"](maxDepth))
	f.Add("FROM x | EVAL a = " + nested["OR chain"](maxDepth-1) + " | WHERE " + nested["calls"](maxDepth))
	f.Add(`FROM x | EVAL event.action = "x", y = CONCAT(event.action, "!") | WHERE event.action == "x" AND y == "x!" | STATS n = COUNT(*) WHERE y IS NOT NULL BY user.name`)
	f.Add(`FROM x | DISSECT requestParameters.a "%{n} %{w}" | EVAL n = n::long * 2, w = w IN ("b", null) | WHERE NOT w OR n > 1 | MV_EXPAND n | KEEP n, w`)
	f.Add(`FROM x | WHERE "A" <= event.action AND requestParameters.a IN ("1 b", @timestamp, 1) AND STARTS_WITH(user.name, "u") | STATS d = COUNT_DISTINCT(event.action), t = TOP(user.name, 1, "desc"), lo = MIN(requestParameters.a), v = VALUES(@timestamp) BY user.name`)
	f.Add(`FROM x | GROK requestParameters.a "%{NUMBER:n} %{WORD:w}" | WHERE user.name LIKE "u*" AND event.outcome IS NULL | STATS c = COUNT(*), v = VALUES(w) BY n`)
	f.Add(`FROM x | GROK requestParameters.a "%{NUMBER:n} %{WORD:w}" | EVAL n = "over" | DISSECT requestParameters.a "%{x} %{w}" | STATS c = COUNT(*), v = VALUES(n) BY w, x`)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			return
		}
		// an unnamed column is named by its expression's text, not by the
		// blanks or comments after it: a field by its name
		for _, c := range q.Commands {
			var as []Assign
			switch c := c.(type) {
			case Eval:
				as = c.Fields
			case Stats:
				as = c.By
			}
			for _, a := range as {
				if a.Name == "" || strings.TrimSpace(a.Name) != a.Name {
					t.Errorf("column name %q in %q", a.Name, s)
				}
				if _, ok := a.Expr.(Field); ok && (strings.Contains(a.Name, "//") || strings.Contains(a.Name, "/*")) {
					t.Errorf("column %q named with a comment in %q", a.Name, s)
				}
			}
		}
		prog, err := Compile(q)
		if err != nil {
			return
		}
		var p event.Parser
		ev, err := p.Parse([]byte(`{"eventTime":"2026-11-01T10:00:00Z","eventName":"A","requestParameters":{"a":"1 b"},"userIdentity":{"userName":"u"}}`))
		if err != nil {
			t.Fatal(err)
		}
		// the compiled head and aggregation agree with eval's
		evs := []*event.Event{ev}
		if got, want := runAll(prog, evs, ev.Time()), runAll(interpreted(prog), evs, ev.Time()); got != want {
			t.Errorf("%q:\ncompiled:\n%s\ninterpreted:\n%s", s, got, want)
		}
		if err := partialsAsTail(prog, evs, ev.Time()); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	})
}

// Aggregating slice by slice and merging gives the table aggregating all
// rows at once gives.
func TestPartialsMatchRows(t *testing.T) {
	q, err := Parse(`FROM x | WHERE event.provider == "ec2.amazonaws.com"
| STATS n = COUNT(*), d = COUNT_DISTINCT(event.action), v = VALUES(event.action), lo = MIN(@timestamp), hi = MAX(@timestamp),
        s = SUM(requestParameters.n), a = AVG(requestParameters.n), m = MEDIAN(requestParameters.n),
        starts = COUNT(*) WHERE event.action == "StartInstances", top = TOP(event.action, 2, "desc")
  BY user.name, b = DATE_TRUNC(1 minute, @timestamp)
| WHERE n >= 1 | SORT n DESC, user.name`)
	if err != nil {
		t.Fatal(err)
	}
	prog, _ := Compile(q)
	if !prog.Partials() {
		t.Fatal("not aggregated by parts")
	}
	var rows []Row
	var times []int64
	actions := []string{"StartInstances", "StopInstances", "DescribeInstances"}
	for i := range 40 {
		rec := fmt.Sprintf(`{"eventTime":"2026-11-01T10:%02d:%02dZ","eventSource":"ec2.amazonaws.com","eventName":%q,"userIdentity":{"type":"IAMUser","userName":"u%d"},"requestParameters":{"n":%d}}`,
			i/10, (i*7)%60, actions[i%3], i%4, i)
		var p event.Parser
		ev, err := p.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		prog.Head(ev, ev.Time(), func(r Row) { rows = append(rows, r); times = append(times, ev.Time().UnixNano()) })
	}
	want := prog.Tail(rows, time.Now())
	var parts []*Partial
	for start := 0; start < len(rows); start += 7 {
		pt := prog.NewPartial()
		for i := start; i < min(start+7, len(rows)); i++ {
			prog.Accumulate(pt, rows[i], times[i])
		}
		parts = append(parts, pt)
	}
	got := prog.TailPartials(parts, time.Now())
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got.Rows) == 0 {
		t.Errorf("by parts:\n%v\nall rows:\n%v", got, want)
	}

	// HeadTransient's rows alias the record, whose parser (and buffer) the
	// next record reuses: what Accumulate keeps must be its own copy
	if prog.headAcc == nil {
		t.Fatal("the head did not compile: HeadInto would not read the head row")
	}
	var p event.Parser
	buf := make([]byte, 0, 512)
	for _, feed := range []struct {
		name string
		add  func(pt *Partial, ev *event.Event)
	}{
		{"transient rows", func(pt *Partial, ev *event.Event) {
			prog.HeadTransient(ev, ev.Time(), func(r Row) { prog.Accumulate(pt, r, ev.Time().UnixNano()) })
		}},
		// HeadInto's aggregation reads the event's strings unboxed: what a
		// group keeps is its own copy
		{"HeadInto", func(pt *Partial, ev *event.Event) {
			if n := prog.HeadInto(ev, ev.Time(), ev.Time().UnixNano(), func() *Partial { return pt }); n != 1 {
				t.Fatalf("%s: %d rows", ev.Raw, n)
			}
		}},
	} {
		parts = nil
		for i := range 40 {
			if i%7 == 0 {
				parts = append(parts, prog.NewPartial())
			}
			buf = fmt.Appendf(buf[:0], `{"eventTime":"2026-11-01T10:%02d:%02dZ","eventSource":"ec2.amazonaws.com","eventName":%q,"userIdentity":{"type":"IAMUser","userName":"u%d"},"requestParameters":{"n":%d}}`,
				i/10, (i*7)%60, actions[i%3], i%4, i)
			ev, err := p.Parse(buf)
			if err != nil {
				t.Fatal(err)
			}
			feed.add(parts[len(parts)-1], ev)
		}
		clear(buf[:cap(buf)])
		if got := prog.TailPartials(parts, time.Now()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s by parts:\n%v\nall rows:\n%v", feed.name, got, want)
		}
	}
}

// Rows outlive the record they came from: with one parser reused for every
// record (as a hunt's worker does), a row's values still hold its own
// record's strings (issue 9, item 22: _id aliased the parser's buffer).
func TestRowsOutliveTheirRecord(t *testing.T) {
	for _, tt := range []struct{ name, q, col string }{
		{"metadata _id", `FROM x METADATA _id | KEEP _id`, "_id"},
		{"eval of _id", `FROM x METADATA _id | EVAL i = CONCAT("", _id) | KEEP i`, "i"},
		{"field", `FROM x | KEEP event.id`, "event.id"},
		{"dissect", `FROM x | DISSECT event.id "%{i}" | KEEP i`, "i"},
		{"stats by _id", `FROM x METADATA _id | STATS n = COUNT(*) BY _id | SORT _id`, "_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prog := compileQuery(t, tt.q)
			var p event.Parser // one parser: its buffers are reused
			var rows []Row
			var want []string
			for i := range 5 {
				id := fmt.Sprintf("id-%d-%s", i, strings.Repeat("x", 3*i))
				want = append(want, id)
				rec := fmt.Sprintf(`{"eventTime":"2026-11-01T10:00:0%dZ","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":%q,"awsRegion":"us-east-1"}`, i, id)
				ev, err := p.Parse([]byte(rec))
				if err != nil {
					t.Fatal(err)
				}
				prog.Head(ev, ev.Time(), func(r Row) { rows = append(rows, r) })
			}
			tb := prog.Tail(rows, time.Now())
			if len(tb.Rows) != len(want) {
				t.Fatalf("%d rows, want %d", len(tb.Rows), len(want))
			}
			for i, w := range want {
				if got := col(tb, i, tt.col); got != w {
					t.Errorf("row %d: %s = %v, want %q", i, tt.col, got, w)
				}
			}
		})
	}
}

// A column that does not exist where a command reads it is a query error,
// as in ES|QL ("Unknown column [x]"), not a column of nulls (issue 9, item
// 21). Fields of the index (ECS and raw CloudTrail names) exist even where
// a record lacks them; KEEP, DROP, RENAME and STATS take columns away.
func TestUnknownColumns(t *testing.T) {
	const from = "FROM logs-aws.cloudtrail-* "
	for _, tt := range []struct{ q, err string }{
		{from + "| STATS n = COUNT(*) BY nosuchfield", "1:52: Unknown column [nosuchfield] in STATS"},
		{from + "| STATS n = COUNT(nosuch)", "Unknown column [nosuch] in STATS"},
		{from + "| STATS n = COUNT(*) WHERE nosuch > 1", "Unknown column [nosuch] in STATS"},
		{from + "| STATS n = COUNT(*) BY user.name | WHERE event.action == \"x\"", "Unknown column [event.action] in WHERE"},
		{from + "| STATS n = COUNT(*) BY user.name | SORT event.action", "Unknown column [event.action] in SORT"},
		{from + "| KEEP user.name | WHERE event.action == \"x\"", "Unknown column [event.action] in WHERE"},
		{from + "| KEEP user.* | EVAL a = event.action", "Unknown column [event.action] in EVAL"},
		{from + "| KEEP nosuch", "Unknown column [nosuch] in KEEP"},
		{from + "| DROP user.name | STATS c = COUNT(*) BY user.name", "Unknown column [user.name] in STATS"},
		{from + "| DROP nosuch", "Unknown column [nosuch] in DROP"},
		{from + "| RENAME user.name AS u | KEEP user.name", "Unknown column [user.name] in KEEP"},
		{from + "| RENAME nosuch AS u", "Unknown column [nosuch] in RENAME"},
		{from + "| KEEP _id", "Unknown column [_id] in KEEP"}, // without METADATA _id
		{from + "| EVAL x = TO_LOWER(nosuch)", "Unknown column [nosuch] in EVAL"},
		{from + "| MV_EXPAND nosuch", "Unknown column [nosuch] in MV_EXPAND"},
		{from + "| DISSECT nosuch \"%{a}\"", "Unknown column [nosuch] in DISSECT"},
		{from + "| EVAL y = x, x = 1", "Unknown column [x] in EVAL"},
		{from + "| STATS c = COUNT(*) BY b = DATE_TRUNC(1 hour, @timestamp) | KEEP @timestamp", "Unknown column [@timestamp] in KEEP"},
		// fine: mapped but absent fields, raw names, columns made earlier
		{from + "| STATS n = COUNT(*) BY aws.cloudtrail.error_code", ""},
		{from + "| STATS n = COUNT(*) BY userIdentity.arn, requestParameters.bucketName", ""},
		{from + "| EVAL u = TO_LOWER(user.name), v = CONCAT(u, \"x\") | STATS n = COUNT(*) BY u, v | SORT n DESC, u | KEEP n, u", ""},
		{from + "| DISSECT event.action \"%{verb}Access%{noun}\" | GROK user.name \"%{WORD:w}\" | KEEP verb, noun, w", ""},
		{from + "| KEEP user.*, event.action | WHERE user.name == \"a\" AND event.action == \"b\"", ""},
		{from + "| RENAME user.name AS u | WHERE u == \"a\" | DROP u | KEEP event.action", ""},
		{from + "METADATA _id, _index | KEEP _id, _index", ""},
		{from + "| STATS c = COUNT(*) BY b = DATE_TRUNC(1 hour, @timestamp) | WHERE c > 1 | SORT b | KEEP b, c", ""},
		{"FROM logs-aws.cloudtrail-*, logs-endpoint.events.process-* | WHERE process.command_line == \"x\"", ""},
		// an unnamed BY expression is named by its text, not the comment after it
		{from + "| STATS c = COUNT(*) BY user.name\n// the threshold\n| WHERE c > 0 | KEEP user.name, c", ""},
	} {
		_, err := Parse(tt.q)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%q: %v", tt.q, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: error %v, want %q", tt.q, err, tt.err)
		}
	}
	// the unnamed BY column holds the values
	rec := `{"eventTime":"2026-11-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"IAMUser","userName":"alice"}}`
	tb := run(t, from+"| STATS c = COUNT(*) BY user.name // a comment\n| KEEP user.name, c", []string{rec}, time.Now())
	if len(tb.Rows) != 1 || col(tb, 0, "user.name") != "alice" {
		t.Errorf("columns %v rows %v", tb.Columns, tb.Rows)
	}
}

// appendKey writes what the original key did: "s"+string, "\x00null",
// "[a\x1fb]" for multi-values, else the Go type and TO_STRING form (group
// order ties are broken by keys, so the bytes matter).
func TestKeyForms(t *testing.T) {
	ts := time.Date(2024, 3, 1, 12, 30, 0, 123456789, time.FixedZone("x", 3600))
	old := func(v Value) string { return fmt.Sprintf("%T%s", v, toString(v)) }
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{nil, "\x00null"},
		{"abc", "sabc"},
		{"", "s"},
		{int64(-42), old(int64(-42))},
		{true, old(true)},
		{false, old(false)},
		{ts, old(ts)},
		{3.5, old(3.5)},
		{2.0, old(2.0)},
		{time.Duration(90e9), old(time.Duration(90e9))},
		{[]Value{"a", int64(1), nil}, "[sa\x1f" + old(int64(1)) + "\x1f\x00null]"},
		{[]Value{[]Value{"x"}, "y"}, "[[sx]\x1fsy]"},
	} {
		if got := key(tc.v); got != tc.want {
			t.Errorf("key(%#v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// A WHERE right after STATS that drops groups: TailPartials computes the
// aggregations it does not read only for the groups it keeps, with the
// same rows, order and values as the whole table filtered.
func TestPartialsFilteredWhere(t *testing.T) {
	for _, src := range []string{
		`FROM x | STATS starts = COUNT(*) WHERE event.action == "StartInstances", v = VALUES(event.action), lo = MIN(@timestamp), d = COUNT_DISTINCT(event.action) BY user.name
| WHERE starts > 0 AND d >= 2 | KEEP user.name, v, lo, starts`,
		`FROM x | STATS n = COUNT(*), v = VALUES(requestParameters.n), hi = MAX(@timestamp) BY user.name, event.action | WHERE n > 2 OR user.name == "u1"`,
		`FROM x | STATS n = COUNT(*), v = VALUES(event.action) BY user.name | WHERE NOW() > "2000-01-01" AND v IS NOT NULL`,
		// KEEP and DROP after the WHERE, their columns worked out once,
		// and an EVAL after them adding a column to each result's
		`FROM x | STATS n = COUNT(*), v = VALUES(event.action), vn = VALUES(requestParameters.n) BY user.name | WHERE n > 2 | KEEP v*, user.*, n | DROP vn | EVAL z = n + 1`,
		`FROM x | STATS n = COUNT(*), v = VALUES(event.action), vn = VALUES(requestParameters.n) BY user.name | WHERE n > 2 | DROP v | KEEP user.name, vn`,
		`FROM x | STATS n = COUNT(*) BY user.name | WHERE n > 2 | KEEP nothing*`,
		// every function, over groups in one part and in several (one
		// part's result is read without a merge)
		`FROM x | STATS n = COUNT(*), m = MEDIAN(requestParameters.n), t = TOP(requestParameters.n, 2, "desc"), a = AVG(requestParameters.n), s = SUM(requestParameters.n), c = COUNT(requestParameters.n), d = COUNT_DISTINCT(event.action), lo = MIN(requestParameters.n), hi = MAX(@timestamp) BY user.name, event.action | WHERE n >= 1 AND m >= 0`,
	} {
		q, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		prog, _ := Compile(q)
		var rows []Row
		parts := []*Partial{prog.NewPartial()}
		actions := []string{"StartInstances", "StopInstances", "DescribeInstances"}
		for i := range 60 {
			rec := fmt.Sprintf(`{"eventTime":"2026-11-01T10:%02d:%02dZ","eventSource":"ec2.amazonaws.com","eventName":%q,"userIdentity":{"type":"IAMUser","userName":"u%d"},"requestParameters":{"n":%d}}`,
				i/10, (i*7)%60, actions[(i*i+i/7)%3], i%7, i%5)
			var p event.Parser
			ev, err := p.Parse([]byte(rec))
			if err != nil {
				t.Fatal(err)
			}
			if i%9 == 8 {
				parts = append(parts, prog.NewPartial())
			}
			prog.Head(ev, ev.Time(), func(r Row) {
				rows = append(rows, r)
				prog.Accumulate(parts[len(parts)-1], r, ev.Time().UnixNano())
			})
		}
		now := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
		want := prog.tailMerged(parts, now)
		got := prog.TailPartials(parts, now)
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) || len(got.Rows) == 0 {
			t.Errorf("%s\nfiltered:\n%#v\nmerged:\n%#v", src, got, want)
		}
		if again := prog.TailPartials(parts, now); fmt.Sprintf("%#v", again) != fmt.Sprintf("%#v", want) {
			t.Errorf("%s: a second run gives\n%#v", src, again)
		}
		// the same rows as over all rows, in another order: rows order
		// groups by position, parts by event time
		all := prog.Tail(rows, now)
		if len(all.Rows) != len(got.Rows) {
			t.Errorf("%s: %d rows by parts, %d over all rows", src, len(got.Rows), len(all.Rows))
		}
		if strings.Contains(src, "starts > 0") && len(got.Rows) >= 7 {
			t.Errorf("%s: the WHERE dropped no group (%d rows): a weak test", src, len(got.Rows))
		}
	}
}

// Each aggregation's result, written out (an accumulator keeps only what
// its function reads).
func TestAggregationResults(t *testing.T) {
	var recs []string
	for i, n := range []int{5, 3, 9, 3, 7} {
		recs = append(recs, fmt.Sprintf(`{"eventTime":"2026-11-01T10:00:%02dZ","eventSource":"s3.amazonaws.com","eventName":"Get%d","userIdentity":{"type":"IAMUser","userName":"u"},"requestParameters":{"n":%d}}`, 10+i, n%2, n))
	}
	tb := run(t, `FROM x | STATS c = COUNT(requestParameters.n), cd = COUNT_DISTINCT(requestParameters.n), v = VALUES(requestParameters.n),
  lo = MIN(requestParameters.n), hi = MAX(requestParameters.n), s = SUM(requestParameters.n), a = AVG(requestParameters.n),
  m = MEDIAN(requestParameters.n), top = TOP(requestParameters.n, 2, "desc"), first = MIN(@timestamp), names = VALUES(event.action),
  odd = COUNT(*) WHERE event.action == "Get1" BY user.name`, recs, time.Now())
	want := map[string]string{
		"c": "5", "cd": "4", "v": "[3 5 7 9]", "lo": "3", "hi": "9", "s": "27", "a": "5.4", "m": "5", "top": "[9 7]",
		"first": "2026-11-01 10:00:10 +0000 UTC", "names": "Get1", "odd": "5", "user.name": "u",
	}
	if len(tb.Rows) != 1 {
		t.Fatalf("rows %v", tb.Rows)
	}
	for name, w := range want {
		if got := fmt.Sprint(col(tb, 0, name)); got != w {
			t.Errorf("%s = %s, want %s", name, got, w)
		}
	}
}

// Two values have the same distinct-set key exactly when they have the same
// key: a time's key is its millisecond, in any zone.
func TestValueKeysAgree(t *testing.T) {
	ts := time.Date(2024, 3, 1, 12, 30, 0, 123456789, time.UTC)
	vals := []Value{nil, "a", "time.Time1709296200123", int64(1709296200123), true, 2.5, time.Duration(5),
		ts, ts.Add(400 * time.Microsecond), ts.Add(time.Millisecond), ts.In(time.FixedZone("x", 3600)),
		ts.Truncate(time.Millisecond), time.Date(1969, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 998_500_000, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(12024, 1, 1, 0, 0, 0, 0, time.UTC), []Value{"a", ts}}
	for _, a := range vals {
		for _, b := range vals {
			same := key(a) == key(b)
			if got := string(appendValueKey(nil, a)) == string(appendValueKey(nil, b)); got != same {
				t.Errorf("%#v and %#v: value keys equal %v, keys equal %v", a, b, got, same)
			}
		}
	}
}
