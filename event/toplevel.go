package event

import (
	"github.com/trailhound/trailhound/record"
	"github.com/valyala/fastjson"
)

// topLevel is a record's top-level object read member by member: the
// scanner found its keys while validating it (record.Record.Keys), and a
// member's value is parsed the first time it is read. Most rules read a
// few members of most records (the engine's candidates keep the others
// off them), so most of a record's bytes (requestParameters,
// responseElements, resources) are never parsed.
type topLevel struct {
	data []byte
	keys []record.Key
	vals []*fastjson.Value // by key: the parsed value, once done
	done []bool
	ps   []*fastjson.Parser // one per member parsed in this record, reused
	used int
	full fastjson.Parser // for the whole record, when it is needed (Event.root)

	// table hashes the keys of a record of at most hashedKeys keys by
	// their Sig: index+1 of the key at its place (0: empty), probed
	// linearly; hashed says it is in use.
	table  [2 * hashedKeys]uint8
	hashed bool
}

// hashedKeys is the most keys a record's table holds; records with more
// (none that CloudTrail writes) are searched key by key.
const hashedKeys = 64

// slot is the first place of the table a key with signature sig takes.
func slot(sig uint64) uint64 { return sig * 0x9E3779B97F4A7C15 >> 57 }

func (t *topLevel) reset(data []byte, keys []record.Key) {
	t.data, t.keys, t.used = data, keys, 0
	if cap(t.vals) < len(keys) {
		t.vals, t.done = make([]*fastjson.Value, len(keys)), make([]bool, len(keys))
	}
	t.vals, t.done = t.vals[:len(keys)], t.done[:len(keys)]
	clear(t.vals)
	clear(t.done)
	t.hashed = len(keys) <= hashedKeys
	if t.hashed {
		clear(t.table[:])
		for i, k := range keys {
			h := slot(k.Sig)
			for t.table[h] != 0 {
				h = (h + 1) % uint64(len(t.table))
			}
			t.table[h] = uint8(i + 1)
		}
	}
}

// index returns the index of key among the keys (-1: absent). A record's
// keys are unique (the scanner resolved duplicates), as fastjson's
// Object.Get finds the first.
func (t *topLevel) index(key string) int {
	n := uint32(len(key))
	if t.hashed {
		sig := record.KeySig(key)
		for h := slot(sig); ; h = (h + 1) % uint64(len(t.table)) {
			e := int(t.table[h])
			if e == 0 {
				return -1
			}
			if k := t.keys[e-1]; k.Sig == sig && k.N == n && string(t.data[k.Off:k.Off+k.N]) == key {
				return e - 1
			}
		}
	}
	for i, k := range t.keys {
		// most keys differ in length or first byte: no slicing for them
		if k.N == n && (n == 0 || t.data[k.Off] == key[0]) && string(t.data[k.Off:k.Off+k.N]) == key {
			return i
		}
	}
	return -1
}

// span returns the number of bytes from the member key's key to the next
// key or the record's end, more than its value takes (-1: the record is
// not read member by member, or has no such member).
func (t *topLevel) span(key string) int {
	if t == nil {
		return -1
	}
	i := t.index(key)
	switch {
	case i < 0:
		return -1
	case i+1 < len(t.keys):
		return int(t.keys[i+1].Off - t.keys[i].Off)
	}
	return len(t.data) - int(t.keys[i].Off)
}

// get returns the value of the member key (nil: absent).
func (t *topLevel) get(key string) *fastjson.Value {
	i := t.index(key)
	if i < 0 {
		return nil
	}
	if !t.done[i] {
		t.done[i] = true
		v := t.parse(record.KeyValue(t.data, t.keys, i))
		if v == nil {
			v = t.fullMember(key)
		}
		t.vals[i] = v
	}
	return t.vals[i]
}

// parse parses b, part of the record, with a parser of its own (nil: not
// JSON, which a part of a valid record no deeper than fastjson's limit,
// as ParseRecord checked, is not).
func (t *topLevel) parse(b []byte) *fastjson.Value {
	if t.used == len(t.ps) {
		t.ps = append(t.ps, new(fastjson.Parser))
	}
	p := t.ps[t.used]
	t.used++
	v, err := p.ParseBytes(b)
	if err != nil {
		return nil
	}
	return v
}

// fullMember is the member read from the whole record: where get's parse
// of the value alone failed, which valid JSON does not.
func (t *topLevel) fullMember(key string) *fastjson.Value {
	return t.parse(t.data).Get(key) // a parser of its own: root's may hold the record already
}

// root returns the record's top-level value, parsing the whole record the
// first time when its members are read one by one: for what reads the
// record as a whole (Source, the full ECS view, entity mapping).
func (e *Event) root() *fastjson.Value {
	if e.src == nil && e.top != nil {
		v, err := e.top.full.ParseBytes(e.top.data)
		if err != nil {
			// not from the scanner's valid JSON: an empty object stands in
			v = e.arena.NewObject()
		}
		e.src = v
	}
	return e.src
}

// Member returns the value of the record's top-level member key (nil: it
// has none, or the record is not a JSON object), parsing only that member
// when the record is read member by member (ParseRecord).
func (e *Event) Member(key string) *fastjson.Value {
	if e.top != nil {
		return e.top.get(key)
	}
	if e.src == nil || e.src.Type() != fastjson.TypeObject {
		return nil
	}
	return e.src.Get(key)
}

// get returns the value at keys under the record's root (nil: absent).
func (e *Event) get(keys ...string) *fastjson.Value {
	if e.top == nil {
		return e.src.Get(keys...)
	}
	if len(keys) == 0 {
		return e.root()
	}
	return e.top.get(keys[0]).Get(keys[1:]...)
}

// walkSrc is walk from the record's root.
func (e *Event) walkSrc(p *path, dst []Value) []Value {
	if e.top == nil {
		return walk(e.src, p, 0, dst)
	}
	if len(p.segs) == 0 {
		return leaf(e.root(), dst)
	}
	for n, key := range p.joins[0] { // as walk does for an object
		if c := e.top.get(key); c != nil {
			dst = walk(c, p, n+1, dst)
		}
	}
	return dst
}
