package esql

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/event"
)

// interpreted returns p with nothing compiled: every head command through
// applyRow and every expression, head or STATS, through eval (the
// definition the compiled closures must agree with).
func interpreted(p *Program) *Program {
	q := &Program{Query: p.Query, head: p.head, tail: p.tail, slot: p.slot, views: p.views, dates: p.dates,
		needed: p.needed, neededIdx: p.neededIdx, Aggregating: p.Aggregating}
	if p.acc != nil {
		st := p.tail[0].(Stats)
		q.acc = &statsExprs[*tableRow]{by: make([]iexpr[*tableRow], len(st.By)), filters: make([]cond[*tableRow], len(st.Aggs)), args: make([]iexpr[*tableRow], len(st.Aggs)), fns: p.acc.fns}
		byEval := func(e Expr) cexpr[*tableRow] { return func(r *tableRow) Value { return eval(e, r) } }
		itemEval := func(e Expr) iexpr[*tableRow] { return func(r *tableRow) item { return item{v: eval(e, r)} } }
		for i, b := range st.By {
			q.acc.by[i] = itemEval(b.Expr)
		}
		for i, a := range st.Aggs {
			if a.Filter != nil {
				f := byEval(a.Filter)
				q.acc.filters[i] = func(r *tableRow) bool {
					b, ok := f(r).(bool)
					return ok && b
				}
			}
			if a.Arg != nil {
				q.acc.args[i] = itemEval(a.Arg)
			}
		}
		q.acc.setFilters(st)
	}
	return q
}

// runAll returns what a program makes of the events, as text: each head
// row, the tail over them, and the aggregation of them as records arrive,
// from the rows Head emits and straight from each event (HeadInto, which
// the interpreted program runs through HeadTransient and Accumulate).
func runAll(p *Program, evs []*event.Event, now time.Time) string {
	var b strings.Builder
	var rows []Row
	for _, ev := range evs {
		p.Head(ev, now, func(r Row) {
			fmt.Fprintf(&b, "row %q %#v\n", r.Names, r.Values)
			rows = append(rows, r)
		})
	}
	fmt.Fprintf(&b, "tail %#v\n", p.Tail(rows, now))
	if p.Partials() {
		pt := p.NewPartial()
		for i, r := range rows {
			p.Accumulate(pt, r, int64(i))
		}
		fmt.Fprintf(&b, "partials %#v\n", p.TailPartials([]*Partial{pt}, now))
		pt = p.NewPartial()
		n := 0
		for i, ev := range evs {
			n += p.HeadInto(ev, now, int64(i), func() *Partial { return pt })
		}
		fmt.Fprintf(&b, "head into %d partials %#v\n", n, p.TailPartials([]*Partial{pt}, now))
	}
	return b.String()
}

