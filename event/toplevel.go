package event

import (
	"bytes"

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
	members
	nested []record.Key // the keys of members that are objects, as kids give them
	kids   []record.Kid
	ps     []*fastjson.Parser // one per member parsed in this record, reused
	used   int
	full   fastjson.Parser // for the whole record, when it is needed (Event.root)

	// table hashes the keys of a record of at most hashedKeys keys by
	// their Sig: index+1 of the key at its place (0: empty), probed
	// linearly; hashed says it is in use.
	table  [2 * hashedKeys]uint8
	hashed bool

	// lastObj is the member rawAt last read a key of, lastObjKey its key:
	// the user getters read userIdentity's type, invokedBy, userName ...
	// in turn.
	lastObjKey string
	lastObj    *object

	// objs are, by key, the members read key by key in turn (object):
	// objState 0 not tried, 1 objs holds it, 2 read whole instead.
	objs     []*object
	objState []uint8
	pool     []*object // reused across records
	pooled   int       // the first of pool not in use
}

// object is a member that is an object, read key by key as topLevel reads
// the record: a rule that reads userIdentity.type or one parameter of
// requestParameters parses that value, not the whole member.
type object struct {
	members     // data: the record up to the member's end (record.MemberData)
	member  int // its key's index in the record's keys
}

// members are an object's keys, at their offsets in data, and their values,
// each parsed the first time it is read.
type members struct {
	data []byte
	keys []record.Key
	vals []*fastjson.Value // by key: the parsed value, once done
	done []bool
}

// reset makes m the members keys of data, none parsed. Only done is
// cleared: a value is read only once done says it was parsed for this
// record, and the values left from earlier records point into the
// parsers the topLevel keeps and reuses anyway.
func (m *members) reset(data []byte, keys []record.Key) {
	m.data, m.keys = data, keys
	if cap(m.vals) < len(keys) {
		m.vals, m.done = make([]*fastjson.Value, len(keys)), make([]bool, len(keys))
	}
	m.vals, m.done = m.vals[:len(keys)], m.done[:len(keys)]
	clear(m.done)
}

// value returns the value of key j, parsed with one of t's parsers the
// first time. Where that parse fails, which a part of valid JSON does not,
// the value is read from the whole object, parsed with a parser of its own
// (root's may hold the record already): the record, or its member number
// member (-1: the record's own keys).
func (m *members) value(t *topLevel, j, member int) *fastjson.Value {
	if !m.done[j] {
		m.parse(t, j, member)
	}
	return m.vals[j]
}

// parse is value's first read of key j.
func (m *members) parse(t *topLevel, j, member int) {
	m.done[j] = true
	if m.vals[j] = t.parse(record.KeyValue(m.data, m.keys, j)); m.vals[j] == nil {
		obj := t.data
		if member >= 0 {
			obj = record.KeyValue(t.data, t.keys, member)
		}
		k := m.keys[j]
		m.vals[j] = t.parse(obj).Get(b2s(m.data[k.Off : k.Off+k.N]))
	}
}

// hashedKeys is the most keys a record's table holds; records with more
// (none that CloudTrail writes) are searched key by key.
const hashedKeys = 64

// slot is the first place of the table a key with signature sig takes.
func slot(sig uint64) uint64 { return sig * 0x9E3779B97F4A7C15 >> 57 }

