package serve

import (
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trailhound/trailhound/ledger"
	"github.com/trailhound/trailhound/s3trail"
	"github.com/trailhound/trailhound/s3trail/s3test"
)

// The samples, laid out in S3 as CloudTrail delivers them (one account, two
// regions: two prefixes listed), polled: a first run whose clock stands in
// the middle of them delivers every object but acknowledges only those its
// watermark (from the object names) has passed; stopped and restarted with
// the clock later, it lists on from the committed positions, reads again
// only the objects not acknowledged, and the alerts are hunt's, each
// indexed once.
func TestS3PollServeMatchesHunt(t *testing.T) {
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	srv := s3test.New(t)
	ds := s3test.Deliveries(t, samples, "")
	regions := map[string]bool{}
	for _, d := range ds {
		srv.Put(t, trailBucket, d.Key, d.Body)
		regions[strings.Split(d.Key, "/")[3]] = true
	}
	if len(ds) < 4 || len(regions) != 2 {
		t.Fatalf("%d deliveries in %d regions from the samples, want 4 or more in 2", len(ds), len(regions))
	}
	dir := t.TempDir()
	ledgerPath := filepath.Join(dir, "ledger.db")
	var now atomic.Pointer[time.Time]
	setNow := func(t time.Time) { now.Store(&t) }
	input := func() (*S3PollInput, *ledger.Ledger) {
		l, err := ledger.Open(ledgerPath, 0)
		if err != nil {
			t.Fatal(err)
		}
		log := testLog(t)
		p := &s3trail.Poller{Reader: &s3trail.Reader{S3: srv.Client, Log: log, PageSize: 3}, Ledger: l, Bucket: trailBucket,
			Start: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), BatchSize: 2, Interval: 20 * time.Millisecond,
			Now: func() time.Time { return *now.Load() }, Log: log}
		return &S3PollInput{Poller: p, Log: log, Fetchers: 2, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, l
	}
	batches := func(h *harness) int { return int(testutil.ToFloat64(h.m.Batches.WithLabelValues("s3poll"))) }
	acked := func(h *harness) int { return int(testutil.ToFloat64(h.m.Acked.WithLabelValues("s3poll"))) }

	// First run: the clock at 14:30, Settle 15 min, lateness 20 min: the
	// watermark stops at 13:55, which lets the built-in rules' windows
	// acknowledge the objects up to 10:15.
	setNow(time.Date(2026, 11, 3, 14, 30, 0, 0, time.UTC))
	es := newFakeES(t)
	in, l := input()
	h := startHTTP(t, dir, es, in)
	waitFor(t, 20*time.Second, "every object delivered", func() bool { return batches(h) >= len(ds) })
	waitFor(t, 20*time.Second, "the objects before the watermark acknowledged", func() bool { return acked(h) > 0 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := batches(h); got != len(ds) {
		t.Errorf("first run: %d objects delivered, want %d", got, len(ds))
	}
	first := acked(h)
	t.Logf("first run: %d of %d objects acknowledged", first, len(ds))
	if n, _ := l.Len(); n != first || first >= len(ds) {
		t.Fatalf("first run: %d objects acknowledged, %d in the ledger; want the same, fewer than the %d objects", first, n, len(ds))
	}
	l.Close()
	if got := jsonlIDs(t, h.out); len(got) >= len(want) {
		t.Errorf("first run: %d alerts of hunt's %d decided with the watermark in the middle", len(got), len(want))
	}

	// Restart, the clock far later: the objects not acknowledged, alone.
	setNow(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
	srv.Reset()
	in, l = input()
	defer l.Close()
	h = startHTTP(t, dir, es, in)
	waitFor(t, 20*time.Second, "hunt's alerts in Elasticsearch", func() bool { return slices.Equal(es.ids(), want) })
	waitFor(t, 20*time.Second, "every object acknowledged", func() bool { return acked(h) == len(ds)-first })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := batches(h); got != len(ds)-first {
		t.Errorf("after the restart: %d objects delivered, want the %d not acknowledged", got, len(ds)-first)
	}
	if got := jsonlIDs(t, h.out); !slices.Equal(got, want) {
		t.Errorf("JSON Lines ids\n got %v\nwant %v", got, want)
	}
	for id, n := range es.writes {
		if n != 1 {
			t.Errorf("alert %s indexed %d times", id, n)
		}
	}
	if n, _ := l.Len(); n != len(ds) {
		t.Errorf("%d objects in the ledger, want %d", n, len(ds))
	}
	for _, q := range srv.Listings() {
		if q.Get("delimiter") == "" && (!strings.Contains(q.Get("prefix"), "/CloudTrail/") || q.Get("start-after") == "" && q.Get("continuation-token") == "") {
			t.Errorf("object listing %v: not below a region prefix after a position", q)
		}
	}
	for r := range regions {
		var last string
		for _, d := range ds {
			if strings.Contains(d.Key, "/"+r+"/") {
				last = d.Key
			}
		}
		if pos, _ := l.Position("s3://" + trailBucket + "/AWSLogs/210987654321/CloudTrail/" + r + "/"); pos != last {
			t.Errorf("position of %s: %q, want its last object %s", r, pos, last)
		}
	}
}