// agree checks that the compiled program gives what the interpreted one
// does on the records.
func agree(t *testing.T, query string, recs []string) {
	t.Helper()
	prog := compileQuery(t, query)
	parsers := make([]event.Parser, len(recs))
	evs := make([]*event.Event, len(recs))
	for i, rec := range recs {
		var err error
		if evs[i], err = parsers[i].Parse([]byte(rec)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	now := time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)
	got, want := runAll(prog, evs, now), runAll(interpreted(prog), evs, now)
	if got != want {
		t.Errorf("%s\ncompiled:\n%s\ninterpreted:\n%s", query, got, want)
	}
	if err := partialsAsTail(prog, evs, now); err != nil {
		t.Errorf("%s: %v", query, err)
	}
}

// partialsAsTail returns an error unless aggregating the head rows as
// records arrive (TailPartials, its STATS and WHERE decided per group)
// gives the table the tail gives over all the rows.
func partialsAsTail(p *Program, evs []*event.Event, now time.Time) error {
	if !p.Partials() {
		return nil
	}
	var rows []Row
	pt := p.NewPartial()
	for _, ev := range evs {
		p.Head(ev, now, func(r Row) {
			p.Accumulate(pt, r, int64(len(rows)))
			rows = append(rows, r)
		})
	}
	if tail, parts := fmt.Sprintf("%#v", p.Tail(rows, now)), fmt.Sprintf("%#v", p.TailPartials([]*Partial{pt}, now)); tail != parts {
		return fmt.Errorf("by partials:\n%s\ntail:\n%s", parts, tail)
	}
	return nil
}

var compileRecs = []string{
	`{"eventTime":"2026-11-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0 Python/3.11","userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice","accessKeyId":"AKIAEXAMPLEKEY000001","accountId":"111122223333"},"requestParameters":{"userName":"bob"},"responseElements":{"accessKey":{"accessKeyId":"AKIAEXAMPLEKEY000002","status":"Active","userName":"bob"}},"recipientAccountId":"111122223333","eventType":"AwsApiCall"}`,
	`{"eventTime":"2026-11-01T10:01:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9","userAgent":"Boto3/1.34.0","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/r/s","accessKeyId":"ASIAEXAMPLEKEY000003","accountId":"111122223333"},"requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"},{"instanceId":"i-2"}]},"n":3},"errorCode":"AccessDenied","recipientAccountId":"111122223333","eventType":"AwsApiCall"}`,
	`{"eventTime":"2026-11-01T10:02:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"s3.amazonaws.com","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com"},"requestParameters":{"bucketName":"b","key":"a 1 b"},"recipientAccountId":"111122223333","eventType":"AwsServiceEvent"}`,
}

// The compiled head and aggregation give what eval and applyRow give:
// columns that shadow fields, a column read in the EVAL that sets it,
// GROK and DISSECT columns, null logic, every kind of expression, commands
// after the compiled ones, and STATS over multi-valued BY columns.
func TestCompiledAgrees(t *testing.T) {
	for _, q := range []string{
		`FROM x | EVAL event.action = "x", y = CONCAT(event.action, "!") | WHERE event.action == "x" AND y == "x!"`,
		`FROM x | WHERE event.provider IN ("iam.amazonaws.com", "s3.amazonaws.com", null) OR user.name IS NULL | KEEP event.*, user.name`,
		`FROM x | WHERE NOT (source.ip IS NOT NULL AND event.action LIKE "Desc*") | EVAL z = event.action RLIKE ".*Key" | KEEP z`,
		`FROM x | GROK aws.cloudtrail.response_elements """.*accessKeyId=(?<k>AKIA[A-Z0-9]{16}).*""" | EVAL f = CASE(k IS NOT NULL AND user.name == "alice", 1, 0), g = COALESCE(k, aws.cloudtrail.user_identity.access_key_id) | WHERE g IS NOT NULL | STATS n = COUNT(*) WHERE f == 1, m = COUNT(*), v = VALUES(g) WHERE f == 0 BY cloud.account.id`,
		`FROM x | DISSECT aws.cloudtrail.request_parameters "{%{?k}=%{b}, %{rest}" | EVAL b = TO_UPPER(b), n = LENGTH(rest) + 1 - 2 * 3, q = n / 2, r = n % 2, s = -n | KEEP b, n, q, r, s, rest`,
		`FROM x metadata _id, _index, _version | EVAL t = DATE_TRUNC(10 seconds, @timestamp), d = DATE_DIFF("seconds", @timestamp, NOW()), now = NOW() | KEEP _id, _index, _version, t, d, now`,
		`FROM x | EVAL u = user.name =~ "ALICE", c = user.name::keyword, w = STARTS_WITH(event.action, "Get") | MV_EXPAND related.ip | EVAL e = related.ip | KEEP u, c, w, e`,
		`FROM x | EVAL a = MV_COUNT(aws.cloudtrail.flattened.request_parameters.instancesSet.items.instanceId) | STATS n = COUNT(*), d = COUNT_DISTINCT(event.action), lo = MIN(@timestamp) BY a, event.outcome | WHERE n > 0 | SORT lo`,
		`FROM x | STATS n = COUNT(*) BY related.ip, event.provider`,
		`FROM x | STATS n = COUNT(*), lo = MIN(@timestamp), d = COUNT_DISTINCT(event.action), v = VALUES(source.ip) BY event.provider, user.name | WHERE -n < 0 AND DATE_DIFF("seconds", lo, NOW()) > 0 AND d >= 1 | KEEP v, user.name`,
		// a KEEP of every column STATS reads, right before it: not applied
		`FROM x | EVAL t = DATE_TRUNC(10 seconds, @timestamp) | WHERE source.ip IS NOT NULL | KEEP @timestamp, t, event.action, user.name, source.ip, aws.cloudtrail.error_code, aws.cloudtrail.flattened.request_parameters | STATS d = COUNT_DISTINCT(event.action), v = VALUES(@timestamp), s = VALUES(source.ip), n = VALUES(aws.cloudtrail.error_code), o = VALUES(aws.cloudtrail.flattened.request_parameters) BY t, user.name`,
		`FROM x | KEEP event.action, user.name | STATS n = COUNT(*), u = VALUES(user.name) BY event.action`,
		// filters repeated across aggregations: evaluated once per row
		`FROM x | EVAL f = CASE(user.name == "alice", 1, 0) | STATS a = COUNT(*) WHERE f == 1, b = VALUES(event.action) WHERE f == 1, c = MIN(@timestamp) WHERE f == 0, d = VALUES(user.name) WHERE f == 0, e = COUNT(*), g = COUNT(*) WHERE f == 1 BY event.provider`,
		`FROM x | WHERE aws.cloudtrail.user_identity.type != "AWSService" | EVAL k = aws.cloudtrail.user_identity.access_key_id | DROP k | RENAME event.action AS act | KEEP act`,
		// event fields read unboxed: compared with strings on either side,
		// IN, LIKE, STARTS_WITH, IS NULL, GROK and DISSECT inputs, and
		// STATS over the head row (BY, distinct values, extremes, sums) of
		// string, number, date and multi-valued fields
		`FROM x | WHERE "iam.amazonaws.com" <= event.provider AND event.action != "x" AND requestParameters.n > "2" OR @timestamp > "2026-11-01T10:01:00Z" OR related.ip == "198.51.100.7" | STATS n = COUNT_DISTINCT(event.action), t = TOP(user.name, 2, "asc"), lo = MIN(event.action), hi = MAX(source.ip), s = SUM(requestParameters.n), m = MEDIAN(requestParameters.n), v = VALUES(requestParameters.n), r = VALUES(related.ip), c = COUNT(user.name) BY event.provider, user.name`,
		`FROM x | WHERE event.action IN ("GetObject", @timestamp, 3, null) OR STARTS_WITH(event.action, "Desc") OR ENDS_WITH(requestParameters.key, "b") OR requestParameters.n IN (3, "3") OR user.name IS NULL | EVAL s = STARTS_WITH(requestParameters.n, "3"), l = user.name LIKE "a*", r = requestParameters.key RLIKE "a.*", e = "198.51.100.7" == related.ip, i = related.ip IN ("203.0.113.9"), p = "iam.amazonaws.com" <= event.provider, q = event.action != "GetObject", g = requestParameters.n > "2", d = @timestamp > "2026-11-01T10:01:00Z", n = user.name IS NOT NULL | KEEP s, l, r, e, i, p, q, g, d, n`,
		`FROM x | GROK event.action "%{WORD:w}" | DISSECT user.name "%{a}" | WHERE user.name IS NOT NULL OR w LIKE "Get*" | STATS c = COUNT(*), v = VALUES(a) BY w, related.ip`,
		// GROK and DISSECT of event fields matched when first read: read
		// only on some rows, overwritten before being read, read by the
		// commands that are not compiled, by STATS over the head row
		`FROM x | GROK aws.cloudtrail.response_elements """.*accessKeyId=(?<k>AKIA[A-Z0-9]{16}).*""" | EVAL k2 = CASE(event.action == "CreateAccessKey", k, "none") | KEEP k2`,
		`FROM x | DISSECT aws.cloudtrail.request_parameters "{%{?k}=%{b}, %{rest}" | EVAL b = "over" | KEEP b, rest`,
		`FROM x | GROK user_agent.original """(?<a>[a-z-]+)/(?<b>[0-9.]+) (?<c>\w+)""" | EVAL a = "over" | STATS n = COUNT(*), v = VALUES(a) BY b, c`,
		`FROM x | GROK user_agent.original """(?<a>[a-z-]+)/(?<b>[0-9.]+)""" | EVAL c = b | GROK event.action """(?<b>[A-Z][a-z]+)""" | EVAL a = CONCAT(a, "!") | STATS n = COUNT(*), v = VALUES(a), w = VALUES(c) BY b`,
		`FROM x | GROK user_agent.original """(?<a>[a-z-]+)/""" | MV_EXPAND related.ip | STATS n = COUNT(*) BY a, related.ip`,
		// read by what eval computes (NEG is not compiled)
		`FROM x | GROK user_agent.original """(?<a>[a-z-]+)/(?<b>[0-9]+)""" | EVAL n = -TO_LONG(b), m = -b::long | STATS c = COUNT(*), v = VALUES(n), w = VALUES(m) BY a`,
	} {
		agree(t, q, compileRecs)
	}
	data, err := os.ReadFile(filepath.Join("..", "testdata", "samples", "snapshot-sharing.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	agree(t, seedEBS, strings.Split(strings.TrimSpace(string(data)), "\n"))
	// ECS documents: a KEEP before STATS materializes their fields
	agree(t, `FROM x | KEEP event.action, user.name, source.ip | STATS n = COUNT(*), u = VALUES(user.name), s = VALUES(source.ip) BY event.action`, []string{
		`{"@timestamp":"2026-11-01T10:00:00Z","event":{"action":"GetObject","provider":"s3.amazonaws.com"},"user":{"name":["a","b"]},"source":{"ip":"192.0.2.1"}}`,
		`{"@timestamp":"2026-11-01T10:00:01Z","event":{"action":"GetObject","provider":"s3.amazonaws.com"},"user":{"name":{"x":1}}}`,
	})
}

// BenchmarkHead runs an aggregating query shaped like the corpus's costly
// ones (a broad WHERE, GROK, two EVALs of CASEs, a WHERE, STATS with
// filtered aggregations) on each record, compiled and interpreted; with
// and without its GROK, whose regex costs more than the rest.
func BenchmarkHead(b *testing.B) {
	b.Run("grok", func(b *testing.B) { benchHead(b, headQuery) })
	b.Run("nogrok", func(b *testing.B) {
		benchHead(b, strings.Replace(headQuery, `| GROK aws.cloudtrail.response_elements """.*accessKeyId=(?<k>AKIA[A-Z0-9]{16}).*"""`, `| EVAL k = aws.cloudtrail.user_identity.access_key_id`, 1))
	})
}

const headQuery = `FROM x
| WHERE aws.cloudtrail.user_identity.type == "IAMUser" AND (event.action == "CreateAccessKey" OR aws.cloudtrail.user_identity.access_key_id LIKE "AKIA*")
| GROK aws.cloudtrail.response_elements """.*accessKeyId=(?<k>AKIA[A-Z0-9]{16}).*"""
| EVAL made = CASE(event.action == "CreateAccessKey" AND event.outcome == "success" AND (user.target.name IS NULL OR user.name == user.target.name) AND k IS NOT NULL, 1, 0),
       used = CASE(aws.cloudtrail.user_identity.access_key_id LIKE "AKIA*" AND NOT (event.provider == "iam.amazonaws.com" AND event.action == "CreateAccessKey"), 1, 0)
| EVAL key = CASE(made == 1, k, aws.cloudtrail.user_identity.access_key_id)
| WHERE key IS NOT NULL AND aws.cloudtrail.user_identity.arn IS NOT NULL
| STATS m = COUNT(*) WHERE made == 1, u = COUNT(*) WHERE used == 1, ips = VALUES(source.ip) WHERE used == 1, first = MIN(@timestamp) WHERE made == 1
  BY cloud.account.id, aws.cloudtrail.user_identity.arn, key`

func benchHead(b *testing.B, q string) {
	prog := compileQuery(b, q)
	parsers := make([]event.Parser, len(compileRecs))
	evs := make([]*event.Event, len(compileRecs))
	for i, rec := range compileRecs {
		var err error
		if evs[i], err = parsers[i].Parse([]byte(rec)); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range []struct {
		name string
		prog *Program
	}{{"compiled", prog}, {"interpreted", interpreted(prog)}} {
		b.Run(p.name, func(b *testing.B) {
			pt := p.prog.NewPartial()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				ev := evs[i%len(evs)]
				p.prog.HeadTransient(ev, ev.Time(), func(r Row) { p.prog.Accumulate(pt, r, int64(i)) })
			}
		})
	}
}

// colMatcher's shortcuts agree with path.Match (with "[" literal, or the
// pattern itself).
func TestColMatcher(t *testing.T) {
	cols := []string{"", "a", "ab", "a.b", "a/b", "a*", "Esql.x", "Esql_priv.y", "Esql", "[x]", "a?c", "abc", `a\b`, "*"}
	for _, pat := range []string{"a", "a*", "Esql.*", "Esql*", "*", "a?c", "[x]", "a.*", "*.b", `a\*`, "", `a\`, "a[", "Esql_priv.*"} {
		esc := strings.ReplaceAll(pat, "[", `\[`)
		m := colMatcher(pat)
		for _, c := range cols {
			ok, _ := path.Match(esc, c)
			if want := ok || c == pat; m.match(c) != want {
				t.Errorf("pattern %q on %q: %v, path.Match %v", pat, c, m.match(c), want)
			}
		}
	}
}

// An accumulator's distinct values are those of a naive dedup by key, in
// the order first seen, whether it scans a few strings or keys them in a
// map, added one by one or merged.
func TestAccDistinct(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	strs := func(n int) []Value {
		var out []Value
		for i := range n {
			out = append(out, fmt.Sprintf("v%d", i%(n/2+1)))
		}
		return out
	}
	for _, tt := range []struct {
		name string
		vals []Value
	}{
		{"few strings", []Value{"a", "b", "a", "", "b", ""}},
		{"many strings", strs(40)},
		{"strings then others", append(strs(6), int64(1), "v1", t0, t0.Add(time.Microsecond), int64(1), float64(1), "int641", true, "x")},
		{"others then strings", append([]Value{t0, int64(2), int64(2)}, strs(20)...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var want []Value
			seen := map[string]bool{}
			for _, v := range tt.vals {
				if k := string(appendValueKey(nil, v)); !seen[k] {
					seen[k] = true
					want = append(want, v)
				}
			}
			// one by one, strings unboxed and boxed (that what is kept is
			// a copy of the record's string, TestPartialsMatchRows checks)
			for _, boxed := range []bool{false, true} {
				var a acc
				var buf []byte
				for _, v := range tt.vals {
					it := item{v: v}
					if s, ok := v.(string); ok && !boxed {
						it = item{s: s, str: true}
					}
					buf = a.add(buf, it, "VALUES")
				}
				if got := a.values(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("boxed %v: %q, want %q", boxed, got, want)
				}
				if n := a.result(Agg{Func: "COUNT_DISTINCT"}); n != int64(len(want)) {
					t.Errorf("boxed %v: count distinct %v, want %d", boxed, n, len(want))
				}
			}
			// merged from halves, each scanning or keyed
			for cut := range len(tt.vals) + 1 {
				var x, y, m acc
				var buf []byte
				for _, v := range tt.vals[:cut] {
					buf = x.add(buf, item{v: v}, "VALUES")
				}
				for _, v := range tt.vals[cut:] {
					buf = y.add(buf, item{v: v}, "VALUES")
				}
				buf = m.merge(buf, &x)
				m.merge(buf, &y)
				if got := m.values(); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("merged at %d: %q, want %q", cut, got, want)
				}
			}
		})
	}
}

// KEEP and DROP over a table give what matching every column with
// path.Match and looking names up in a map gives: KEEP's order, each name
// once, and a repeated name (a RENAME onto a column) its last column.
func TestKeepDropColumns(t *testing.T) {
	match := func(pat, c string) bool {
		ok, _ := path.Match(strings.ReplaceAll(pat, "[", `\[`), c)
		return ok || c == pat
	}
	project := func(tb Table, keep []string) string {
		idx := map[string]int{}
		for i, c := range tb.Columns {
			idx[c] = i
		}
		var rows [][]Value
		for _, r := range tb.Rows {
			row := make([]Value, len(keep))
			for i, n := range keep {
				row[i] = r[idx[n]]
			}
			rows = append(rows, row)
		}
		return fmt.Sprint(keep, rows)
	}
	tb := Table{Columns: []string{"Esql.a", "b", "Esql.c", "b", "Esql_priv.d", "e/f"}, Rows: [][]Value{{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12}}}
	for _, pats := range [][]string{{"b"}, {"Esql.*", "b"}, {"b", "Esql.*", "Esql.a"}, {"*"}, {"x"}, {"E*", "e*"}, {"?"}, {"Esql_priv.*", "[b]"}} {
		var keep, kept []string
		for _, p := range pats {
			for _, c := range tb.Columns {
				if match(p, c) && !slices.Contains(keep, c) {
					keep = append(keep, c)
				}
			}
		}
		for _, c := range tb.Columns {
			if !slices.ContainsFunc(pats, func(p string) bool { return match(p, c) }) {
				kept = append(kept, c)
			}
		}
		got := applyTable(Keep{Patterns: pats}, tb, time.Time{})
		if g, w := fmt.Sprint(got.Columns, got.Rows), project(tb, keep); g != w {
			t.Errorf("KEEP %q: %s, want %s", pats, g, w)
		}
		got = applyTable(Drop{Patterns: pats}, tb, time.Time{})
		if g, w := fmt.Sprint(got.Columns, got.Rows), project(tb, kept); g != w {
			t.Errorf("DROP %q: %s, want %s", pats, g, w)
		}
		// no rows: the same columns
		for _, c := range []Command{Keep{Patterns: pats}, Drop{Patterns: pats}} {
			full, empty := applyTable(c, tb, time.Time{}), applyTable(c, Table{Columns: tb.Columns}, time.Time{})
			if !slices.Equal(full.Columns, empty.Columns) || empty.Rows != nil {
				t.Errorf("%#v without rows: %q %v, with rows %q", c, empty.Columns, empty.Rows, full.Columns)
			}
		}
	}
}

// parseMillis gives what time.Parse gives for the millisecond form, and
// leaves everything else (other forms, dates and times out of range) to it.
func TestParseMillis(t *testing.T) {
	for _, s := range []string{
		"2026-11-01T10:00:00.000Z", "2026-11-01T23:59:59.999Z", "0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z",
		"2024-02-29T12:00:00.500Z", "2023-02-29T12:00:00.500Z", "2026-04-31T00:00:00.000Z", "2026-13-01T00:00:00.000Z",
		"2026-00-01T00:00:00.000Z", "2026-11-00T00:00:00.000Z", "2026-11-01T24:00:00.000Z", "2026-11-01T10:60:00.000Z",
		"2026-11-01T10:00:60.000Z", "2026-11-01T10:00:00.00xZ", "2026-11-01T10:00:00Z", "2026-11-01T10:00:00.000+00:00",
		"2026-11-01 10:00:00.000Z", "+026-11-01T10:00:00.000Z", "2026-1a-01T10:00:00.000Z", "",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		got, ok := parseMillis(s)
		if ok && (err != nil || !got.Equal(want) || got.Location() != time.UTC) {
			t.Errorf("%q: %v, time.Parse %v (%v)", s, got, want, err)
		}
		if !ok && err == nil && len(s) == 24 && s[19] == '.' && s[23] == 'Z' {
			t.Errorf("%q: not parsed, time.Parse %v", s, want)
		}
		p1, err1 := parseTime(s)
		if err == nil && (err1 != nil || !p1.Equal(want.UTC())) {
			t.Errorf("parseTime %q: %v %v, want %v", s, p1, err1, want)
		}
	}
}

func FuzzParseMillis(f *testing.F) {
	f.Add("2026-11-01T10:00:00.000Z")
	f.Add("2024-02-30T10:00:00.000Z")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseMillis(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		if ok && (err != nil || got != want.UTC()) {
			t.Errorf("%q: %#v, time.Parse %#v (%v)", s, got, want.UTC(), err)
		}
	})
}

// genRecs are records for TestCompiledAgreesGenerated: a field that is a
// number in one record and a string in another, missing and null fields,
// multi-valued ones, names in different case, more distinct values than an
// accumulator scans (smallSet), times in several minutes, with and without
// milliseconds, user agents the GROK misses.
func genRecs() []string {
	recs := []string{
		`{"eventTime":"2026-11-01T10:00:00.123Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userAgent":"aws-cli/2.15.0 Python/3.11","userIdentity":{"userName":"alice"},"requestParameters":{"n":3,"key":"a 1 b","list":["x","y","x"]},"readOnly":false}`,
		`{"eventTime":"2026-11-01T10:00:30Z","eventSource":"iam.amazonaws.com","eventName":"createaccesskey","userAgent":"Boto3/1.34.0","userIdentity":{},"requestParameters":{"n":"3","key":"a b","list":[]},"errorCode":null}`,
		`{"eventTime":"2026-11-01T10:01:00.000Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"userName":"Alice"},"requestParameters":{"n":2.5,"list":"x"},"readOnly":true}`,
		`{"eventTime":"2026-11-01T10:01:59.999Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"","userIdentity":{"userName":"alice"},"requestParameters":{"n":"x","list":["y",1,null]},"errorCode":"AccessDenied"}`,
		`{"eventTime":"2026-11-01T10:03:00Z","eventSource":"ec2.amazonaws.com","userAgent":"console.amazonaws.com","userIdentity":{"userName":""},"requestParameters":{"n":{"o":1},"key":"p q r"}}`,
	}
	for i := range 12 {
		recs = append(recs, fmt.Sprintf(`{"eventTime":"2026-11-01T10:0%d:%02d.%03dZ","eventSource":"sts.amazonaws.com","eventName":"Action%d","userAgent":"aws-sdk-go/1.%d","userIdentity":{"userName":"u%d"},"requestParameters":{"n":%d,"list":["l%d","l%d"]}}`,
			i%4, i*4, i*7, i, i, i%3, i%5, i, i+1))
	}
	return recs
}

// The compiled head and aggregation (HeadInto's STATS over the head row,
// its unboxed strings, the deferred GROK and DISSECT, the STATS+WHERE
// compiled once) give what the interpreter gives, over every combination
// of a head, a STATS and a tail below.
func TestCompiledAgreesGenerated(t *testing.T) {
	heads, statses, tails := genParts()
	evs := genEvents(t)
	now := time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)
	ran := 0
	headRan, statsRan := make([]int, len(heads)), make([]int, len(statses))
	for hi, h := range heads {
		for si, s := range statses {
			for _, tl := range tails {
				query := "FROM x " + h + " " + s + " " + tl
				pq, err := Parse(query)
				if err != nil { // a column the STATS does not make
					if !strings.Contains(err.Error(), "Unknown column") {
						t.Errorf("parse %q: %v", query, err)
					}
					continue
				}
				prog, err := Compile(pq)
				if err != nil {
					t.Fatalf("compile %q: %v", query, err)
				}
				ran++
				headRan[hi]++
				statsRan[si]++
				if got, want := runAll(prog, evs, now), runAll(interpreted(prog), evs, now); got != want {
					t.Errorf("%s\ncompiled:\n%s\ninterpreted:\n%s", query, got, want)
				}
				if err := partialsAsTail(prog, evs, now); err != nil {
					t.Errorf("%s: %v", query, err)
				}
			}
		}
	}
	// Parse refuses a query reading a column no command makes (a STATS
	// of a and b after a head without them): each part still ran
	if slices.Contains(headRan, 0) || slices.Contains(statsRan, 0) || ran < 150 {
		t.Errorf("ran %d queries: by head %v, by STATS %v", ran, headRan, statsRan)
	}
}

// FuzzCompiledAgrees is TestCompiledAgreesGenerated's property for any
// query, over genRecs.
func FuzzCompiledAgrees(f *testing.F) {
	heads, statses, tails := genParts()
	for i, h := range heads {
		f.Add("FROM x " + h + " " + statses[i%len(statses)] + " " + tails[i%len(tails)])
	}
	evs := genEvents(f)
	now := time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			return
		}
		prog, err := Compile(q)
		if err != nil {
			return
		}
		if got, want := runAll(prog, evs, now), runAll(interpreted(prog), evs, now); got != want {
			t.Errorf("%q:\ncompiled:\n%s\ninterpreted:\n%s", s, got, want)
		}
		if err := partialsAsTail(prog, evs, now); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	})
}

// genEvents parses genRecs.
func genEvents(t testing.TB) []*event.Event {
	recs := genRecs()
	parsers := make([]event.Parser, len(recs))
	evs := make([]*event.Event, len(recs))
	for i, rec := range recs {
		var err error
		if evs[i], err = parsers[i].Parse([]byte(rec)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	return evs
}

// genParts are the heads, STATS and tails TestCompiledAgreesGenerated
// combines.
func genParts() (heads, statses, tails []string) {
	heads = []string{
		``,
		`| WHERE event.action IS NOT NULL`,
		`| WHERE requestParameters.n == "3" OR requestParameters.n IN ("3", 4, null) OR user.name >= "alice"`,
		`| GROK user_agent.original """(?<a>[a-z-]+)/(?<b>[0-9.]+)"""`,
		`| GROK user_agent.original """(?<a>[a-z-]+)/""" | WHERE a IS NULL OR a LIKE "aws*"`,
		`| DISSECT requestParameters.key "%{a} %{b}"`,
		`| GROK user_agent.original """(?<a>[A-Za-z0-9-]+)""" | EVAL a = CASE(event.provider == "s3.amazonaws.com", "over", a)`,
		`| EVAL a = TO_LOWER(event.action), b = DATE_TRUNC(1 minute, @timestamp)`,
		`| EVAL b = DATE_TRUNC(1 minute, @timestamp) | WHERE STARTS_WITH(event.action, "Action") OR ENDS_WITH(user.name, "ce")`,
		`| MV_EXPAND requestParameters.list | EVAL a = requestParameters.list`,
		`| KEEP event.action, event.provider, user.name, requestParameters.n, requestParameters.list, @timestamp, event.outcome`,
		`| EVAL a = event.action, b = requestParameters.n | KEEP a, b`,
		// conditions: chains of AND and OR over nulls, TRUE IN, CASE
		`| WHERE true IN (STARTS_WITH(event.action, "Get"), user.name == "u1", requestParameters.list == "x", null) OR user.name IS NULL AND requestParameters.n > 2 AND NOT (event.provider == "ec2.amazonaws.com")`,
		`| EVAL a = CASE(requestParameters.n > 2, 1, 0) | WHERE 2 >= requestParameters.n OR a == 1 AND requestParameters.n < 4 OR 1 < a`,
		`| EVAL a = CASE(user.name IS NULL AND event.action == "GetObject", 1, requestParameters.n > 2 OR user.name == "u1" OR requestParameters.list == "y", 2, 0), b = CASE(requestParameters.list == "x", "one", true IN (requestParameters.n > 1, null), "two") | WHERE a >= 0 AND (b IS NULL OR user.name != "x" AND requestParameters.n < 9) OR false`,
	}
	statses = []string{
		`| STATS c = COUNT(*), v = VALUES(event.action), d = COUNT_DISTINCT(requestParameters.n) BY event.provider`,
		`| STATS c = COUNT(*), lo = MIN(requestParameters.n), hi = MAX(requestParameters.n), s = SUM(requestParameters.n), m = MEDIAN(requestParameters.n), av = AVG(requestParameters.n) BY user.name`,
		`| STATS c = COUNT(user.name), t = TOP(event.action, 3, "desc"), v = VALUES(requestParameters.list), d = COUNT_DISTINCT(a) BY requestParameters.list`,
		`| STATS c = COUNT(*) WHERE event.action LIKE "*Key", v = VALUES(user.name) WHERE user.name IS NOT NULL, w = VALUES(a) BY DATE_TRUNC(1 minute, @timestamp)`,
		`| STATS v = VALUES(@timestamp), d = COUNT_DISTINCT(@timestamp), lo = MIN(@timestamp), c = COUNT(*) BY event.outcome, requestParameters.n`,
		`| STATS c = COUNT(*), v = VALUES(a), w = VALUES(b), x = MIN(a) BY a, b`,
		`| STATS c = COUNT(*), v = VALUES(user.name)`,
		`| STATS c = COUNT(*) WHERE user.name == "u1" AND requestParameters.n > 1 OR event.action IS NULL, v = VALUES(event.action) WHERE true IN (user.name == "u1", null, requestParameters.list == "y"), w = COUNT(*) WHERE user.name == "u1" AND requestParameters.n > 1 OR event.action IS NULL, x = MIN(@timestamp) WHERE NOT (requestParameters.n > 1) BY event.provider`,
	}
	tails = []string{
		``,
		`| WHERE c > 1`,
		`| WHERE c >= 1 AND event.provider IS NOT NULL | KEEP c, event.provider`,
		`| WHERE user.name IS NULL OR a IS NOT NULL`,
		`| WHERE missing IS NULL AND c > 0 | SORT c DESC | LIMIT 2`,
		`| EVAL z = c * 2 | WHERE z > 2`,
	}
	return heads, statses, tails
}

// One Program aggregates from several goroutines at once (detect's
// workers, each its own events and parts): its pooled rows, deferred GROK
// and DISSECT columns and compiled STATS+WHERE share nothing a worker
// writes, and the merged parts give what one worker gives.
func TestHeadIntoConcurrent(t *testing.T) {
	heads, statses, _ := genParts()
	now := time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)
	for _, q := range []string{
		"FROM x " + heads[3] + " " + statses[5] + " | WHERE c > 0",
		"FROM x " + heads[6] + " " + statses[3] + " | WHERE c >= 0",
		"FROM x " + heads[2] + " " + statses[1],
	} {
		pq, err := Parse(q)
		if err != nil {
			t.Fatalf("parse %q: %v", q, err)
		}
		prog, err := Compile(pq)
		if err != nil || prog.headAcc == nil {
			t.Fatalf("compile %q: %v (STATS over the head row: %v)", q, err, prog != nil && prog.headAcc != nil)
		}
		run := func(evs []*event.Event) *Partial {
			pt := prog.NewPartial()
			for i, ev := range evs {
				prog.HeadInto(ev, now, int64(i), func() *Partial { return pt })
			}
			return pt
		}
		want := fmt.Sprintf("%#v", prog.TailPartials([]*Partial{run(genEvents(t))}, now))
		prog.statsWhereOnce, prog.statsWhere = sync.Once{}, nil // compiled by the workers at once
		const workers = 4
		got := make([]string, workers)
		var wg sync.WaitGroup
		for w := range workers {
			evs := genEvents(t)
			wg.Go(func() {
				for range 50 {
					got[w] = fmt.Sprintf("%#v", prog.TailPartials([]*Partial{run(evs)}, now))
				}
			})
		}
		wg.Wait()
		for w := range workers {
			if got[w] != want {
				t.Errorf("%s: worker %d\n%s\nwant\n%s", q, w, got[w], want)
			}
		}
	}
}

// With no rows (no events, or a WHERE dropping them all) or one, the
// compiled STATS and the aggregation by parts still give what the
// interpreter and the tail give (a STATS without BY: one row of zeros and
// nulls).
func TestCompiledAgreesFewRows(t *testing.T) {
	heads, statses, tails := genParts()
	now := time.Date(2026, 11, 1, 11, 0, 0, 0, time.UTC)
	all := genEvents(t)
	for _, evs := range [][]*event.Event{nil, all[:1], all[4:5]} {
		for _, h := range append(heads, "| WHERE event.action == \"none\"") {
			for _, s := range statses {
				for _, tl := range tails {
					q := "FROM x " + h + " " + s + " " + tl
					pq, err := Parse(q)
					if err != nil {
						if !strings.Contains(err.Error(), "Unknown column") {
							t.Error(err)
						}
						continue
					}
					prog, err := Compile(pq)
					if err != nil {
						t.Fatalf("compile %q: %v", q, err)
					}
					if got, want := runAll(prog, evs, now), runAll(interpreted(prog), evs, now); got != want {
						t.Errorf("%s\n%s\n%s", q, got, want)
					}
					if err := partialsAsTail(prog, evs, now); err != nil {
						t.Errorf("%s (%d events): %v", q, len(evs), err)
					}
				}
			}
		}
	}
}