func (t *topLevel) reset(data []byte, keys, nested []record.Key, kids []record.Kid) {
	t.members.reset(data, keys)
	t.nested, t.kids, t.used = nested, kids, 0
	if cap(t.objs) < len(keys) {
		t.objs, t.objState = make([]*object, len(keys)), make([]uint8, len(keys))
	}
	t.objs, t.objState = t.objs[:len(keys)], t.objState[:len(keys)]
	clear(t.objState)
	t.pooled = 0
	t.lastObj = nil
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
			if k := t.keys[e-1]; k.Sig == sig && k.Is(t.data, key) {
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
	return t.value(t, i, -1)
}

// object returns member i read key by key: nil when it is not an object
// whose keys the scanner gave (record.Record.Nested), or was parsed whole
// already (its value is then read instead).
func (t *topLevel) object(i int) *object {
	switch t.objState[i] {
	case 1:
		return t.objs[i]
	case 2:
		return nil
	}
	t.objState[i] = 2
	if t.done[i] || i >= len(t.kids) || t.kids[i].From == 0 {
		return nil
	}
	if t.pooled == len(t.pool) {
		t.pool = append(t.pool, new(object))
	}
	o := t.pool[t.pooled]
	t.pooled++
	kid := t.kids[i]
	o.member = i
	o.reset(record.MemberData(t.data, t.keys, i), t.nested[kid.From-1:kid.From-1+kid.N])
	t.objs[i], t.objState[i] = o, 1
	return o
}

// objGet returns the value of o's member key (nil: absent), parsing it the
// first time.
func (t *topLevel) objGet(o *object, key string) *fastjson.Value {
	if j := o.find(key); j >= 0 {
		return o.value(t, j, o.member)
	}
	return nil
}

// find returns the index of o's key key (-1: absent). Keys are compared
// by length first: most of an object's keys differ in length from the one
// wanted, and comparing lengths costs less than a key's signature.
func (o *object) find(key string) int {
	for j, k := range o.keys {
		if int(k.N) == len(key) && k.Is(o.data, key) {
			return j
		}
	}
	return -1
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
	if len(keys) > 1 {
		if i := e.top.index(keys[0]); i >= 0 {
			if o := e.top.object(i); o != nil {
				return e.top.objGet(o, keys[1]).Get(keys[2:]...)
			}
		}
	}
	return e.top.get(keys[0]).Get(keys[1:]...)
}

// rawAt returns the bytes of the value at keys (one key, or two) as the
// record holds them, found by the scanner's keys without parsing anything
// (nil: the record has no such value). ok is false when the keys do not
// tell (the record is not read member by member, a longer path, a member
// that is not an object of known keys): the caller parses (get).
func (e *Event) rawAt(keys []string) (raw []byte, ok bool) {
	t := e.top
	if t == nil || len(keys) == 0 || len(keys) > 2 {
		return nil, false
	}
	var o *object
	if len(keys) == 2 && t.lastObj != nil && t.lastObjKey == keys[0] {
		o = t.lastObj
	} else {
		i := t.index(keys[0])
		switch {
		case i < 0:
			return nil, true
		case len(keys) == 1:
			return record.KeyValue(t.data, t.keys, i), true
		}
		if o = t.object(i); o == nil {
			return nil, false
		}
		t.lastObjKey, t.lastObj = keys[0], o
	}
	j := o.find(keys[1])
	if j < 0 {
		return nil, true
	}
	return record.KeyValue(o.data, o.keys, j), true
}

// stringAt returns the string at keys, as get(keys...).GetStringBytes()
// does (isStr false: absent, or not a string), parsing it only when it has
// escapes or rawAt cannot find it.
func (e *Event) stringAt(keys ...string) (s string, isStr bool) {
	if raw, ok := e.rawAt(keys); ok {
		if s, ok := plainString(raw); ok {
			return s, true
		}
		if len(raw) == 0 || raw[0] != '"' {
			return "", false
		}
	}
	v := e.get(keys...)
	if v == nil || v.Type() != fastjson.TypeString {
		return "", false
	}
	return b2s(v.GetStringBytes()), true
}

// getString is b2s(get(keys...).GetStringBytes()): the string at keys, ""
// when it is absent or not a string.
func (e *Event) getString(keys ...string) string {
	s, _ := e.stringAt(keys...)
	return s
}

// scalarState is what scalarAt found.
type scalarState uint8

const (
	scalarAbsent scalarState = iota // present(get(keys...)) is nil
	scalarFound                     // a scalar, its leaf given
	scalarParse                     // not known without parsing: use get
)

// scalarAt returns the leaf of present(get(keys...)) when that is a scalar
// scalarLeaf reads without parsing, or says that it is absent (null and
// the strings drop-empty removes included); scalarParse leaves it to the
// caller.
func (e *Event) scalarAt(keys ...string) (Value, scalarState) {
	raw, ok := e.rawAt(keys)
	switch {
	case !ok:
		return Value{}, scalarParse
	case raw == nil:
		return Value{}, scalarAbsent
	}
	var buf [1]Value
	out, ok := scalarLeaf(raw, buf[:0])
	if !ok {
		return Value{}, scalarParse
	}
	if v := out[0]; v.T != Null && (v.T != String || !droppedString(v.S)) {
		return v, scalarFound
	}
	return Value{}, scalarAbsent
}

// isPresent is present(get(keys...)) != nil.
func (e *Event) isPresent(keys ...string) bool {
	switch _, st := e.scalarAt(keys...); st {
	case scalarAbsent:
		return false
	case scalarFound:
		return true
	}
	return present(e.get(keys...)) != nil
}

// walkSrc is walk from the record's root.
func (e *Event) walkSrc(p *path, dst []Value) []Value {
	if e.top == nil {
		return walk(e.src, p, 0, dst)
	}
	if len(p.segs) == 0 {
		return leaf(e.root(), dst)
	}
	t := e.top
	if len(p.segs) == 2 {
		if out, ok := t.walk2(p, dst); ok {
			return out
		}
	}
	for n, key := range p.joins[0] { // as walk does for an object
		i := t.index(key)
		if i < 0 {
			continue
		}
		if n+1 < len(p.segs) {
			if o := t.object(i); o != nil { // and again, one level down
				for m, key := range p.joins[n+1] {
					j := o.find(key)
					if j < 0 {
						continue
					}
					if n+m+2 == len(p.segs) {
						if out, ok := scalarLeaf(record.KeyValue(o.data, o.keys, j), dst); ok {
							dst = out
							continue
						}
					}
					if c := o.value(t, j, o.member); c != nil {
						dst = walk(c, p, n+m+2, dst)
					}
				}
				continue
			}
		} else if out, ok := scalarLeaf(record.KeyValue(t.data, t.keys, i), dst); ok {
			dst = out
			continue
		}
		if c := t.value(t, i, -1); c != nil {
			dst = walk(c, p, n+1, dst)
		}
	}
	return dst
}

// walk2 is walkSrc of a path of two segments, a.b, in the common case:
// the record has no key "a.b", and a is absent, not an object, or an
// object whose b is absent or a scalar scalarLeaf reads (ok false
// otherwise: walkSrc's loops, which cost more, walk it). Most fields rules
// read (userIdentity.type ...) are such paths.
func (t *topLevel) walk2(p *path, dst []Value) (_ []Value, ok bool) {
	if t.index(p.joins[0][1]) >= 0 {
		return dst, false
	}
	i := t.index(p.segs[0])
	if i < 0 {
		return dst, true
	}
	o := t.object(i)
	if o == nil {
		return dst, false
	}
	j := o.find(p.segs[1])
	if j < 0 {
		return dst, true
	}
	return scalarLeaf(record.KeyValue(o.data, o.keys, j), dst)
}

// plainString returns the content of the JSON string raw when it has no
// escapes (ok false: raw is not a string, or has escapes).
func plainString(raw []byte) (_ string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		return "", false
	}
	return b2s(s), true
}

