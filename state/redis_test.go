package state_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/trailhound/trailhound/state"
	"github.com/trailhound/trailhound/state/redistest"
)

const h = int64(time.Hour)

// openRedis opens a store on the server; it is closed when the test ends.
func openRedis(t *testing.T, url string) *state.Redis {
	t.Helper()
	st, err := state.OpenRedis(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// rule builds a rule's state from entries: terms, groups and alerted map to
// times.
func rule(wm int64, terms, groups, alerted map[string]int64, supp map[string]state.Window, pend map[string]state.Pending) *state.Rule {
	r := state.NewRule()
	r.Watermark = wm
	maps.Copy(r.Terms, terms)
	maps.Copy(r.Groups, groups)
	maps.Copy(r.Alerted, alerted)
	maps.Copy(r.Suppress, supp)
	maps.Copy(r.Pending, pend)
	return r
}

func load(t *testing.T, st state.Store, id string) *state.Rule {
	t.Helper()
	r, err := st.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func save(t *testing.T, st state.Store, id string, r *state.Rule) {
	t.Helper()
	if err := st.Save(map[string]*state.Rule{id: r}); err != nil {
		t.Fatal(err)
	}
}

// equal compares what a store gave back (cutoffs are not stored).
func equal(a, b *state.Rule) bool {
	a2, b2 := *a, *b
	a2.Expired, b2.Expired = state.Cutoffs{}, state.Cutoffs{}
	return reflect.DeepEqual(&a2, &b2)
}

// namedStore opens a store for a test.
type namedStore struct {
	name string
	open func(t *testing.T) state.Store
}

// everyStore is each kind of store: in memory, a bbolt file, and Redis at
// the URL redisURL gives.
func everyStore(redisURL func(t *testing.T) string) []namedStore {
	return []namedStore{
		{"memory", func(*testing.T) state.Store { return state.NewMemory() }},
		{"bolt", func(t *testing.T) state.Store {
			st, err := state.OpenBolt(filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
		{"redis", func(t *testing.T) state.Store { return openRedis(t, redisURL(t)) }},
	}
}

// The contract every store keeps: what is saved loads back, entries
// Expire dropped are gone after the next save, rules save together, Stats
// counts them.
func TestStoreContract(t *testing.T) {
	for _, s := range everyStore(func(t *testing.T) string { return redistest.Start(t).URL(0) }) {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			r := rule(10*h,
				map[string]int64{"arn:aws:iam::1:user/a": 10 * h, "arn:aws:iam::1:user/old": 1 * h, "with space and \x00 byte": 9 * h},
				map[string]int64{"acct": 9 * h},
				map[string]int64{"a1": 9 * h},
				map[string]state.Window{"k": {AlertID: "a1", Start: 9 * h, End: 11 * h}, "gone": {AlertID: "a0", Start: 1 * h, End: 2 * h}},
				map[string]state.Pending{"join\x1d0": {Start: 9 * h, Data: []byte(`[{"t": 1} ]` + "\x00\xff")}})
			before := rule(r.Watermark, r.Terms, r.Groups, r.Alerted, r.Suppress, r.Pending)
			save(t, st, "rule-1", before)
			if got := load(t, st, "rule-1"); !equal(got, r) {
				t.Errorf("loaded %+v\nsaved %+v", got, r)
			}
			r.Expire(state.Retention{Terms: 5 * time.Hour, Groups: time.Hour, Alerted: time.Hour, Pending: time.Hour})
			if _, ok := r.Terms["arn:aws:iam::1:user/old"]; ok {
				t.Fatal("Expire kept a term older than its window")
			}
			other := rule(5*h, map[string]int64{"t": 5 * h}, nil, nil, nil, nil)
			if err := st.Save(map[string]*state.Rule{"rule-1": r, "rule-2": other}); err != nil {
				t.Fatal(err)
			}
			if got := load(t, st, "rule-1"); !equal(got, r) || len(got.Terms) != 2 || len(got.Suppress) != 1 {
				t.Errorf("after expiry loaded %+v\nsaved %+v", got, r)
			}
			if got := load(t, st, "rule-2"); !equal(got, other) {
				t.Errorf("rule-2 loaded %+v, saved %+v", got, other)
			}
			stats, err := st.Stats()
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]state.RuleStats{}
			for _, s := range stats {
				byID[s.RuleID] = s
			}
			if s := byID["rule-1"]; len(stats) != 2 || s.Terms != 2 || s.Groups != 1 || s.Alerted != 1 || s.Suppress != 1 || s.Pending != 1 ||
				!s.Watermark.Equal(time.Unix(0, 10*h)) {
				t.Errorf("stats %+v", stats)
			}
			if empty := load(t, st, "unknown"); len(empty.Terms)+len(empty.Pending)+len(empty.Suppress) != 0 || empty.Watermark != 0 {
				t.Errorf("unknown rule: %+v", empty)
			}
		})
	}
}

// Two processes save the same rule, each with what it saw: the entries
// merge field by field.
func TestRedisMerge(t *testing.T) {
	srv := redistest.Start(t)
	w := func(id string, s, e int64) state.Window { return state.Window{AlertID: id, Start: s, End: e} }
	p := func(s int64, d string) state.Pending { return state.Pending{Start: s, Data: []byte(d)} }
	tests := []struct {
		name string
		a, b *state.Rule
		want *state.Rule
	}{
		{"latest time wins, union",
			rule(10*h, map[string]int64{"x": 10 * h, "y": 5 * h}, map[string]int64{"g": 3 * h}, map[string]int64{"id1": 2 * h}, nil, nil),
			rule(7*h, map[string]int64{"x": 7 * h, "z": 3 * h}, map[string]int64{"g": 4 * h}, map[string]int64{"id2": 6 * h}, nil, nil),
			rule(10*h, map[string]int64{"x": 10 * h, "y": 5 * h, "z": 3 * h}, map[string]int64{"g": 4 * h}, map[string]int64{"id1": 2 * h, "id2": 6 * h}, nil, nil)},
		{"the suppression window that ends last",
			rule(1*h, nil, nil, nil, map[string]state.Window{"k": w("b1", 2*h, 12*h), "j": w("a2", 1*h, 3*h)}, nil),
			rule(2*h, nil, nil, nil, map[string]state.Window{"k": w("a1", 1*h, 10*h), "j": w("b2", 2*h, 4*h)}, nil),
			rule(2*h, nil, nil, nil, map[string]state.Window{"k": w("b1", 2*h, 12*h), "j": w("b2", 2*h, 4*h)}, nil)},
		{"pending: the last save",
			rule(1*h, nil, nil, nil, nil, map[string]state.Pending{"s\x1d0": p(5*h, "a"), "only-a": p(1*h, "a")}),
			rule(1*h, nil, nil, nil, nil, map[string]state.Pending{"s\x1d0": p(2*h, "b")}),
			rule(1*h, nil, nil, nil, nil, map[string]state.Pending{"s\x1d0": p(2*h, "b"), "only-a": p(1*h, "a")})},
	}
	for db, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := openRedis(t, srv.URL(db)), openRedis(t, srv.URL(db))
			load(t, a, "r")
			load(t, b, "r")
			save(t, a, "r", tc.a)
			save(t, b, "r", tc.b)
			if got := load(t, openRedis(t, srv.URL(db)), "r"); !equal(got, tc.want) {
				t.Errorf("merged %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Entries expire from Redis with their window whoever wrote them, but an
// entry another process wrote since is not taken for the expired one.
func TestRedisExpiry(t *testing.T) {
	srv := redistest.Start(t)
	ret := state.Retention{Terms: 5 * time.Hour, Groups: time.Hour, Alerted: time.Hour, Pending: time.Hour}
	t.Run("what another process wrote expires by time", func(t *testing.T) {
		a, b := openRedis(t, srv.URL(1)), openRedis(t, srv.URL(1))
		save(t, a, "r", rule(2*h, map[string]int64{"old": 1 * h, "new": 9 * h}, map[string]int64{"g": 1 * h},
			map[string]int64{"id": 1 * h}, map[string]state.Window{"k": {AlertID: "id", Start: 1 * h, End: 2 * h}},
			map[string]state.Pending{"p": {Start: 1 * h, Data: []byte("x")}}))
		rb := load(t, b, "r")
		clear(rb.Terms) // b never saw them
		rb.Watermark = 10 * h
		rb.Expire(ret)
		save(t, b, "r", rb)
		got := load(t, openRedis(t, srv.URL(1)), "r")
		want := rule(10*h, map[string]int64{"new": 9 * h}, nil, nil, nil, nil)
		if !equal(got, want) {
			t.Errorf("after expiry %+v, want %+v", got, want)
		}
		stats, err := a.Stats()
		if err != nil || len(stats) != 1 || stats[0].Terms != 1 || stats[0].Groups+stats[0].Alerted+stats[0].Suppress+stats[0].Pending != 0 {
			t.Errorf("stats %+v, %v", stats, err)
		}
	})
	t.Run("a newer value survives", func(t *testing.T) {
		a, b := openRedis(t, srv.URL(2)), openRedis(t, srv.URL(2))
		save(t, a, "r", rule(1*h, map[string]int64{"x": 1 * h}, nil, nil, nil, map[string]state.Pending{"p": {Start: 1 * h, Data: []byte("a")}}))
		rb := load(t, b, "r") // x at 1h, p from a
		save(t, a, "r", rule(9*h, map[string]int64{"x": 9 * h}, nil, nil, nil, map[string]state.Pending{"p": {Start: 9 * h, Data: []byte("a2")}}))
		rb.Watermark = 10 * h
		rb.Expire(ret) // drops x (1h) and p
		if len(rb.Terms)+len(rb.Pending) != 0 {
			t.Fatalf("Expire kept %+v", rb)
		}
		save(t, b, "r", rb)
		got := load(t, openRedis(t, srv.URL(2)), "r")
		if got.Terms["x"] != 9*h || string(got.Pending["p"].Data) != "a2" {
			t.Errorf("a's later entries went with b's expired ones: %+v", got)
		}
	})
	t.Run("a removed partial sequence goes", func(t *testing.T) {
		a := openRedis(t, srv.URL(3))
		r := load(t, a, "r")
		r.Pending["p"] = state.Pending{Start: 5 * h, Data: []byte("a")}
		r.Watermark = 5 * h
		save(t, a, "r", r)
		delete(r.Pending, "p") // the sequence completed
		save(t, a, "r", r)
		if got := load(t, openRedis(t, srv.URL(3)), "r"); len(got.Pending) != 0 {
			t.Errorf("pending %+v after it was removed", got.Pending)
		}
	})
}

// A process learns what the others saved (Changes), not what it saved
// itself; when the stream was trimmed past it, it reads its rules again.
func TestRedisChanges(t *testing.T) {
	srv := redistest.Start(t)
	a, b := openRedis(t, srv.URL(0)), openRedis(t, srv.URL(0))
	load(t, a, "r")
	load(t, b, "r")
	save(t, a, "r", rule(5*h, map[string]int64{"x": 5 * h}, nil, map[string]int64{"id": 5 * h},
		map[string]state.Window{"k": {AlertID: "id", Start: 5 * h, End: 6 * h}}, nil))
	save(t, a, "other", rule(5*h, map[string]int64{"y": 5 * h}, nil, nil, nil, nil)) // b has not loaded it
	save(t, b, "r", rule(4*h, map[string]int64{"z": 4 * h}, nil, nil, nil, nil))
	got, err := b.Changes()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*state.Rule{"r": rule(0, map[string]int64{"x": 5 * h}, nil, map[string]int64{"id": 5 * h},
		map[string]state.Window{"k": {AlertID: "id", Start: 5 * h, End: 6 * h}}, nil)}
	if len(got) != 1 || !equal(got["r"], want["r"]) {
		t.Errorf("b learned %+v, want %+v", got["r"], want["r"])
	}
	if again, err := b.Changes(); err != nil || len(again) != 0 {
		t.Errorf("second call: %+v, %v", again, err)
	}
	if mine, err := a.Changes(); err != nil || len(mine["r"].Terms) != 1 || mine["r"].Terms["z"] != 4*h {
		t.Errorf("a learned %+v, %v; want b's z only", mine, err)
	}

	// the stream trimmed past what b read: b reads its rules whole
	save(t, a, "r", rule(6*h, map[string]int64{"w": 6 * h}, nil, nil, nil, nil))
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	if err := c.XTrimMaxLen(context.Background(), "trailhound:changes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	got, err = b.Changes()
	if err != nil {
		t.Fatal(err)
	}
	if r := got["r"]; r == nil || r.Terms["w"] != 6*h || r.Terms["x"] != 5*h || r.Terms["z"] != 4*h {
		t.Errorf("after trimming b learned %+v", got)
	}
}

// Bad URLs, a server that is not there or goes away, a save that fails:
// errors naming the server (without its password) and the rule, no panic;
// a save retried after a failure completes (saves are idempotent).
func TestRedisErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"redis://127.0.0.1:notaport/0", "redis://127.0.0.1:6379/notadb", "redis://127.0.0.1:6379/0?bogus=1", "redis://user:hunter2@127.0.0.1:1/0"} {
		_, err := state.OpenRedis(ctx, u)
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || !strings.HasPrefix(err.Error(), "state") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if state.IsRedisURL("state.db") || !state.IsRedisURL("rediss://h:6380/0") {
		t.Error("IsRedisURL")
	}

	srv := redistest.Start(t)
	st := openRedis(t, srv.URL(0)+"?max_retries=-1")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	// a key of the wrong type makes rule b's part of the save fail
	if err := c.Set(ctx, "trailhound:{b}:terms", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	ra := rule(1*h, map[string]int64{"x": 1 * h}, nil, nil, nil, nil)
	rb := rule(1*h, map[string]int64{"y": 1 * h}, nil, nil, nil, nil)
	err := st.Save(map[string]*state.Rule{"a": ra, "b": rb})
	if err == nil || !strings.Contains(err.Error(), "saving rules a, b") || !strings.Contains(err.Error(), srv.Addr) {
		t.Errorf("save over a wrong key type: %v", err)
	}
	if _, err := st.Load("b"); err == nil || !strings.Contains(err.Error(), "rule b") {
		t.Errorf("load of a wrong key type: %v", err)
	}
	c.Del(ctx, "trailhound:{b}:terms")
	if err := c.ScriptFlush(ctx).Err(); err != nil { // as after a server restart
		t.Fatal(err)
	}
	if err := st.Save(map[string]*state.Rule{"a": ra, "b": rb}); err != nil {
		t.Fatal(err)
	}
	if got := load(t, openRedis(t, srv.URL(0)), "b"); !equal(got, rb) {
		t.Errorf("after the retry b is %+v", got)
	}

	srv.Stop()
	if err := st.Save(map[string]*state.Rule{"a": ra}); err == nil || !strings.Contains(err.Error(), "saving rules a") {
		t.Errorf("save to a stopped server: %v", err)
	}
	if _, err := st.Load("a"); err == nil || !strings.Contains(err.Error(), "loading rule a") {
		t.Errorf("load from a stopped server: %v", err)
	}
	if _, err := st.Changes(); err == nil {
		t.Error("changes from a stopped server: no error")
	}
}

// A server that restarts without its data (FLUSHALL here) gets back, at
// the next save, the saved rules whole (not only what changed) and the
// other rules the process knows as they were.
func TestRedisServerLostData(t *testing.T) {
	srv := redistest.Start(t)
	st := openRedis(t, srv.URL(0))
	r := rule(2*h, map[string]int64{"x": 1 * h, "y": 2 * h}, nil, map[string]int64{"id": 2 * h}, nil, nil)
	quiet := rule(1*h, map[string]int64{"q": 1 * h}, nil, nil, nil, map[string]state.Pending{"p": {Start: h, Data: []byte("d")}})
	if err := st.Save(map[string]*state.Rule{"r": r, "quiet": quiet}); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	r.Terms["z"] = 3 * h
	r.Watermark = 3 * h
	save(t, st, "r", r)
	fresh := openRedis(t, srv.URL(0))
	if got := load(t, fresh, "r"); !equal(got, r) {
		t.Errorf("after the server lost its data: %+v, want %+v", got, r)
	}
	if got := load(t, fresh, "quiet"); !equal(got, quiet) {
		t.Errorf("the rule not saved since: %+v, want %+v", got, quiet)
	}
}

// A server that lost its data is noticed at the next save whoever set the
// epoch key again first: the process itself, another one started since,
// or nobody; state stats (read only) sets nothing.
func TestRedisLostDataNoticed(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		after func(t *testing.T, url string) // what happens after the loss, before the save
	}{
		{"nobody", func(*testing.T, string) {}},
		{"another process started", func(t *testing.T, url string) { openRedis(t, url) }},
		{"state stats", func(t *testing.T, url string) {
			st, err := state.OpenRedisReadOnly(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Stats(); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := redistest.Start(t)
			st := openRedis(t, srv.URL(0))
			r := rule(2*h, map[string]int64{"x": 1 * h}, nil, nil, nil, nil)
			quiet := rule(1*h, map[string]int64{"q": 1 * h}, nil, nil, nil, nil)
			if err := st.Save(map[string]*state.Rule{"r": r, "quiet": quiet}); err != nil {
				t.Fatal(err)
			}
			cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
			defer cl.Close()
			if err := cl.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			c.after(t, srv.URL(0))
			r.Terms["y"] = 2 * h
			save(t, st, "r", r)
			fresh := openRedis(t, srv.URL(0))
			if got := load(t, fresh, "r"); !equal(got, r) {
				t.Errorf("r: %+v, want %+v", got, r)
			}
			if got := load(t, fresh, "quiet"); !equal(got, quiet) {
				t.Errorf("quiet: %+v, want %+v", got, quiet)
			}
		})
	}
}

// state stats writes nothing to the server, and a read-only store does not
// save.
func TestRedisReadOnly(t *testing.T) {
	srv := redistest.Start(t)
	st, err := state.OpenRedisReadOnly(context.Background(), srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rows, err := st.Stats(); err != nil || len(rows) != 0 {
		t.Errorf("stats of an empty server: %v, %v", rows, err)
	}
	cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer cl.Close()
	if n, err := cl.DBSize(context.Background()).Result(); err != nil || n != 0 {
		t.Errorf("the server holds %d keys (%v) after a read-only open", n, err)
	}
	if err := st.Save(map[string]*state.Rule{"r": state.NewRule()}); err == nil || !strings.Contains(err.Error(), "read only") {
		t.Errorf("save on a read-only store: %v", err)
	}
}

// A server that lost its data and whose new change stream was trimmed
// before another process read it: that process reads its rules whole
// rather than missing what the stream no longer holds.
func TestRedisChangesAfterLoss(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		before int // saves b reads before the loss
	}{
		{"b read little", 1},
		{"b read more than the new stream holds", 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := redistest.Start(t)
			a, b := openRedis(t, srv.URL(0)), openRedis(t, srv.URL(0))
			load(t, a, "r")
			load(t, b, "r")
			for i := range c.before {
				save(t, a, "r", rule(h, map[string]int64{"old" + strconv.Itoa(i): h}, nil, nil, nil, nil))
			}
			if _, err := b.Changes(); err != nil {
				t.Fatal(err)
			}
			cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
			defer cl.Close()
			if err := cl.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			save(t, a, "r", rule(2*h, map[string]int64{"new": 2 * h}, nil, nil, nil, nil))
			save(t, a, "r", rule(2*h, map[string]int64{"new2": 2 * h}, nil, nil, nil, nil))
			if err := cl.XTrimMaxLen(ctx, "trailhound:changes", 0).Err(); err != nil {
				t.Fatal(err)
			}
			got, err := b.Changes()
			if err != nil {
				t.Fatal(err)
			}
			if r := got["r"]; r == nil || r.Terms["new"] != 2*h || r.Terms["new2"] != 2*h {
				t.Errorf("b learned %+v", got["r"])
			}
		})
	}
}

// A server that may evict keys when full is warned about at open: evicted
// state is forgotten without a word.
func TestRedisEvictionWarning(t *testing.T) {
	srv := redistest.Start(t)
	cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer cl.Close()
	ctx := context.Background()
	for _, c := range []struct {
		maxmemory, policy string
		warn              bool
	}{
		{"0", "allkeys-lru", false},
		{"100mb", "noeviction", false},
		{"100mb", "volatile-lru", false},
		{"100mb", "allkeys-lru", true},
		{"100mb", "allkeys-random", true},
	} {
		t.Run(c.maxmemory+" "+c.policy, func(t *testing.T) {
			if err := cl.ConfigSet(ctx, "maxmemory", c.maxmemory).Err(); err != nil {
				t.Fatal(err)
			}
			if err := cl.ConfigSet(ctx, "maxmemory-policy", c.policy).Err(); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			old := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(&log, nil)))
			defer slog.SetDefault(old)
			openRedis(t, srv.URL(0))
			if warned := strings.Contains(log.String(), "evict"); warned != c.warn {
				t.Errorf("warned %v, want %v: %s", warned, c.warn, log.String())
			}
		})
	}
}

// A rule without a watermark key (a missing GET in the pipeline) does not
// hide another rule's error: Stats fails rather than count it 0.
func TestRedisStatsError(t *testing.T) {
	srv := redistest.Start(t)
	cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer cl.Close()
	ctx := context.Background()
	if err := cl.SAdd(ctx, "trailhound:rules", "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Set(ctx, "trailhound:{b}:terms", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	st := openRedis(t, srv.URL(0))
	if rows, err := st.Stats(); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("stats over a key of the wrong type: %+v, %v", rows, err)
	}
}

// evalCalls is how many save script calls the server has run.
func evalCalls(t *testing.T, cl *redis.Client) int {
	t.Helper()
	info, err := cl.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_evalsha:calls="); ok {
			n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			return n
		}
	}
	return 0
}

// A save of many entries goes in script calls of at most 20,000 entries
// (one call of a million kept the server busy past go-redis's read timeout
// and Redis's busy-script threshold), and so does the expiry of many; what
// is saved is the same, and another process learns all of it.
func TestRedisBigSave(t *testing.T) {
	srv := redistest.Start(t)
	cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer cl.Close()
	for i, c := range []struct {
		terms, alerted int
		calls          int // script calls of the save
	}{
		{1, 0, 1},
		{20000, 0, 1},
		{20001, 0, 2},
		{30000, 15000, 3},
	} {
		t.Run(fmt.Sprintf("%d terms %d alert ids", c.terms, c.alerted), func(t *testing.T) {
			a, b := openRedis(t, srv.URL(i)), openRedis(t, srv.URL(i))
			load(t, b, "r")
			r := state.NewRule()
			r.Watermark = 10 * h
			for k := range c.terms {
				r.Terms["term "+strconv.Itoa(k)] = 9 * h
			}
			for k := range c.alerted {
				r.Alerted["id "+strconv.Itoa(k)] = 9 * h
			}
			before := evalCalls(t, cl)
			save(t, a, "r", r)
			if n := evalCalls(t, cl) - before; n != c.calls {
				t.Errorf("%d script calls, want %d", n, c.calls)
			}
			if got := load(t, openRedis(t, srv.URL(i)), "r"); !equal(got, r) {
				t.Errorf("loaded %d terms %d ids, saved %d %d", len(got.Terms), len(got.Alerted), len(r.Terms), len(r.Alerted))
			}
			learned, err := b.Changes()
			if err != nil {
				t.Fatal(err)
			}
			if l := learned["r"]; l == nil || len(l.Terms) != c.terms || len(l.Alerted) != c.alerted {
				t.Errorf("b learned %d terms", len(learned["r"].Terms))
			}
			// all of it expires, in as many calls as it takes, at one save
			r.Watermark = 100 * h
			r.Expire(state.Retention{Terms: time.Hour, Alerted: time.Hour})
			save(t, a, "r", r)
			if got := load(t, openRedis(t, srv.URL(i)), "r"); len(got.Terms)+len(got.Alerted) != 0 {
				t.Errorf("after expiry %d terms %d ids are left", len(got.Terms), len(got.Alerted))
			}
		})
	}
}

// A server at its memory limit (noeviction) refuses the save whole; the
// error says why, not only that the transaction was discarded.
func TestRedisOutOfMemory(t *testing.T) {
	srv := redistest.Start(t)
	st := openRedis(t, srv.URL(0))
	cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer cl.Close()
	ctx := context.Background()
	info, err := cl.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	var used int
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			used, _ = strconv.Atoi(v)
		}
	}
	for _, c := range []struct {
		name      string
		maxmemory int
	}{
		{"full before the save", 1},
		{"full as the save is queued", used + 300<<10}, // the first commands are queued, later ones refused: EXECABORT
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := cl.ConfigSet(ctx, "maxmemory", strconv.Itoa(c.maxmemory)).Err(); err != nil {
				t.Fatal(err)
			}
			defer cl.ConfigSet(ctx, "maxmemory", "0")
			rules := map[string]*state.Rule{}
			for i := range 10 {
				r := state.NewRule()
				for k := range 1500 {
					r.Terms["a term long enough to fill the query buffer "+strconv.Itoa(k)] = h
				}
				rules[string(rune('a'+i))] = r
			}
			err := st.Save(rules)
			if err == nil || !strings.Contains(err.Error(), "OOM") || !strings.Contains(err.Error(), "saving rules a, b, c, d, e, and 5 more") {
				t.Errorf("save to a full server: %v", err)
			}
		})
	}
}

