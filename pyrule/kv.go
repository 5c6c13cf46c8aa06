package pyrule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/trailhound/trailhound/state"
)

// kvStore is the key-value cache behind panther_detection_helpers.caching:
// string sets, counters and dictionaries with an expiry, shared by every
// rule and worker of a runtime (one rule writes what another reads), in
// memory for the life of the runtime; with a state file, saved with the
// rules' state at each checkpoint and when a hunt ends, and read by the
// next hunt (LoadCache, SaveCache).
//
// As with Panther's DynamoDB table, reads return an expired entry unless
// the rule forces the TTL check (expired entries are deleted lazily); time
// is event time: "now" is the time of the event being evaluated.
type kvStore struct {
	mu      sync.Mutex
	m       map[string]*kvEntry
	latest  float64 // the latest event time seen (epoch seconds)
	puts    int
	maxSize int
	changes int // writes so far
	saved   int // changes when last saved (or loaded)
}

type kvEntry struct {
	val any // []string (set), int64 (counter), map[string]any (dictionary)
	exp float64
}

func newKV() *kvStore { return &kvStore{m: map[string]*kvEntry{}, maxSize: 1 << 20} }

type kvReq struct {
	Op  string          `json:"op"`
	Key string          `json:"k"`
	Val json.RawMessage `json:"v"`
	Exp *float64        `json:"exp"`
	Now float64         `json:"now"`
}

// serve answers one cache request of a worker.
func (s *kvStore) serve(b []byte) []byte {
	var q kvReq
	if err := json.Unmarshal(b, &q); err != nil {
		return errAnswer(fmt.Errorf("bad cache request: %w", err))
	}
	v, err := s.do(q)
	if err != nil {
		return errAnswer(err)
	}
	out, err := json.Marshal(map[string]any{"v": v})
	if err != nil {
		return errAnswer(err)
	}
	return out
}

func errAnswer(err error) []byte {
	b, _ := json.Marshal(map[string]string{"err": err.Error()})
	return b
}

func (s *kvStore) do(q kvReq) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Now > s.latest {
		s.latest = q.Now
	}
	e := s.m[q.Key]
	if q.Op != "get" && q.Op != "get_ttl" {
		s.changes++
	}
	switch q.Op {
	case "get", "get_ttl":
		if e == nil || (q.Op == "get_ttl" && e.exp > 0 && e.exp < q.Now) {
			return nil, nil
		}
		return e.val, nil
	case "put":
		var v any
		if err := json.Unmarshal(q.Val, &v); err != nil {
			return nil, fmt.Errorf("cache put %s: %w", q.Key, err)
		}
		if list, ok := v.([]any); ok {
			v = stringSet(list)
		}
		e = &kvEntry{val: v}
		if q.Exp != nil {
			e.exp = *q.Exp
		}
		s.set(q.Key, e)
		return nil, nil
	case "incr":
		var by int64
		if err := json.Unmarshal(q.Val, &by); err != nil {
			return nil, fmt.Errorf("cache increment %s: %w", q.Key, err)
		}
		if e == nil {
			e = &kvEntry{val: int64(0)}
			s.set(q.Key, e)
		}
		n, _ := e.val.(int64)
		e.val = n + by
		return e.val, nil
	case "sadd", "srem":
		var vals []string
		if err := json.Unmarshal(q.Val, &vals); err != nil {
			return nil, fmt.Errorf("cache string set %s: %w", q.Key, err)
		}
		if e == nil {
			e = &kvEntry{val: []string{}}
			s.set(q.Key, e)
		}
		cur, _ := e.val.([]string)
		set := map[string]bool{}
		for _, x := range cur {
			set[x] = true
		}
		for _, x := range vals {
			if q.Op == "sadd" {
				set[x] = true
			} else {
				delete(set, x)
			}
		}
		out := make([]string, 0, len(set))
		for x := range set {
			out = append(out, x)
		}
		sort.Strings(out)
		e.val = out
		return len(out), nil
	case "exp":
		if e != nil && q.Exp != nil {
			e.exp = *q.Exp
		}
		return nil, nil
	case "del":
		delete(s.m, q.Key)
		return nil, nil
	}
	return nil, fmt.Errorf("unknown cache operation %q", q.Op)
}

// set stores an entry; now and then entries expired a day before the
// latest event time are dropped, and the store is kept under its size.
func (s *kvStore) set(k string, e *kvEntry) {
	s.m[k] = e
	s.puts++
	if s.puts%4096 == 0 || len(s.m) > s.maxSize {
		for k, e := range s.m {
			if e.exp > 0 && e.exp < s.latest-86400 {
				delete(s.m, k)
			}
		}
		for k := range s.m { // still too large: forget arbitrary entries
			if len(s.m) <= s.maxSize {
				break
			}
			delete(s.m, k)
		}
	}
}

func stringSet(list []any) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	sort.Strings(out)
	return out
}

// CacheStateID names the key-value cache in a state store (as a rule whose
// pending entries are the cache's keys).
const CacheStateID = "panther:kv-cache"

// LoadCache reads the key-value cache a former hunt saved in st.
func (rt *Runtime) LoadCache(st state.Store) error {
	if rt == nil {
		return nil
	}
	r, err := st.Load(CacheStateID)
	if err != nil {
		return fmt.Errorf("the Panther KV cache: %w", err)
	}
	s := rt.kv
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range r.Pending {
		d := json.NewDecoder(bytes.NewReader(p.Data))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return fmt.Errorf("the Panther KV cache: entry %q: %w", k, err)
		}
		e := &kvEntry{val: fromJSON(v), exp: float64(p.Start) / 1e9}
		s.m[k] = e
	}
	if w := float64(r.Watermark) / 1e9; w > s.latest {
		s.latest = w
	}
	return nil
}

// SaveCache writes the key-value cache into st, less the entries expired
// a day before the latest event time, for the next hunt; it writes nothing
// when the cache did not change since it was last saved or loaded. A hunt
// calls it at each commit of its state (hunt.Options.Commit): the cache
// then holds the writes of every event read so far.
func (rt *Runtime) SaveCache(st state.Store) error {
	if rt == nil {
		return nil
	}
	s := rt.kv
	s.mu.Lock()
	if s.changes == s.saved {
		s.mu.Unlock()
		return nil
	}
	changes := s.changes
	r := state.NewRule()
	r.Watermark = int64(s.latest * 1e9)
	for k, e := range s.m {
		if e.exp > 0 && e.exp < s.latest-86400 {
			continue
		}
		b, err := json.Marshal(e.val)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("the Panther KV cache: entry %q: %w", k, err)
		}
		r.Pending[k] = state.Pending{Start: int64(e.exp * 1e9), Data: b}
	}
	s.mu.Unlock()
	if err := st.Save(map[string]*state.Rule{CacheStateID: r}); err != nil {
		return fmt.Errorf("the Panther KV cache: %w", err)
	}
	s.mu.Lock()
	s.saved = changes
	s.mu.Unlock()
	return nil
}

// fromJSON turns a decoded value back into the cache's types: string sets,
// integer counters, dictionaries.
func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		return stringSet(x)
	case map[string]any:
		for k, e := range x {
			if n, ok := e.(json.Number); ok {
				x[k] = fromJSON(n)
			}
		}
		return x
	}
	return v
}
