// Package state keeps what rules must remember between runs: new_terms
// history, threshold signal history, suppression windows and the ids of
// alerts already raised. Every entry expires with its rule's window, so the
// store's size is bounded by the windows, not by the input.
package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Rule is the remembered state of one rule. Times are Unix nanoseconds of
// event time.
type Rule struct {
	Terms     map[string]int64   // new_terms: term -> last sighting
	Groups    map[string]int64   // threshold: group -> last event time already counted into an alert
	Suppress  map[string]Window  // alert suppression: group key -> open window
	Alerted   map[string]int64   // alert id -> event time (cross-hunt de-duplication)
	Pending   map[string]Pending // EQL sequences: partial sequences still open
	Watermark int64              // latest event time processed
	Expired   Cutoffs            // what Expire dropped: stores shared by several processes drop the same from what others wrote
}

// Cutoffs are the times before which Expire dropped each kind of entry: a
// term, group or alert id last seen before them, a partial sequence that
// started before them, a suppression window that ended before them (as of
// the last Expire).
type Cutoffs struct {
	Terms, Groups, Suppress, Alerted, Pending int64
}

// Pending is a partial sequence: the time of its first event and its
// events, encoded by the rule engine.
type Pending struct {
	Start int64
	Data  []byte
}

// Window is an open suppression window.
type Window struct {
	AlertID string
	Start   int64
	End     int64 // start + duration (0 for per-run suppression)
}

// NewRule returns empty state, with cutoffs that drop nothing (the lowest
// time: the zero Cutoffs would drop what is before 1970 from a shared
// store at the next save).
func NewRule() *Rule {
	return &Rule{Terms: map[string]int64{}, Groups: map[string]int64{}, Suppress: map[string]Window{}, Alerted: map[string]int64{}, Pending: map[string]Pending{},
		Expired: Cutoffs{Terms: math.MinInt64, Groups: math.MinInt64, Suppress: math.MinInt64, Alerted: math.MinInt64, Pending: math.MinInt64}}
}

// Retention says how long each kind of entry of a rule is kept, back from
// its watermark.
type Retention struct {
	Terms, Groups, Alerted, Pending time.Duration
}

// Expire drops entries older than the retention allows, and records in
// r.Expired the cutoffs it applied.
func (r *Rule) Expire(ret Retention) {
	c := Cutoffs{
		Terms:    back(r.Watermark, ret.Terms),
		Groups:   back(r.Watermark, ret.Groups),
		Suppress: r.Watermark,
		Alerted:  back(r.Watermark, ret.Alerted),
		Pending:  back(r.Watermark, ret.Pending),
	}
	r.Expired = c
	r.drop(c)
}

// drop deletes the entries the cutoffs say are expired.
func (r *Rule) drop(c Cutoffs) {
	for k, p := range r.Pending {
		if p.Start < c.Pending {
			delete(r.Pending, k)
		}
	}
	dropBefore(r.Terms, c.Terms)
	dropBefore(r.Groups, c.Groups)
	for k, w := range r.Suppress {
		if w.End < c.Suppress {
			delete(r.Suppress, k)
		}
	}
	dropBefore(r.Alerted, c.Alerted)
}

// back is t-d, saturated at the lowest time.
func back(t int64, d time.Duration) int64 {
	if t < math.MinInt64+int64(d) {
		return math.MinInt64
	}
	return t - int64(d)
}

func dropBefore(m map[string]int64, cutoff int64) {
	for k, t := range m {
		if t < cutoff {
			delete(m, k)
		}
	}
}

// Store is durable rule state.
type Store interface {
	// Load returns the state of a rule (empty when none).
	Load(ruleID string) (*Rule, error)
	// Save writes the state of several rules atomically.
	Save(rules map[string]*Rule) error
	// Stats describes what the store holds.
	Stats() ([]RuleStats, error)
	Close() error
}

// Shared is a Store that several processes write at once: Changes returns,
// per rule, what the others saved since the last call (terms, groups, alert
// ids and suppression windows; partial sequences are not shared), for the
// caller to merge into its own state.
type Shared interface {
	Store
	Changes() (map[string]*Rule, error)
}

// RuleStats counts a rule's entries.
type RuleStats struct {
	RuleID                                    string
	Terms, Groups, Suppress, Alerted, Pending int
	// RunMarks are the threshold runs' marks among the alert ids (not
	// counted in Alerted).
	RunMarks  int
	Watermark time.Time
}