// rediss:// to a server without TLS: the handshake never completes; the
// error says what that likely means rather than only "context deadline
// exceeded".
func TestRedisTLSToPlainServer(t *testing.T) {
	srv := redistest.Start(t)
	_, err := state.OpenRedis(context.Background(), "rediss://"+srv.Addr+"/0?dial_timeout=200ms&max_retries=-1")
	if err == nil || !strings.Contains(err.Error(), "no TLS handshake") || !strings.Contains(err.Error(), "rediss://"+srv.Addr) {
		t.Errorf("rediss:// to a plain server: %v", err)
	}
}

// Times at the edges of what event times can be (years 1678 and 2262, the
// int64 nanosecond range; event times outside it are refused when read):
// Redis compares them as decimal strings, signs and lengths included.
func TestRedisEdgeTimes(t *testing.T) {
	srv := redistest.Start(t)
	const lo, hi = math.MinInt64 + 1, math.MaxInt64
	for i, c := range []struct {
		name        string
		first, then int64 // two processes' sightings of one term
		want        int64
	}{
		{"lowest then highest", lo, hi, hi},
		{"highest then lowest", hi, lo, hi},
		{"negative then shorter negative", -1000, -999, -999},
		{"shorter negative then negative", -999, -1000, -999},
		{"negative then zero", -1, 0, 0},
		{"9 then 10", 9, 10, 10},
		{"10 then 9", 10, 9, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := openRedis(t, srv.URL(i)), openRedis(t, srv.URL(i))
			save(t, a, "r", rule(c.first, map[string]int64{"x": c.first}, nil, nil,
				map[string]state.Window{"k": {AlertID: "a", Start: c.first, End: c.first}}, nil))
			save(t, b, "r", rule(c.then, map[string]int64{"x": c.then}, nil, nil,
				map[string]state.Window{"k": {AlertID: "b", Start: c.then, End: c.then}}, nil))
			got := load(t, openRedis(t, srv.URL(i)), "r")
			if got.Terms["x"] != c.want || got.Watermark != c.want || got.Suppress["k"].End != c.want {
				t.Errorf("term %d, watermark %d, window %+v; want %d", got.Terms["x"], got.Watermark, got.Suppress["k"], c.want)
			}
			// an expiry back to the lowest time keeps everything
			r := load(t, b, "r")
			r.Expire(state.Retention{Terms: time.Duration(math.MaxInt64)})
			save(t, b, "r", r)
			if got := load(t, openRedis(t, srv.URL(i)), "r"); got.Terms["x"] != c.want {
				t.Errorf("after an expiry from the lowest time: %+v", got.Terms)
			}
		})
	}
}

