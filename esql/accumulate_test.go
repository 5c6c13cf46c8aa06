package esql

import (
	"fmt"
	"testing"
	"time"
)

// Records whose BY values and aggregated values repeat, consecutively and
// not (groups revisited out of order), for the aggregation's fast paths:
// the last row's group found without a key, a value equal to the last one
// a distinct set keyed found without a key.
var repeatRecs = func() []string {
	var recs []string
	for i, u := range []string{"alice", "alice", "bob", "alice", "carol", "bob", "bob", "alice", "", "carol", "alice", "alice"} {
		user := fmt.Sprintf(`"userName":%q`, u)
		if u == "" {
			user = ""
		}
		sec := []int{0, 0, 1, 1, 1, 4, 4, 11, 12, 12, 30, 30}[i]
		recs = append(recs, fmt.Sprintf(`{"eventTime":"2026-11-01T10:00:%02d.%03dZ","eventSource":"iam.amazonaws.com","eventName":"%s","sourceIPAddress":"%s","userIdentity":{%s},"requestParameters":{"n":%d}}`,
			sec, []int{0, 0, 500, 500, 0, 0, 1, 999, 999, 0, 0, 0}[i], []string{"ListUsers", "GetUser"}[i%2], []string{"198.51.100.7", "198.51.100.8"}[i/5%2], user, i%3))
	}
	return recs
}()

// The aggregation's fast paths give what the interpreter gives, over
// repeated BY values, repeated distinct values (strings, times, numbers)
// past the few an accumulator scans, and filters shared by several
// aggregations.
func TestAccumulateRepeats(t *testing.T) {
	for _, q := range []string{
		`FROM x | STATS c = COUNT(*), v = VALUES(event.action), t = VALUES(@timestamp), d = COUNT_DISTINCT(@timestamp), s = VALUES(source.ip) BY user.name`,
		`FROM x | EVAL w = DATE_TRUNC(10 seconds, @timestamp) | STATS c = COUNT(*), t = VALUES(@timestamp), n = VALUES(requestParameters.n), lo = MIN(@timestamp) BY w, user.name`,
		`FROM x | EVAL f = CASE(event.action == "GetUser", 1, 0), g = CASE(user.name IS NULL, null, 1) | STATS a = COUNT(*) WHERE f == 1, b = VALUES(user.name) WHERE g == 1, c = COUNT(*) WHERE f == 1, d = MIN(@timestamp) WHERE g == 1, e = VALUES(@timestamp) WHERE f == 1, h = COUNT(*) BY source.ip`,
		`FROM x | STATS c = COUNT(*), v = VALUES(requestParameters.n), t = VALUES(@timestamp) BY requestParameters.n, DATE_TRUNC(1 second, @timestamp)`,
	} {
		agree(t, q, repeatRecs)
	}
	// more distinct values than an accumulator scans: keyed, the last one
	// repeated
	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprintf(`{"eventTime":"2026-11-01T10:%02d:00Z","eventSource":"s3.amazonaws.com","eventName":"E%d","userIdentity":{"userName":"u%d"}}`, i/2, i/2, i%2))
	}
	agree(t, `FROM x | STATS v = VALUES(event.action), d = COUNT_DISTINCT(@timestamp), t = VALUES(@timestamp) BY user.name`, many)
}

// fuzzValues are the values FuzzAccumulate draws its columns from: equal
// and different strings, times of one millisecond and not, nulls, numbers.
var fuzzValues = func() []Value {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	return []Value{"a", "b", nil, t0, t0.Add(500 * time.Microsecond), t0.Add(time.Millisecond), int64(1), "", t0.In(time.FixedZone("x", 3600)), float64(1), true, "a\x1fsb"}
}()

// An aggregation gives the same table with its fast paths as without them
// (every row's group found by its key, every distinct value by a scan or
// its key), whatever the rows.
func FuzzAccumulate(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0x13, 0x13, 0x24, 0x13, 0, 0xff})
	f.Add([]byte("aaaabbbbaaaaccccaaaa"))
	st := compileQuery(f, `FROM x | STATS c = COUNT(*), v = VALUES(source.ip), d = COUNT_DISTINCT(source.ip), lo = MIN(source.ip) WHERE event.action == "a", n = COUNT(source.ip) WHERE event.action == "a", w = VALUES(user.name) WHERE event.action == "a" BY user.name, event.action`).tail[0].(Stats)
	idx := map[string]int{"user.name": 0, "event.action": 1, "source.ip": 2}
	x := compileStats(st, columnsAt(idx))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, slow := newPartial(), newPartial()
		n := len(fuzzValues)
		for i := 0; i+2 < len(data); i += 3 {
			row := []Value{fuzzValues[int(data[i])%n], fuzzValues[int(data[i+1])%n], fuzzValues[int(data[i+2])%n]}
			accumulate(st, x, fast, &tableRow{idx: idx, row: row}, int64(i))
			slow.last = nil
			for _, g := range slow.groups {
				for k := range g.accs {
					g.accs[k].last = 0
				}
			}
			accumulate(st, x, slow, &tableRow{idx: idx, row: row}, int64(i))
		}
		got, want := fmt.Sprintf("%#v", finish(st, fast)), fmt.Sprintf("%#v", finish(st, slow))
		if got != want {
			t.Errorf("%q:\nfast paths %s\nwithout %s", data, got, want)
		}
	})
}

// sameKey and sameValue are sufficient: when they say equal, the keys
// are.
func TestSameKey(t *testing.T) {
	for _, a := range fuzzValues {
		for _, b := range fuzzValues {
			for _, it := range []item{{v: a}, {s: fmt.Sprint(a), str: true}} {
				if _, ok := a.(string); !ok && it.str {
					continue
				}
				if it.sameKey(b) && string(it.appendKey(nil)) != string(appendKey(nil, b)) {
					t.Errorf("sameKey(%#v, %#v), keys %q and %q", it, b, it.appendKey(nil), appendKey(nil, b))
				}
				jt := item{v: b}
				if s, ok := b.(string); ok {
					jt = item{s: s, str: true}
				}
				if it.sameValue(jt) && string(it.appendValueKey(nil)) != string(jt.appendValueKey(nil)) {
					t.Errorf("sameValue(%#v, %#v), keys %q and %q", it, jt, it.appendValueKey(nil), jt.appendValueKey(nil))
				}
			}
		}
	}
}