// RunMarkPrefix starts the entries among a rule's alert ids that are not
// alert ids (hex, never holding a colon) but a threshold run's mark that
// it raised a group: RunMarkPrefix + END + ":" + GROUP.
const RunMarkPrefix = "threshold-run:"

// runMarks counts the run marks among alert ids.
func runMarks(alerted map[string]int64) int {
	n := 0
	for id := range alerted {
		if strings.HasPrefix(id, RunMarkPrefix) {
			n++
		}
	}
	return n
}

// DefaultPath is where hunts keep state unless told otherwise:
// $XDG_STATE_HOME/trailhound/state.db, or ~/.local/state/trailhound/state.db.
func DefaultPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "trailhound", "state.db")
}

// Bolt is a Store in one bbolt file. bbolt commits are atomic and durable, so
// a process killed at any point leaves either the old or the new state.
type Bolt struct {
	db   *bolt.DB
	path string
}

// OpenBolt opens (creating it if needed) a state file for a hunt. An
// existing file is checked first (see OpenBoltReadOnly); damage is an error
// wrapping ErrCorrupt.
func OpenBolt(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	size, err := statFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// a new file: bbolt writes its first pages
	case err != nil:
		return nil, fmt.Errorf("state %s: %w", path, err)
	case size > 0:
		ro, err := OpenBoltReadOnly(path)
		if err != nil {
			return nil, err
		}
		if err := ro.Close(); err != nil {
			return nil, fmt.Errorf("state %s: %w", path, err)
		}
	}
	return open(path, false)
}

// OpenBoltReadOnly opens an existing state file without writing to it (a
// missing file is an error wrapping os.ErrNotExist). Before use the whole
// file is checked: the meta pages' checksums, that the pages they count fit
// in the file, that every page reachable from them lies inside the file and
// keeps its elements inside itself, and then bbolt's own consistency check.
// A damaged file is an error wrapping ErrCorrupt, never a panic.
func OpenBoltReadOnly(path string) (*Bolt, error) {
	size, err := statFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &fs.PathError{Op: "state file", Path: path, Err: fs.ErrNotExist}
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if size == 0 {
		return nil, &CorruptError{Path: path, Reason: "the file is empty"}
	}
	// The meta pages first: bbolt takes its page size from them, unchecked.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	_, err = readMeta(f, size)
	f.Close()
	if err != nil {
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	}
	b, err := open(path, true)
	if err != nil {
		return nil, err
	}
	// Under bbolt's (shared) lock no hunt writes the file while it is read.
	err = protect(path, func() error {
		return b.db.View(func(tx *bolt.Tx) error {
			size, err := statFile(path)
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			m, err := checkFile(f, size)
			if err != nil {
				return &CorruptError{Path: path, Reason: err.Error()}
			}
			if !m.both {
				// One meta page is damaged (a torn write): bbolt uses the
				// other one, and rewrites this one on the next commit. Its
				// own check would take the damaged page for corruption.
				return nil
			}
			var first error
			for err := range tx.Check() { // drained: it reads the map until it closes the channel
				if first == nil {
					first = &CorruptError{Path: path, Reason: err.Error()}
				}
			}
			return first
		})
	})
	if err != nil {
		b.db.Close()
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return b, nil
}

// open opens a state file with bbolt; a file bbolt rejects (bad magic,
// version or checksums) is corrupt.
func open(path string, readOnly bool) (*Bolt, error) {
	var file *os.File
	opts := &bolt.Options{Timeout: 5 * time.Second, ReadOnly: readOnly, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}}
	var db *bolt.DB
	err := protect(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	var pe *fs.PathError
	switch {
	case err == nil:
		return &Bolt{db: db, path: path}, nil
	case errors.Is(err, ErrCorrupt):
		if file != nil { // bbolt panicked before it could close its file
			file.Close()
		}
		return nil, err
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("state %s: %w", path, ErrLocked)
	case errors.As(err, &pe):
		return nil, fmt.Errorf("state %s: %w", path, err)
	default:
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	}
}

// Reset moves a state file aside, to path.reset-YYYYMMDDTHHMMSSZ beside it,
// so that the next open starts empty, and returns the new name ("" when
// there was no file).
func Reset(path string, now time.Time) (string, error) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	aside := path + ".reset-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("state %s: %w", path, err)
	}
	return aside, nil
}

