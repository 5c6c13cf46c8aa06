// Package ledger remembers which S3 objects were read, and where each listing
// of a bucket stopped, in a bbolt file. A notification delivered again (SQS
// delivers at least once) finds its objects in the ledger and is a no-op; a
// poller restarted resumes its listing after the last key it read.
//
// An object is known by bucket, key and ETag: the same key written again
// with other content (another ETag) is a new object. Entries are kept for
// the retention (by default 14 days, the longest SQS keeps a message) and
// then forgotten (Done does it by itself once an hour), so the file's size
// follows the rate of new objects, not their history.
package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultRetention is how long a read object is remembered: the longest
// time SQS keeps a message (and so may deliver it again).
const DefaultRetention = 14 * 24 * time.Hour

var (
	objectsBucket = []byte("ledger.objects")  // bucket "/" key -> time (8 bytes, Unix ns) + ETag
	byTimeBucket  = []byte("ledger.bytime")   // time (8 bytes) + bucket "/" key -> nil, for expiry
	listingBucket = []byte("ledger.listings") // listing prefix -> the last key read (StartAfter)
	releaseBucket = []byte("ledger.releases") // SQS message id -> time (8 bytes, Unix ns) + clean releases (4 bytes)
)

// Ref names an object.
type Ref struct {
	Bucket, Key, ETag string // ETag may be empty when unknown
}

// Ledger is the record of objects read and listing positions.
type Ledger struct {
	db        *bolt.DB
	own       bool
	retention time.Duration
	// Now is the clock (tests set it).
	Now func() time.Time

	mu         sync.Mutex
	lastExpire time.Time
}

// expireEvery is how often Done forgets expired entries by itself.
const expireEvery = time.Hour

// Open opens (creating it if needed) a ledger file. A file another process
// holds open is an error after a second, not a wait.
func Open(path string, retention time.Duration) (*Ledger, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	l, err := New(db, retention)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	l.own = true
	return l, nil
}

// New keeps a ledger in buckets of an open bbolt database (their names start
// with "ledger."), for a process that keeps its other state in the same file.
// Close does not close db. A retention of 0 means DefaultRetention.
func New(db *bolt.DB, retention time.Duration) (*Ledger, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{objectsBucket, byTimeBucket, listingBucket, releaseBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Ledger{db: db, retention: retention, Now: time.Now}, nil
}

// Close closes the file when Open opened it.
func (l *Ledger) Close() error {
	if l.own {
		return l.db.Close()
	}
	return nil
}

func objKey(r Ref) []byte { return []byte(r.Bucket + "/" + r.Key) }

// Seen reports whether the object was read: the same bucket and key, with
// the same ETag (or with an ETag unknown on either side).
func (l *Ledger) Seen(r Ref) (bool, error) {
	var seen bool
	err := l.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(objectsBucket).Get(objKey(r))
		if len(v) < 8 {
			return nil
		}
		etag := string(v[8:])
		seen = etag == "" || r.ETag == "" || etag == r.ETag
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("ledger: %w", err)
	}
	return seen, nil
}

// Done records objects as read, in one durable commit. At most once an
// hour it also forgets the entries past the retention (Expire), so the file
// stays bounded without anyone calling Expire.
func (l *Ledger) Done(refs ...Ref) error {
	if len(refs) == 0 {
		return nil
	}
	if err := l.db.Update(func(tx *bolt.Tx) error { return l.done(tx, refs) }); err != nil {
		return fmt.Errorf("ledger: recording %d object(s): %w", len(refs), err)
	}
	l.mu.Lock()
	due := l.Now().Sub(l.lastExpire) >= expireEvery
	if due {
		l.lastExpire = l.Now()
	}
	l.mu.Unlock()
	if due {
		if _, err := l.Expire(); err != nil {
			return err
		}
	}
	return nil
}