// A server that requires a password (one with the characters a URL must
// encode): without it or with a wrong one the error names the server and
// what Redis said, never the password; with it (percent-encoded) the store
// works.
func TestRedisAuth(t *testing.T) {
	const pw = "s3cr/t@#:?pw"
	srv := redistest.StartWithPassword(t, pw)
	for _, c := range []struct {
		name, url, want string
	}{
		{"no password", "redis://" + srv.Addr + "/0", "NOAUTH"},
		{"a wrong one", "redis://:wrong-" + url.PathEscape(pw) + "@" + srv.Addr + "/0", "WRONGPASS"},
		{"a wrong user", "redis://nobody:" + url.QueryEscape(pw) + "@" + srv.Addr + "/0", "WRONGPASS"},
		{"the right one", srv.URL(0), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := state.OpenRedis(context.Background(), c.url)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				save(t, st, "r", rule(h, map[string]int64{"x": h}, nil, nil, nil, nil))
				if s := st.String(); strings.Contains(s, "s3cr") || !strings.Contains(s, ":xxxxx@") {
					t.Errorf("the store names itself %q", s)
				}
				return
			}
			if err == nil {
				st.Close()
				t.Fatal("no error")
			}
			if msg := err.Error(); !strings.Contains(msg, c.want) || !strings.Contains(msg, srv.Addr) || strings.Contains(msg, "s3cr") {
				t.Errorf("error %q: want %s, the server, not the password", msg, c.want)
			}
		})
	}
	if r := state.Redact(srv.URL(0)); strings.Contains(r, "s3cr") || strings.Contains(r, url.QueryEscape(pw)[:6]) {
		t.Errorf("Redact: %q", r)
	}
}

