package engine

import "github.com/trailhound/trailhound/event"

// A test costlier than comparing two strings (a search for substrings, a
// regular expression, a Sigma modifier) keeps, per Scratch, its result for
// the last value it decided: consecutive CloudTrail records mostly share
// their actor and tool (in the corpus's real logs 88% of records have the
// user agent of the record before, 94% its identity's ARN), so rules that
// test these on every record mostly compare the value with the last one.

// maxMemo is the longest value a memo keeps (longer ones are decided each
// time: a memo holds a copy).
const maxMemo = 512

// memoKey identifies one memoized matcher: a Scratch's slot holds the
// result of the matcher whose key it names (slots of matchers compiled
// apart, an exception's and a sequence step's, may coincide).
type memoKey struct{ slot int }

// memo is a Scratch's slot: the value last decided and the result.
type memo struct {
	key *memoKey
	val []byte
	t   event.ValueType
	res bool
}

// newMemo numbers a memo slot.
func (k *compiler) newMemo() *memoKey {
	k.memos++
	return &memoKey{slot: k.memos - 1}
}

// slot returns s's memo for key, empty when it held another matcher's.
func (s *Scratch) slot(key *memoKey) *memo {
	if key.slot >= len(s.memos) {
		s.memos = append(s.memos, make([]memo, key.slot+1-len(s.memos))...)
	}
	m := &s.memos[key.slot]
	if m.key != key {
		m.key, m.val = key, m.val[:0]
		m.t, m.res = event.Null, false
	}
	return m
}

// hit reports whether m holds the result for v (res).
func (m *memo) hit(v event.Value) (res, ok bool) {
	if m.t == v.T && m.t != event.Null && string(m.val) == v.S {
		return m.res, true
	}
	return false, false
}

// keep makes res the result for v.
func (m *memo) keep(v event.Value, res bool) {
	if len(v.S) > maxMemo {
		return
	}
	m.val, m.t, m.res = append(m.val[:0], v.S...), v.T, res
}

// anyValueMemo is anyValue for a costly ok: a field of one value is decided
// once for a run of events holding it.
func (k *compiler) anyValueMemo(get event.View, ok func(string) bool) matcher {
	key := k.newMemo()
	return func(e *event.Event, s *Scratch) bool {
		vs := get(e)
		if len(vs) != 1 {
			for _, v := range vs {
				if v.T != event.Null && ok(v.S) {
					return true
				}
			}
			return false
		}
		v := vs[0]
		if v.T == event.Null {
			return false
		}
		m := s.slot(key)
		if res, hit := m.hit(v); hit {
			return res
		}
		res := ok(v.S)
		m.keep(v, res)
		return res
	}
}

// predMemo is a predicate that reads nothing but the values of one field
// (rule.Pred's Only), decided once for a run of events whose field holds
// the same one value.
func (k *compiler) predMemo(field string, match func(*event.Event) bool) matcher {
	key := k.newMemo()
	get := event.ResolveView(field)
	return func(e *event.Event, s *Scratch) bool {
		vs := get(e)
		if len(vs) != 1 || vs[0].T == event.Null {
			return match(e)
		}
		m := s.slot(key)
		if res, hit := m.hit(vs[0]); hit {
			return res
		}
		res := match(e)
		m.keep(vs[0], res)
		return res
	}
}