func (l *Ledger) done(tx *bolt.Tx, refs []Ref) error {
	now := l.Now().UnixNano()
	objs, times := tx.Bucket(objectsBucket), tx.Bucket(byTimeBucket)
	for _, r := range refs {
		k := objKey(r)
		if old := objs.Get(k); len(old) >= 8 {
			if err := times.Delete(append(bytes.Clone(old[:8]), k...)); err != nil {
				return err
			}
		}
		v := binary.BigEndian.AppendUint64(nil, uint64(now))
		if err := objs.Put(k, append(v, r.ETag...)); err != nil {
			return err
		}
		if err := times.Put(append(bytes.Clone(v), k...), nil); err != nil {
			return err
		}
	}
	return nil
}

// Expire forgets the objects read longer ago than the retention and returns
// how many.
func (l *Ledger) Expire() (int, error) {
	cutoff := binary.BigEndian.AppendUint64(nil, uint64(l.Now().Add(-l.retention).UnixNano()))
	n := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		objs, times := tx.Bucket(objectsBucket), tx.Bucket(byTimeBucket)
		c := times.Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], cutoff) < 0; k, _ = c.First() {
			if err := objs.Delete(k[8:]); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		rc := tx.Bucket(releaseBucket).Cursor()
		for k, v := rc.First(); k != nil; {
			if len(v) >= 8 && bytes.Compare(v[:8], cutoff) < 0 {
				if err := rc.Delete(); err != nil {
					return err
				}
				k, v = rc.Seek(k)
				continue
			}
			k, v = rc.Next()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: expiring: %w", err)
	}
	return n, nil
}

// Len is the number of objects remembered.
func (l *Ledger) Len() (int, error) {
	var n int
	err := l.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(objectsBucket).Stats().KeyN
		return nil
	})
	return n, err
}

// Released counts one clean release of each message (given up by a
// stopping consumer, not for a failure), in one commit: Releases gives the
// count, so that receipts a stop caused are not held against a message
// (SQS counts every receipt). Counts are forgotten after the retention.
func (l *Ledger) Released(messageIDs ...string) error {
	if len(messageIDs) == 0 {
		return nil
	}
	now := binary.BigEndian.AppendUint64(nil, uint64(l.Now().UnixNano()))
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(releaseBucket)
		for _, id := range messageIDs {
			n := uint32(0)
			if v := b.Get([]byte(id)); len(v) == 12 {
				n = binary.BigEndian.Uint32(v[8:])
			}
			if err := b.Put([]byte(id), binary.BigEndian.AppendUint32(bytes.Clone(now), n+1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: recording %d release(s): %w", len(messageIDs), err)
	}
	return nil
}

// Releases is how many clean releases of a message were recorded.
func (l *Ledger) Releases(messageID string) (int, error) {
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(releaseBucket).Get([]byte(messageID)); len(v) == 12 {
			n = int(binary.BigEndian.Uint32(v[8:]))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger: releases of %s: %w", messageID, err)
	}
	return n, nil
}

// Position is where the listing named name stopped: the last key read, to
// list from with StartAfter ("" when it never ran).
func (l *Ledger) Position(name string) (string, error) {
	var pos string
	err := l.db.View(func(tx *bolt.Tx) error {
		pos = string(tx.Bucket(listingBucket).Get([]byte(name)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("ledger: position of %s: %w", name, err)
	}
	return pos, nil
}

// SetPosition records where the listing named name stopped, with the
// objects read up to there (Done), in one commit: a restart finds both or
// neither.
func (l *Ledger) SetPosition(name, lastKey string, read ...Ref) error {
	if name == "" {
		return errors.New("ledger: a listing position needs a name")
	}
	return l.SetPositions(map[string]string{name: lastKey}, read...)
}

// SetPositions records where several listings stopped (by name), with the
// objects read (Done), in one commit.
func (l *Ledger) SetPositions(positions map[string]string, read ...Ref) error {
	if len(positions) == 0 && len(read) == 0 {
		return nil
	}
	for name := range positions {
		if name == "" {
			return errors.New("ledger: a listing position needs a name")
		}
	}
	err := l.db.Update(func(tx *bolt.Tx) error {
		if err := l.done(tx, read); err != nil {
			return err
		}
		for name, lastKey := range positions {
			if err := tx.Bucket(listingBucket).Put([]byte(name), []byte(lastKey)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: recording %d position(s) and %d object(s): %w", len(positions), len(read), err)
	}
	return nil
}