// An entry trailhound did not write (another program on the same keys):
// loading the rule fails, naming the key and field, as a Redis entry (not
// a "state file").
func TestRedisMalformedEntry(t *testing.T) {
	srv := redistest.Start(t)
	cl := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer cl.Close()
	ctx := context.Background()
	for _, c := range []struct {
		key, field, value, want string
	}{
		{"trailhound:{r}:terms", "t", "soon", `trailhound:{r}:terms field "t" holds "soon"`},
		{"trailhound:{r}:suppress", "k", "5 x", `trailhound:{r}:suppress field "k" holds "5 x"`},
		{"trailhound:{r}:pending", "p", "nospace", `trailhound:{r}:pending field "p" holds "nospace"`},
		{"trailhound:{r}:wm", "", "yesterday", `trailhound:{r}:wm holds "yesterday"`},
	} {
		t.Run(c.key, func(t *testing.T) {
			var err error
			if c.field == "" {
				err = cl.Set(ctx, c.key, c.value, 0).Err()
			} else {
				err = cl.HSet(ctx, c.key, c.field, c.value).Err()
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Del(ctx, c.key)
			_, err = openRedis(t, srv.URL(0)).Load("r")
			if err == nil || !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "state file") {
				t.Errorf("load: %v", err)
			}
		})
	}
}

