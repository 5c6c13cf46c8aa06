package event

import (
	"sync"
	"sync/atomic"

	"github.com/valyala/fastjson"
)

// The root index: the members of a record's top-level object that field
// paths start with, found in one pass over the object per record, so that
// each field's first read does not scan the record's keys again (fastjson's
// Object.Get compares them one by one, and twice on a miss).
//
// Keys are numbered when a path is made (newPath) and looked up per record
// in rootKeys' hash table. The index keeps, per number, the first member
// whose key, unescaped, is that key: what fastjson's Object.Get returns once
// it has unescaped the object's keys. Records from a record.Scanner have no
// two keys alike in one object (it re-encodes records with duplicate keys),
// so for them this is what Object.Get returns in any order of reads.

// maxRootKeys bounds the numbered keys: names resolved at run time (every
// field of an event, ReadIndexed) must not grow the table without end. Past
// the bound, paths read their first member with Object.Get.
const maxRootKeys = 4096

// rootKeyTable is an open-addressing hash table of the numbered keys. It is
// never changed once published: numbering a key publishes a new table.
type rootKeyTable struct {
	mask uint32
	keys []string
	ids  []int32 // id+1 of keys[i]; 0: empty slot
	n    int32   // keys numbered
}

var (
	rootKeysMu sync.Mutex
	rootKeys   atomic.Pointer[rootKeyTable]
)

// hashKey is a cheap hash of a key: its length and three of its bytes (keys
// of one record rarely share all four).
func hashKey(k string) uint32 {
	h := uint32(len(k))
	if len(k) > 0 {
		h = h*31 + uint32(k[0])
		h = h*31 + uint32(k[len(k)-1])
		h = h*31 + uint32(k[len(k)/2])
	}
	return h * 0x9e3779b1
}

// lookup returns key's number, or -1 (nil: the empty table, before any
// key is numbered: paths are made by package variables' initialisers).
func (t *rootKeyTable) lookup(k string) int32 {
	if t == nil {
		return -1
	}
	for i := hashKey(k) >> 16 & t.mask; ; i = (i + 1) & t.mask {
		id := t.ids[i]
		if id == 0 {
			return -1
		}
		if t.keys[i] == k {
			return id - 1
		}
	}
}

// rootKeyID numbers key (once) and returns its number, or -1 past
// maxRootKeys.
func rootKeyID(key string) int32 {
	if id := rootKeys.Load().lookup(key); id >= 0 {
		return id
	}
	rootKeysMu.Lock()
	defer rootKeysMu.Unlock()
	old := rootKeys.Load()
	if id := old.lookup(key); id >= 0 {
		return id
	}
	if old == nil {
		old = &rootKeyTable{}
	}
	if old.n >= maxRootKeys {
		return -1
	}
	size := uint32(16)
	for size < uint32(old.n+1)*4 { // at most a quarter full: short probes
		size *= 2
	}
	t := &rootKeyTable{mask: size - 1, keys: make([]string, size), ids: make([]int32, size), n: old.n + 1}
	put := func(k string, id int32) {
		i := hashKey(k) >> 16 & t.mask
		for t.ids[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.keys[i], t.ids[i] = k, id+1
	}
	for i, id := range old.ids {
		if id != 0 {
			put(old.keys[i], id-1)
		}
	}
	put(key, old.n)
	rootKeys.Store(t)
	return old.n
}

// rootIndex is a Parser's index of its current record's top-level members.
type rootIndex struct {
	gen  uint64            // the fieldMemo gen it was built for
	vals []*fastjson.Value // by key number; nil: no such member
	tab  *rootKeyTable     // the table it was built with
	add  func(k []byte, v *fastjson.Value)
}

// root returns the index of e's top-level members (built on first use per
// event), or nil when e keeps no memo or its record is not an object.
func (e *Event) root() *rootIndex {
	m := e.fields
	if m == nil || e.src.Type() != fastjson.TypeObject {
		return nil
	}
	r := &m.root
	if r.gen == m.gen {
		return r
	}
	tab := rootKeys.Load()
	if tab == nil {
		return nil
	}
	r.gen, r.tab = m.gen, tab
	if int(r.tab.n) > cap(r.vals) {
		r.vals = make([]*fastjson.Value, r.tab.n, r.tab.n+r.tab.n/2)
	} else {
		r.vals = r.vals[:r.tab.n]
		clear(r.vals)
	}
	if r.add == nil { // made once per Parser: Visit's callback does not allocate per record
		r.add = func(k []byte, v *fastjson.Value) {
			if id := r.tab.lookup(b2s(k)); id >= 0 && r.vals[id] == nil {
				r.vals[id] = v
			}
		}
	}
	o, _ := e.src.Object()
	o.Visit(r.add)
	return r
}

// walkSrc is walk(e.src, p, 0, dst), reading the record's top-level
// members from its root index.
func (e *Event) walkSrc(p *path, dst []Value) []Value {
	r := e.root()
	if r == nil || len(p.segs) == 0 {
		return walk(e.src, p, 0, dst)
	}
	for n, id := range p.rootIDs {
		var c *fastjson.Value
		if id >= 0 && int(id) < len(r.vals) {
			c = r.vals[id]
		} else { // numbered after the index was built, or past the bound
			c = e.src.Get(p.joins[0][n])
		}
		if c != nil {
			dst = walk(c, p, n+1, dst)
		}
	}
	return dst
}
