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
	if nb, ok := p.NotBefore(); !ok || !nb.Equal(start) {
		t.Errorf("NotBefore before the first poll = %v %v, want the start day", nb, ok)
	}
	got := pollAll(t, p)
	// Every prefix's position is held 15 minutes before now (the 23:55 files are within).
	if nb, ok := p.NotBefore(); !ok || !nb.Equal(time.Date(2026, 11, 5, 23, 50, 0, 0, time.UTC)) {
		t.Errorf("NotBefore = %v %v, want 2026-11-05T23:50Z", nb, ok)
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

// Several batches of a prefix are out at once; acknowledged out of order,
// the position waits for the first; a restart meanwhile hands out only what
// was not acknowledged; Release hands objects out again; NotBefore counts
// the objects handed out until they are Started.
func TestPollerOutOfOrder(t *testing.T) {
	srv := s3test.New(t)
	layout(t, srv)
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 6, 0, 5, 0, 0, time.UTC)
	newPoller := func(l *ledger.Ledger) *Poller {
		return &Poller{Reader: &Reader{S3: srv.Client}, Ledger: l, Bucket: "trail", Prefix: "AWSLogs/444455556666/",
			Start: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC), BatchSize: 1, Now: func() time.Time { return now }}
	}
	p := newPoller(l)
	ctx := context.Background()
	var bs []*PollBatch
	for {
		b, err := p.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			break
		}
		bs = append(bs, b)
	}
	day := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	want := []string{
		ctName("", "444455556666", "us-east-1", day.Add(5*time.Minute), "c"),
		ctName("", "444455556666", "us-east-1", day.Add(12*time.Hour), "c"),
		ctName("", "444455556666", "us-east-1", day.Add(23*time.Hour+55*time.Minute), "c"),
	}
	var got []string
	for _, b := range bs {
		for _, o := range b.Objects {
			got = append(got, o.Key)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("batches out at once: %v, want %v", got, want)
	}
	if nb, ok := p.NotBefore(); !ok || !nb.Equal(day.Add(5*time.Minute)) {
		t.Errorf("NotBefore with the batches not started = %v %v, want the first file's time", nb, ok)
	}
	for _, b := range bs {
		p.Started(b.Objects...)
	}
	if nb, ok := p.NotBefore(); !ok || !nb.Equal(now.Add(-15*time.Minute)) {
		t.Errorf("NotBefore once started, the prefix listed to its end = %v %v, want now less Settle", nb, ok)
	}
	// Out of order: the last two are acknowledged, the position stays.
	for _, b := range []*PollBatch{bs[2], bs[1]} {
		if err := b.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := bs[1].Ack(ctx); err == nil {
		t.Error("a batch acknowledged twice: no error")
	}
	if pos, _ := l.Position("s3://trail/AWSLogs/444455556666/CloudTrail/us-east-1/"); pos != "" {
		t.Errorf("position %q moved past an object not acknowledged", pos)
	}
	if b, err := p.Poll(ctx); b != nil || err != nil {
		t.Errorf("polled again: %v %v, want nothing new", b, err)
	}

	// A restart hands out only the first.
	l.Close()
	if l, err = ledger.Open(path, 0); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv.Reset()
	p2 := newPoller(l)
	if again := pollAll(t, p2); !slices.Equal(again, want[:1]) {
		t.Errorf("after a restart: %v, want %v", again, want[:1])
	}
	for _, q := range srv.Listings() {
		if q.Get("delimiter") == "" && q.Get("start-after") == "" && q.Get("continuation-token") == "" {
			t.Errorf("object listing %v: not after a position", q)
		}
	}
	if pos, _ := l.Position("s3://trail/AWSLogs/444455556666/CloudTrail/us-east-1/"); !strings.HasSuffix(pos, "_20261105T2350Z") {
		t.Errorf("position %q, want Settle before now once all are acknowledged", pos)
	}

	// Release (a new ledger): handed out again, alone (the other is out).
	l2, err := ledger.Open(filepath.Join(t.TempDir(), "ledger2.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	p3 := newPoller(l2)
	b1, err := p3.Poll(ctx)
	if err != nil || b1 == nil {
		t.Fatal(b1, err)
	}
	b2, err := p3.Poll(ctx)
	if err != nil || b2 == nil {
		t.Fatal(b2, err)
	}
	if err := b1.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b1.Ack(ctx); err == nil {
		t.Error("Ack after Release: no error")
	}
	b, err := p3.Poll(ctx)
	if err != nil || b == nil || !slices.Equal(b.Objects, b1.Objects) {
		t.Errorf("after Release: %v %v, want %v again", b, err, b1.Objects)
	}
	fs, err := b.Fetch(ctx)
	if err != nil || len(fs) != 1 || fs[0].Name != b1.Objects[0].URL() || string(fs[0].Data) != string(s3test.Gzip([]byte(`{"Records":[]}`))) {
		t.Errorf("Fetch: %d objects, %v", len(fs), err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	for {
		if _, err := p3.Next(tctx); err != nil {
			break // nothing new: Next waited for ctx
		}
	}
}