// str returns the string value of member i ("" when it is absent, i < 0,
// or not a string), parsing it only when it has escapes.
func (t *topLevel) str(i int) string {
	if i < 0 {
		return ""
	}
	raw := record.KeyValue(t.data, t.keys, i)
	if s, ok := plainString(raw); ok {
		return s
	}
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	return b2s(t.value(t, i, -1).GetStringBytes())
}

// scalarLeaf appends what leaf does for the value raw, a member's bytes in
// a record the scanner validated, when raw is a scalar whose leaf needs no
// parse: a string without escapes (its bytes between the quotes), a
// number (as written), true, false or null. ok is false for the others
// (objects, arrays, strings with escapes), which are parsed.
func scalarLeaf(raw []byte, dst []Value) (_ []Value, ok bool) {
	if len(raw) == 0 {
		return dst, false
	}
	switch c := raw[0]; {
	case c == '"':
		s, ok := plainString(raw)
		if !ok {
			return dst, false
		}
		return append(dst, Value{s, String}), true
	case c == '-' || '0' <= c && c <= '9':
		return append(dst, Value{b2s(raw), Number}), true
	case string(raw) == "true":
		return append(dst, Value{"true", Bool}), true
	case string(raw) == "false":
		return append(dst, Value{"false", Bool}), true
	case string(raw) == "null":
		return append(dst, Value{"", Null}), true
	}
	return dst, false
}