// A threshold run's markers among the alert ids (threshold-run:END:GROUP,
// the group's values joined by \x1f and holding any bytes, ':' among them)
// are saved, loaded, merged and passed to other processes unchanged, as
// the alert ids are, in every store.
func TestThresholdRunMarks(t *testing.T) {
	marks := map[string]int64{
		"threshold-run:36000000000000:arn:aws:iam::1:user/a\x1f10.0.0.1": 9 * h,
		"threshold-run:36000000000000:a:b\x1f\x1f:\x00\xff\xfe":          9 * h,
		"threshold-run:-5:": 8 * h,
		"0123abcd":          9 * h,
	}
	srv := redistest.Start(t)
	stores := everyStore(func(*testing.T) string { return srv.URL(0) })
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			st := s.open(t)
			save(t, st, "thr", rule(10*h, nil, nil, marks, nil, nil))
			if got := load(t, st, "thr"); !maps.Equal(got.Alerted, marks) {
				t.Errorf("loaded %v, want %v", got.Alerted, marks)
			}
			// state stats: one alert id, three run marks
			stats, err := st.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if len(stats) != 1 || stats[0].Alerted != 1 || stats[0].RunMarks != 3 {
				t.Errorf("stats %+v, want 1 alert id and 3 run marks", stats)
			}
		})
	}
	a, b := openRedis(t, srv.URL(1)), openRedis(t, srv.URL(1))
	load(t, a, "thr")
	load(t, b, "thr")
	save(t, a, "thr", rule(10*h, nil, nil, marks, nil, nil))
	got, err := b.Changes()
	if err != nil {
		t.Fatal(err)
	}
	if got["thr"] == nil || !maps.Equal(got["thr"].Alerted, marks) {
		t.Fatalf("b learned %+v, want the marks %v", got["thr"], marks)
	}
	mine := rule(10*h, nil, nil, map[string]int64{"threshold-run:36000000000000:a:b\x1f\x1f:\x00\xff\xfe": 7 * h}, nil, nil)
	mine.Merge(got["thr"])
	if !maps.Equal(mine.Alerted, marks) {
		t.Errorf("merged %v, want %v", mine.Alerted, marks)
	}
}
