package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
)

// ErrCorrupt is wrapped by every error that says a state file is damaged
// (or is not a state file at all).
var ErrCorrupt = errors.New("state file is corrupt")

// CorruptError says which state file (or Redis server, its URL without
// the password) is damaged and how.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	if IsRedisURL(e.Path) {
		return fmt.Sprintf("a malformed entry in Redis (%s): not one trailhound wrote; delete it (HDEL), or the rule's keys", e.Reason)
	}
	return fmt.Sprintf("state file %s is corrupt (%s)", e.Path, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// panicked starts the reason of a CorruptError made from a panic.
const panicked = "bbolt panicked: "

// protect runs fn, which reads or writes the memory-mapped bbolt file, and
// turns a panic into a CorruptError. bbolt trusts the file: on a damaged one
// it panics ("invalid freelist page", "Page expected to be", slice bounds)
// or reads outside the mapping, which crashes the process unless the
// goroutine has asked for faults to panic instead (debug.SetPanicOnFault).
// checkFile rules those out before bbolt sees the file; this is the net
// under it.
func protect(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &CorruptError{Path: path, Reason: panicked + fmt.Sprint(r)}
		}
	}()
	return fn()
}

// The bbolt file format (go.etcd.io/bbolt v1.x, version 2), in the
// machine's byte order: every page starts with a 16-byte header (id uint64,
// flags uint16, count uint16, overflow uint32). Pages 0 and 1 hold the meta
// (magic, version, page size, flags, root bucket {root page, sequence},
// freelist page, high-water mark, txid, FNV-64a checksum of what precedes
// it). Branch elements are {pos uint32, ksize uint32, child page uint64},
// leaf elements {flags uint32, pos uint32, ksize uint32, vsize uint32}, with
// pos counted from the element. A bucket's value is {root page uint64,
// sequence uint64}, followed, when the root page is 0, by an inline leaf
// page.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	elementSize    = 16
	metaSize       = 64
	flagBranch     = 0x01
	flagLeaf       = 0x02
	flagFreelist   = 0x10
	flagBucketLeaf = 0x01
	noFreelist     = ^uint64(0)
	maxTreeDepth   = 64
)

var ne = binary.NativeEndian

type boltMeta struct {
	pageSize            int
	root, freelist, hwm uint64
	txid                uint64
	valid               bool
	both                bool // both meta pages are valid (set by readMeta)
}

// parseMeta reads a meta page from b (the page, header first).
func parseMeta(b []byte) boltMeta {
	if len(b) < pageHeaderSize+metaSize {
		return boltMeta{}
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(m[:56])
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[56:]) != h.Sum64() {
		return boltMeta{}
	}
	ps := int(ne.Uint32(m[8:]))
	return boltMeta{
		pageSize: ps,
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
		valid:    true,
	}
}

// readMeta finds the meta page bbolt will use: of the valid ones (magic,
// version and checksum), the one with the highest transaction id. As bbolt,
// it takes the page size from the first meta page, or else from the second
// one found at one of the offsets bbolt tries.
func readMeta(f io.ReaderAt, size int64) (boltMeta, error) {
	buf := make([]byte, pageHeaderSize+metaSize)
	var metas []boltMeta
	if _, err := f.ReadAt(buf, 0); err == nil {
		if m := parseMeta(buf); m.valid {
			metas = append(metas, m)
		}
	}
	for ps := int64(512); ps <= 1<<24 && ps+int64(len(buf)) <= size; ps <<= 1 {
		if len(metas) > 0 && int64(metas[0].pageSize) != ps {
			continue // the second meta page is where the first one says
		}
		if _, err := f.ReadAt(buf, ps); err == nil {
			if m := parseMeta(buf); m.valid {
				if int64(m.pageSize) != ps {
					return m, fmt.Errorf("the meta page at offset %d says pages of %d bytes", ps, m.pageSize)
				}
				metas = append(metas, m)
				break
			}
		}
	}
	if len(metas) == 0 {
		return boltMeta{}, errors.New("no valid meta page: not a bbolt file, or both meta pages damaged")
	}
	for _, m := range metas {
		if m.pageSize < 512 || m.pageSize > 1<<24 || m.pageSize&(m.pageSize-1) != 0 {
			return m, fmt.Errorf("page size %d", m.pageSize)
		}
	}
	m := metas[0]
	if len(metas) == 2 && metas[1].txid > m.txid {
		m = metas[1]
	}
	m.both = len(metas) == 2
	switch {
	case m.hwm < 2 || m.hwm > uint64(size)/uint64(m.pageSize):
		return m, fmt.Errorf("the meta page says %d pages of %d bytes, the file has %d bytes", m.hwm, m.pageSize, size)
	case m.root < 2 || m.root >= m.hwm:
		return m, fmt.Errorf("root page %d outside the file's %d pages", m.root, m.hwm)
	case m.freelist != noFreelist && (m.freelist < 2 || m.freelist >= m.hwm):
		return m, fmt.Errorf("freelist page %d outside the file's %d pages", m.freelist, m.hwm)
	}
	return m, nil
}

// checker reads every page reachable from a meta page and checks that
// each is of the expected kind, lies inside the file, is referenced once,
// is not also free, and that every element stays inside its page: what
// bbolt assumes when it follows page ids and element offsets into its
// memory map.
type checker struct {
	f    io.ReaderAt
	m    boltMeta
	seen map[uint64]bool
	free map[uint64]bool
}

