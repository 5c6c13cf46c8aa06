package state

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var testTime = time.Date(2026, 11, 30, 5, 12, 0, 0, time.UTC)

// validStateFile writes a state file with several rules, enough terms for
// branch pages and overflow pages, and a second commit so that the freelist
// is not empty, and returns its bytes.
func validStateFile(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		rules := map[string]*Rule{}
		for i := range 3 {
			r := NewRule()
			for j := range 200 * (i + 1) {
				r.Terms[fmt.Sprintf("arn:aws:iam::123456789012:user/u%d-%d", j, round)] = int64(j)
			}
			r.Groups["acct"] = 7
			r.Alerted[fmt.Sprintf("alert-%d", round)] = 9
			r.Suppress["k"] = Window{AlertID: "a", Start: 1, End: 2}
			r.Pending["p"] = Pending{Start: 3, Data: []byte(strings.Repeat("x", 5000*(i%2)))}
			r.Watermark = 10
			rules[fmt.Sprintf("rule-%d", i)] = r
		}
		if err := st.Save(rules); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setMeta rewrites a field of the meta pages at offsets pages (offset
// within the meta) and their checksums: a hostile file, not an accident.
func setMeta(b []byte, pages []int, off int, v uint64) {
	for _, p := range pages {
		m := b[p+pageHeaderSize : p+pageHeaderSize+metaSize]
		if off == 8 {
			ne.PutUint32(m[off:], uint32(v))
		} else {
			ne.PutUint64(m[off:], v)
		}
		h := fnv.New64a()
		h.Write(m[:56])
		ne.PutUint64(m[56:], h.Sum64())
	}
}

// openAndUse opens a state file both ways and uses it; it fails the test
// unless each step succeeds or returns an error wrapping ErrCorrupt, and
// returns the first error.
func openAndUse(t *testing.T, path string) error {
	t.Helper()
	var first error
	note := func(step string, err error) {
		if err == nil {
			return
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v, want an error wrapping ErrCorrupt", step, err)
		}
		if first == nil {
			first = err
		}
	}
	ro, err := OpenBoltReadOnly(path)
	note("read-only open", err)
	if err == nil {
		_, err := ro.Stats()
		note("stats", err)
		ro.Close()
	}
	st, err := OpenBolt(path)
	note("open", err)
	if err != nil {
		return first
	}
	defer st.Close()
	stats, err := st.Stats()
	note("stats", err)
	for _, s := range stats {
		_, err := st.Load(s.RuleID)
		note("load "+s.RuleID, err)
	}
	for _, id := range []string{"rule-0", "rule-1", "rule-2"} {
		_, err := st.Load(id)
		note("load "+id, err)
	}
	if first == nil { // only an intact file is written to
		note("save", st.Save(map[string]*Rule{"rule-1": NewRule()}))
	}
	return first
}

func TestCorruptStateFile(t *testing.T) {
	valid := validStateFile(t)
	m, err := readMeta(strings.NewReader(string(valid)), int64(len(valid)))
	if err != nil {
		t.Fatal(err)
	}
	ps := m.pageSize
	both := []int{0, ps}
	tests := []struct {
		name    string
		corrupt func([]byte) []byte
		want    string // "" for a file that must open
	}{
		{"intact", func(b []byte) []byte { return b }, ""},
		{"truncated to half its pages", func(b []byte) []byte { return b[:int(m.hwm)*ps/2] }, "pages of"},
		{"truncated inside the meta pages", func(b []byte) []byte { return b[:100] }, "pages of"},
		{"first meta page zeroed: bbolt uses the other", func(b []byte) []byte { clear(b[:ps]); return b }, ""},
		{"second meta page zeroed: bbolt uses the other", func(b []byte) []byte { clear(b[ps : 2*ps]); return b }, ""},
		{"both meta pages zeroed", func(b []byte) []byte { clear(b[:2*ps]); return b }, "no valid meta page"},
		{"not a state file", func([]byte) []byte { return []byte(`{"Records":[]}` + strings.Repeat(" ", 9000)) }, "no valid meta page"},
		{"empty", func([]byte) []byte { return nil }, "empty"},
		{"freelist page id flipped", func(b []byte) []byte { b[int(m.freelist)*ps] ^= 0x40; return b }, "identifies itself"},
		{"meta points the freelist at the root page", func(b []byte) []byte { setMeta(b, both, 32, m.root); return b }, "page type"},
		{"meta claims pages past the end of the file", func(b []byte) []byte { setMeta(b, both, 40, m.hwm*64); return b }, "pages of"},
		{"meta page size 0", func(b []byte) []byte { setMeta(b, both, 8, 0); return b }, "page size 0"},
		{"second meta page with another page size", func(b []byte) []byte { setMeta(b, []int{ps}, 8, uint64(2*ps)); return b }, "says pages of"},
		{"meta page size not a power of two", func(b []byte) []byte { setMeta(b, both, 8, 3000); return b }, "page size 3000"},
		{"root page's middle flipped", func(b []byte) []byte {
			for i := int(m.root)*ps + 16; i < int(m.root)*ps+ps/2; i++ {
				b[i] ^= 0xA5
			}
			return b
		}, "corrupt"},
		{"every page in the middle flipped", func(b []byte) []byte {
			for p := 2 * ps; p < len(b); p += ps {
				b[p+ps/2] ^= 0xFF
				b[p+10] ^= 0x01 // element count
			}
			return b
		}, "corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, tt.corrupt(append([]byte(nil), valid...)), 0o600); err != nil {
				t.Fatal(err)
			}
			err := openAndUse(t, path)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("intact file: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("corrupt file opened and used without an error")
			case err != nil && (!strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path)):
				t.Errorf("error %q does not name the file and %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), panicked):
				t.Errorf("the check missed what bbolt panicked on: %v", err)
			}
		})
	}
}

func TestOpenReadOnlyMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "state.db")
	if _, err := OpenBoltReadOnly(path); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a read-only open created %s", filepath.Dir(path))
	}
}

func TestReset(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	if aside, err := Reset(path, testTime); aside != "" || err != nil {
		t.Errorf("no file: %q, %v", aside, err)
	}
	os.WriteFile(path, []byte("junk"), 0o600)
	aside, err := Reset(path, testTime)
	if err != nil || aside != path+".reset-20261130T051200Z" {
		t.Fatalf("reset: %q, %v", aside, err)
	}
	if b, _ := os.ReadFile(aside); string(b) != "junk" {
		t.Errorf("the old file was not kept as %s", aside)
	}
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// FuzzOpenState flips and truncates bytes of a valid state file. Opening it
// either fails with an error wrapping ErrCorrupt, or succeeds, and then
// stats, loads and a save work or fail the same way, without a panic; and
// what bbolt would panic on is caught by the check, before bbolt reads it.
func FuzzOpenState(f *testing.F) {
	valid := validStateFile(f)
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{0, 0, 0, 20, 0xFF}, uint32(0))
	f.Add([]byte{0, 0, 0x20, 0, 0x01}, uint32(0))
	f.Add([]byte{}, uint32(len(valid)/2))
	f.Add([]byte{0, 0, 0x30, 0x08, 0x01, 0, 0, 0x50, 0x10, 0x80}, uint32(0))
	f.Fuzz(func(t *testing.T, flips []byte, cut uint32) {
		b := append([]byte(nil), valid...)
		for ; len(flips) >= 5; flips = flips[5:] {
			off := int(ne.Uint32(flips)) % len(b)
			b[off] ^= flips[4]
		}
		if cut > 0 && int(cut) < len(b) {
			b = b[:cut]
		}
		path := filepath.Join(t.TempDir(), "state.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := openAndUse(t, path); err != nil && strings.Contains(err.Error(), panicked) {
			t.Errorf("the check missed what bbolt panicked on: %v", err)
		}
	})
}

// A plain value where trailhound writes a bucket (one of a rule's maps)
// is a damaged file: Load and Stats say so, naming the rule, where Load
// read it as empty. (A rule's own bucket as a value, which crashed Stats,
// cannot be written through bbolt's API: FuzzOpenState's seed 86afcbc2 is
// such a file.)
func TestValueWhereBucket(t *testing.T) {
	for _, tc := range []struct {
		name  string
		put   func(tx *bolt.Tx) error
		inErr string
	}{
		{"its terms", func(tx *bolt.Tx) error {
			rb := tx.Bucket([]byte("rule-1"))
			if err := rb.DeleteBucket(kTerms); err != nil {
				return err
			}
			return rb.Put(kTerms, []byte("x"))
		}, `rule "rule-1": terms is a value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			if err := os.WriteFile(path, validStateFile(t), 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(tc.put)
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			st, err := OpenBolt(path)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Load("rule-1"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.inErr) {
				t.Errorf("Load: %v, want ErrCorrupt with %q", err, tc.inErr)
			}
			if _, err := st.Stats(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.inErr) || strings.Contains(err.Error(), panicked) {
				t.Errorf("Stats: %v, want ErrCorrupt with %q", err, tc.inErr)
			}
			if _, err := st.Load("rule-0"); err != nil {
				t.Errorf("another rule: %v", err)
			}
		})
	}
}