// Close closes the file.
func (b *Bolt) Close() error { return b.db.Close() }

var (
	kTerms     = []byte("terms")
	kGroups    = []byte("groups")
	kSuppress  = []byte("suppress")
	kPending   = []byte("pending")
	kAlerted   = []byte("alerted")
	kWatermark = []byte("watermark")
)

func i64(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func b64(v int64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(v))
	return b
}

func loadTimes(rb *bolt.Bucket, name []byte, m map[string]int64) {
	if sub := rb.Bucket(name); sub != nil {
		sub.ForEach(func(k, v []byte) error {
			m[string(k)] = i64(v)
			return nil
		})
	}
}

// notBuckets returns a CorruptError for the first of a rule's maps that
// holds a plain value where trailhound writes a bucket: a damaged file,
// whose map would otherwise read as empty.
func (b *Bolt) notBuckets(ruleID string, rb *bolt.Bucket) error {
	for _, name := range [][]byte{kTerms, kGroups, kAlerted, kPending, kSuppress} {
		if rb.Bucket(name) == nil && rb.Get(name) != nil {
			return &CorruptError{Path: b.path, Reason: fmt.Sprintf("rule %q: %s is a value, not a bucket", ruleID, name)}
		}
	}
	return nil
}

// ruleBucket is the bucket of rule ruleID, nil when the file has none, and
// an error when the file has a plain value under its name.
func (b *Bolt) ruleBucket(tx *bolt.Tx, ruleID string) (*bolt.Bucket, error) {
	if rb := tx.Bucket([]byte(ruleID)); rb != nil {
		return rb, b.notBuckets(ruleID, rb)
	}
	if k, v := tx.Cursor().Seek([]byte(ruleID)); string(k) == ruleID && v != nil {
		return nil, &CorruptError{Path: b.path, Reason: fmt.Sprintf("rule %q is a value, not a bucket", ruleID)}
	}
	return nil, nil
}

// view and update run a bbolt transaction under protect.
func (b *Bolt) view(fn func(*bolt.Tx) error) error {
	return protect(b.path, func() error { return b.db.View(fn) })
}

func (b *Bolt) update(fn func(*bolt.Tx) error) error {
	return protect(b.path, func() error { return b.db.Update(fn) })
}

