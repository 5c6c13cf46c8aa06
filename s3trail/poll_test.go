package s3trail

import (
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/ledger"
	"github.com/trailhound/trailhound/s3trail/s3test"
)

func pollAll(t *testing.T, p *Poller) []string {
	t.Helper()
	var keys []string
	for {
		b, err := p.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			return keys
		}
		if len(b.Objects) > p.BatchSize || len(b.Inputs()) != len(b.Objects) {
			t.Fatalf("batch of %d objects (%d inputs), want at most %d", len(b.Objects), len(b.Inputs()), p.BatchSize)
		}
		for _, o := range b.Objects {
			keys = append(keys, o.Key)
		}
		if err := b.Ack(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// Polling reads every object from the start day once, lists only below the
// account/region prefixes and after their positions, resumes after a
// restart without reading anything again, and finds a file that lands late
// with an earlier name within Settle.
func TestPoller(t *testing.T) {
	srv := s3test.New(t)
	all := layout(t, srv)
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 6, 0, 5, 0, 0, time.UTC)
	start := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	newPoller := func(l *ledger.Ledger) *Poller {
		return &Poller{Reader: &Reader{S3: srv.Client, PageSize: 4}, Ledger: l, Bucket: "trail", Start: start, BatchSize: 5, Now: func() time.Time { return now }}
	}
	p := newPoller(l)
	if _, ok, err := p.NotBefore(); ok || err != nil {
		t.Errorf("NotBefore before the first poll: ok %v, %v", ok, err)
	}
	got := pollAll(t, p)
	// Every prefix's position is held 15 minutes before now (the 23:55 files are within).
	if nb, ok, err := p.NotBefore(); !ok || err != nil || !nb.Equal(time.Date(2026, 11, 5, 23, 50, 0, 0, time.UTC)) {
		t.Errorf("NotBefore = %v %v %v, want 2026-11-05T23:50Z", nb, ok, err)
	}
	var want []string
	fromStart := regexp.MustCompile(`^AWSLogs/(o-[a-z0-9]+/)?\d{12}/CloudTrail/[^/]+/2026/11/0[3-9]/`)
	for _, k := range all {
		if fromStart.MatchString(k) {
			want = append(want, k)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != 4*3*3+1 || !slices.Equal(got, want) {
		t.Fatalf("polled %d objects, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for _, q := range srv.Listings() {
		prefix := q.Get("prefix")
		if !strings.HasPrefix(prefix, "AWSLogs/") {
			t.Errorf("listing of %q: outside AWSLogs/", prefix)
		}
		if q.Get("delimiter") == "" && (!strings.Contains(prefix, "/CloudTrail/") || q.Get("start-after") == "" && q.Get("continuation-token") == "") {
			t.Errorf("object listing %v: not below a region prefix after a position", q)
		}
	}

	// Restart: nothing is read again; only what is within Settle of now is
	// listed again.
	l.Close()
	if l, err = ledger.Open(path, 0); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p = newPoller(l)
	if again := pollAll(t, p); len(again) != 0 {
		t.Errorf("after a restart, read again: %v", again)
	}
	if st := p.Stats(); st.Listed != 4 || st.Skipped != 4 {
		t.Errorf("after a restart: %+v, want the 4 files of 23:55 (within Settle) listed and skipped", st)
	}
	// A file named 23:52 lands after the 23:55 files were read.
	late := ctName("", "111122223333", "us-east-1", time.Date(2026, 11, 5, 23, 52, 0, 0, time.UTC), "late")
	srv.Put(t, "trail", late, s3test.Gzip([]byte(`{"Records":[]}`)))
	if got := pollAll(t, p); !slices.Equal(got, []string{late}) {
		t.Errorf("late file: polled %v, want %s", got, late)
	}
	// An hour later the positions move past the settled files.
	now = now.Add(time.Hour)
	pollAll(t, p)
	before := p.Stats().Listed
	pollAll(t, p)
	if n := p.Stats().Listed - before; n != 0 {
		t.Errorf("an hour later, %d objects listed again, want 0", n)
	}
	if _, err := (&Poller{Reader: p.Reader, Ledger: l, Bucket: "trail"}).Poll(context.Background()); err == nil {
		t.Error("no error without a start date")
	}
}

// Release leaves the position: the objects are handed out again.
func TestPollerRelease(t *testing.T) {
	srv := s3test.New(t)
	layout(t, srv)
	l, err := ledger.Open(filepath.Join(t.TempDir(), "ledger.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := &Poller{Reader: &Reader{S3: srv.Client}, Ledger: l, Bucket: "trail", Prefix: "AWSLogs/444455556666/", Start: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC), BatchSize: 2}
	b, err := p.Poll(context.Background())
	if err != nil || b == nil {
		t.Fatal(b, err)
	}
	first := b.Objects
	if nb, ok, _ := p.NotBefore(); !ok || !nb.Equal(p.Start) {
		t.Errorf("NotBefore with a batch out of a prefix without position = %v %v, want the start day", nb, ok)
	}
	fs, err := b.Fetch(context.Background())
	if err != nil || len(fs) != len(first) || fs[0].Name != first[0].URL() || string(fs[0].Data) != string(s3test.Gzip([]byte(`{"Records":[]}`))) {
		t.Errorf("Fetch: %d objects, %v", len(fs), err)
	}
	if b2, _ := p.Poll(context.Background()); b2 != nil {
		t.Errorf("a second batch of the prefix while one is out: %v", b2.Objects)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(context.Background()); err == nil {
		t.Error("Ack after Release: no error")
	}
	b, err = p.Poll(context.Background())
	if err != nil || b == nil || !slices.Equal(b.Objects, first) {
		t.Errorf("after Release: %v %v, want %v again", b, err, first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Next(ctx); err == nil {
		t.Error("Next with nothing new did not wait for ctx")
	}
}
