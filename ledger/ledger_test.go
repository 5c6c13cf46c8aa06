package ledger

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSeenAndExpire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	l.Now = func() time.Time { return now }
	a := Ref{"b", "AWSLogs/1/CloudTrail/us-east-1/2026/11/03/a.json.gz", "e1"}
	b := Ref{"b", "AWSLogs/1/CloudTrail/us-east-1/2026/11/03/b.json.gz", ""}
	if err := l.Done(a, b); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ref  Ref
		seen bool
	}{
		{a, true},
		{Ref{a.Bucket, a.Key, ""}, true},         // ETag unknown (CloudTrail's message): the key decides
		{Ref{a.Bucket, a.Key, "e2"}, false},      // the key written again with other content
		{Ref{"other", a.Key, "e1"}, false},       // another bucket
		{Ref{b.Bucket, b.Key, "anything"}, true}, // recorded without ETag
		{Ref{"b", "AWSLogs/1/c.json.gz", ""}, false},
	}
	for _, tc := range tests {
		if seen, err := l.Seen(tc.ref); err != nil || seen != tc.seen {
			t.Errorf("Seen(%+v) = %v, %v; want %v", tc.ref, seen, err, tc.seen)
		}
	}
	// Read again later: its time moves, so it outlives b.
	now = now.Add(12 * time.Hour)
	if err := l.Done(a); err != nil {
		t.Fatal(err)
	}
	now = now.Add(13 * time.Hour) // b is 25 h old, a 13 h
	if n, err := l.Expire(); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	if seen, _ := l.Seen(b); seen {
		t.Error("b not expired")
	}
	if seen, _ := l.Seen(a); !seen {
		t.Error("a expired although read again 13 h ago")
	}
	if n, _ := l.Len(); n != 1 {
		t.Errorf("Len %d, want 1", n)
	}
	// Durable: a reopened file knows a and a listing position.
	if err := l.SetPosition("s3://b/AWSLogs/1/CloudTrail/us-east-1/", "AWSLogs/1/CloudTrail/us-east-1/2026/11/03/c.json.gz", Ref{"b", "AWSLogs/1/CloudTrail/us-east-1/2026/11/03/c.json.gz", "e3"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if seen, _ := l.Seen(a); !seen {
		t.Error("a forgotten after reopening")
	}
	if seen, _ := l.Seen(Ref{"b", "AWSLogs/1/CloudTrail/us-east-1/2026/11/03/c.json.gz", "e3"}); !seen {
		t.Error("c (recorded with the position) forgotten")
	}
	if pos, err := l.Position("s3://b/AWSLogs/1/CloudTrail/us-east-1/"); err != nil || !strings.HasSuffix(pos, "c.json.gz") {
		t.Errorf("Position = %q, %v", pos, err)
	}
	if pos, _ := l.Position("never"); pos != "" {
		t.Errorf("Position of an unknown listing = %q", pos)
	}
	if err := l.SetPosition("", "k"); err == nil {
		t.Error("SetPosition without a name: no error")
	}
}

func TestOpenHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Open(path, 0); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("second Open of a held file: %v, want an error naming it", err)
	}
}

// Done forgets expired entries by itself, at most once an hour.
func TestDoneExpires(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "ledger.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	l.Now = func() time.Time { return now }
	old := Ref{"b", "old", ""}
	if err := l.Done(old); err != nil { // expires (nothing) and remembers when
		t.Fatal(err)
	}
	now = now.Add(59 * time.Minute)
	l.Done(Ref{"b", "a", ""})
	now = now.Add(30 * time.Minute) // old is 89 min old, past the retention; the last expiry 89 min ago
	l.Done(Ref{"b", "c", ""})
	if seen, _ := l.Seen(old); seen {
		t.Error("an entry past the retention survived Done an hour after the last expiry")
	}
	if n, _ := l.Len(); n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
}

// Clean releases are counted per message and forgotten after the
// retention; several positions go in one commit.
func TestReleasesAndPositions(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "ledger.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	l.Now = func() time.Time { return now }
	l.Released("m-1", "m-2")
	now = now.Add(50 * time.Minute)
	l.Released("m-1")
	if n, err := l.Releases("m-1"); n != 2 || err != nil {
		t.Errorf("m-1 released %d times (%v), want 2", n, err)
	}
	if n, _ := l.Releases("m-3"); n != 0 {
		t.Errorf("m-3 released %d times, want 0", n)
	}
	now = now.Add(20 * time.Minute) // m-2's last release 70 min ago, m-1's 20
	if _, err := l.Expire(); err != nil {
		t.Fatal(err)
	}
	if a, b := must(l.Releases("m-1")), must(l.Releases("m-2")); a != 2 || b != 0 {
		t.Errorf("after expiry: m-1 %d, m-2 %d; want 2 and 0", a, b)
	}
	if err := l.SetPositions(map[string]string{"p1": "k1", "p2": "k2"}, Ref{"b", "k1", "e"}); err != nil {
		t.Fatal(err)
	}
	if p1, p2 := must(l.Position("p1")), must(l.Position("p2")); p1 != "k1" || p2 != "k2" {
		t.Errorf("positions %q %q", p1, p2)
	}
	if seen, _ := l.Seen(Ref{"b", "k1", "e"}); !seen {
		t.Error("object recorded with the positions not seen")
	}
	if err := l.SetPositions(map[string]string{"": "x"}); err == nil {
		t.Error("a position without a name: no error")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