// Load implements Store.
func (b *Bolt) Load(ruleID string) (*Rule, error) {
	r := NewRule()
	err := b.view(func(tx *bolt.Tx) error {
		rb, err := b.ruleBucket(tx, ruleID)
		if rb == nil || err != nil {
			return err
		}
		r.Watermark = i64(rb.Get(kWatermark))
		loadTimes(rb, kTerms, r.Terms)
		loadTimes(rb, kGroups, r.Groups)
		loadTimes(rb, kAlerted, r.Alerted)
		if sub := rb.Bucket(kPending); sub != nil {
			err := sub.ForEach(func(k, v []byte) error {
				if len(v) < 8 {
					return &CorruptError{Path: b.path, Reason: fmt.Sprintf("rule %s: pending entry %q is %d bytes", ruleID, k, len(v))}
				}
				r.Pending[string(k)] = Pending{Start: i64(v[:8]), Data: append([]byte(nil), v[8:]...)}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if sub := rb.Bucket(kSuppress); sub != nil {
			return sub.ForEach(func(k, v []byte) error {
				if len(v) < 16 {
					return &CorruptError{Path: b.path, Reason: fmt.Sprintf("rule %s: suppression entry %q is %d bytes", ruleID, k, len(v))}
				}
				r.Suppress[string(k)] = Window{Start: i64(v[:8]), End: i64(v[8:16]), AlertID: string(v[16:])}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading state of rule %s: %w", ruleID, err)
	}
	return r, nil
}

func putTimes(rb *bolt.Bucket, name []byte, m map[string]int64) error {
	if rb.Bucket(name) != nil {
		if err := rb.DeleteBucket(name); err != nil {
			return err
		}
	}
	if len(m) == 0 {
		return nil
	}
	sub, err := rb.CreateBucket(name)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // sequential inserts fill bbolt pages best
	sub.FillPercent = 0.9
	for _, k := range keys {
		if err := sub.Put([]byte(k), b64(m[k])); err != nil {
			return err
		}
	}
	return nil
}

// Save implements Store: all rules in one transaction.
func (b *Bolt) Save(rules map[string]*Rule) error {
	return b.update(func(tx *bolt.Tx) error {
		for id, r := range rules {
			rb, err := tx.CreateBucketIfNotExists([]byte(id))
			if err != nil {
				return fmt.Errorf("rule %s: %w", id, err)
			}
			if err := rb.Put(kWatermark, b64(r.Watermark)); err != nil {
				return err
			}
			for _, x := range []struct {
				name []byte
				m    map[string]int64
			}{{kTerms, r.Terms}, {kGroups, r.Groups}, {kAlerted, r.Alerted}} {
				if err := putTimes(rb, x.name, x.m); err != nil {
					return fmt.Errorf("rule %s: %w", id, err)
				}
			}
			if rb.Bucket(kPending) != nil {
				if err := rb.DeleteBucket(kPending); err != nil {
					return err
				}
			}
			if len(r.Pending) > 0 {
				sub, err := rb.CreateBucket(kPending)
				if err != nil {
					return err
				}
				for k, p := range r.Pending {
					if err := sub.Put([]byte(k), append(b64(p.Start), p.Data...)); err != nil {
						return err
					}
				}
			}
			if rb.Bucket(kSuppress) != nil {
				if err := rb.DeleteBucket(kSuppress); err != nil {
					return err
				}
			}
			if len(r.Suppress) > 0 {
				sub, err := rb.CreateBucket(kSuppress)
				if err != nil {
					return err
				}
				for k, w := range r.Suppress {
					v := append(append(b64(w.Start), b64(w.End)...), w.AlertID...)
					if err := sub.Put([]byte(k), v); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// Stats implements Store.
func (b *Bolt) Stats() ([]RuleStats, error) {
	var out []RuleStats
	err := b.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, rb *bolt.Bucket) error {
			if rb == nil {
				return &CorruptError{Path: b.path, Reason: fmt.Sprintf("rule %q is a value, not a bucket", name)}
			}
			if err := b.notBuckets(string(name), rb); err != nil {
				return err
			}
			s := RuleStats{RuleID: string(name), Watermark: time.Unix(0, i64(rb.Get(kWatermark))).UTC()}
			count := func(n []byte) int {
				if sub := rb.Bucket(n); sub != nil {
					return sub.Stats().KeyN
				}
				return 0
			}
			s.Terms, s.Groups, s.Suppress, s.Alerted, s.Pending = count(kTerms), count(kGroups), count(kSuppress), count(kAlerted), count(kPending)
			if sub := rb.Bucket(kAlerted); sub != nil {
				c := sub.Cursor()
				for k, _ := c.Seek([]byte(RunMarkPrefix)); k != nil && bytes.HasPrefix(k, []byte(RunMarkPrefix)); k, _ = c.Next() {
					s.RunMarks++
				}
				s.Alerted -= s.RunMarks
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}

// Memory is a Store in memory (hunts without --state).
type Memory struct{ rules map[string]*Rule }

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{rules: map[string]*Rule{}} }

// Load implements Store.
func (m *Memory) Load(id string) (*Rule, error) {
	if r, ok := m.rules[id]; ok {
		return r, nil
	}
	return NewRule(), nil
}

// Save implements Store.
func (m *Memory) Save(rules map[string]*Rule) error {
	for id, r := range rules {
		m.rules[id] = r
	}
	return nil
}

// Stats implements Store.
func (m *Memory) Stats() ([]RuleStats, error) {
	var out []RuleStats
	for id, r := range m.rules {
		marks := runMarks(r.Alerted)
		out = append(out, RuleStats{RuleID: id, Terms: len(r.Terms), Groups: len(r.Groups), Suppress: len(r.Suppress), Alerted: len(r.Alerted) - marks, RunMarks: marks,
			Pending: len(r.Pending), Watermark: time.Unix(0, r.Watermark).UTC()})
	}
	return out, nil
}

// Close implements Store.
func (m *Memory) Close() error { return nil }

// ErrLocked is returned when another process holds the state file.
var ErrLocked = errors.New("state file is in use by another trailhound process")