// checkFile checks the structure of a bbolt file and returns the meta
// page it checked it from.
func checkFile(f io.ReaderAt, size int64) (boltMeta, error) {
	m, err := readMeta(f, size)
	if err != nil {
		return m, err
	}
	c := &checker{f: f, m: m, seen: map[uint64]bool{}, free: map[uint64]bool{}}
	if m.freelist != noFreelist {
		if err := c.freelist(); err != nil {
			return m, err
		}
	}
	return m, c.tree(m.root, 0)
}

// page reads page id and its overflow pages, marking them seen.
func (c *checker) page(id uint64, what string) ([]byte, error) {
	if id < 2 || id >= c.m.hwm {
		return nil, fmt.Errorf("%s page %d outside the file's %d pages", what, id, c.m.hwm)
	}
	ps := uint64(c.m.pageSize)
	hdr := make([]byte, pageHeaderSize)
	if _, err := c.f.ReadAt(hdr, int64(id*ps)); err != nil {
		return nil, fmt.Errorf("%s page %d: %w", what, id, err)
	}
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("%s page %d identifies itself as page %d", what, id, got)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if id+overflow >= c.m.hwm {
		return nil, fmt.Errorf("%s page %d overflows past the file's %d pages", what, id, c.m.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		if c.seen[i] {
			return nil, fmt.Errorf("page %d is used twice", i)
		}
		c.seen[i] = true
	}
	p := make([]byte, (overflow+1)*ps)
	if _, err := c.f.ReadAt(p, int64(id*ps)); err != nil {
		return nil, fmt.Errorf("%s page %d: %w", what, id, err)
	}
	return p, nil
}

func (c *checker) freelist() error {
	p, err := c.page(c.m.freelist, "freelist")
	if err != nil {
		return err
	}
	if flags := ne.Uint16(p[8:]); flags != flagFreelist {
		return fmt.Errorf("freelist page %d has page type %#x", c.m.freelist, flags)
	}
	start, n := uint64(pageHeaderSize), uint64(ne.Uint16(p[10:]))
	if n == 0xFFFF { // the count is the first element
		if len(p) < pageHeaderSize+8 {
			return fmt.Errorf("freelist page %d is truncated", c.m.freelist)
		}
		n, start = ne.Uint64(p[pageHeaderSize:]), start+8
	}
	if n > (uint64(len(p))-start)/8 {
		return fmt.Errorf("freelist page %d lists %d pages, more than it can hold", c.m.freelist, n)
	}
	for i := uint64(0); i < n; i++ {
		id := ne.Uint64(p[start+8*i:])
		if id < 2 || id >= c.m.hwm || c.free[id] || c.seen[id] {
			return fmt.Errorf("freelist page %d lists page %d, which is out of range, listed twice, or the freelist itself", c.m.freelist, id)
		}
		c.free[id] = true
	}
	return nil
}

// tree checks the branch or leaf page id and everything under it.
func (c *checker) tree(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: tree deeper than %d levels", id, maxTreeDepth)
	}
	if c.free[id] {
		return fmt.Errorf("page %d is in use and also listed as free", id)
	}
	p, err := c.page(id, "tree")
	if err != nil {
		return err
	}
	switch flags := ne.Uint16(p[8:]); flags {
	case flagLeaf:
		return c.leaf(p, id, depth)
	case flagBranch:
		n := uint64(ne.Uint16(p[10:]))
		if n == 0 || pageHeaderSize+n*elementSize > uint64(len(p)) {
			return fmt.Errorf("branch page %d: %d elements do not fit", id, n)
		}
		for i := uint64(0); i < n; i++ {
			e := pageHeaderSize + i*elementSize
			pos, ksize := uint64(ne.Uint32(p[e:])), uint64(ne.Uint32(p[e+4:]))
			if e+pos+ksize > uint64(len(p)) {
				return fmt.Errorf("branch page %d: element %d runs past the page", id, i)
			}
			if err := c.tree(ne.Uint64(p[e+8:]), depth+1); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("page %d has page type %#x, want a branch or leaf page", id, flags)
	}
}

// leaf checks the elements of a leaf page p (id 0 for an inline bucket)
// and the buckets they hold.
func (c *checker) leaf(p []byte, id uint64, depth int) error {
	n := uint64(ne.Uint16(p[10:]))
	if pageHeaderSize+n*elementSize > uint64(len(p)) {
		return fmt.Errorf("leaf page %d: %d elements do not fit", id, n)
	}
	for i := uint64(0); i < n; i++ {
		e := pageHeaderSize + i*elementSize
		flags, pos := ne.Uint32(p[e:]), uint64(ne.Uint32(p[e+4:]))
		ksize, vsize := uint64(ne.Uint32(p[e+8:])), uint64(ne.Uint32(p[e+12:]))
		end := e + pos + ksize + vsize
		if end > uint64(len(p)) {
			return fmt.Errorf("leaf page %d: element %d runs past the page", id, i)
		}
		if flags&flagBucketLeaf == 0 {
			continue
		}
		v := p[e+pos+ksize : end]
		if len(v) < 16 {
			return fmt.Errorf("leaf page %d: bucket %d has a %d-byte header", id, i, len(v))
		}
		root := ne.Uint64(v)
		if root != 0 {
			if err := c.tree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := v[16:]
		if len(inline) < pageHeaderSize || ne.Uint16(inline[8:]) != flagLeaf {
			return fmt.Errorf("leaf page %d: inline bucket %d is not a leaf page", id, i)
		}
		if depth+1 > maxTreeDepth {
			return fmt.Errorf("page %d: buckets nested deeper than %d levels", id, maxTreeDepth)
		}
		if err := c.leaf(inline, id, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// statFile returns the size of a state file, or an error that says it is
// missing.
func statFile(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("%s is not a regular file", path)
	}
	return fi.Size(), nil
}
