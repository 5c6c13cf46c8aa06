package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/trailhound/trailhound/s3trail/s3test"
	"github.com/trailhound/trailhound/syncbuf"
)

// serve --s3-poll lists the bucket where CloudTrail delivers (an
// S3-compatible store) from --from, reads every object once and raises
// hunt's alerts over the samples; the ledger with the listing positions is
// kept beside the state, and a restart reads nothing again.
func TestServeS3Poll(t *testing.T) {
	awsTestEnv(t)
	s3srv := s3test.New(t)
	const bucket = "trail-bucket"
	ds := s3test.Deliveries(t, "../../testdata/samples", "")
	for _, d := range ds {
		s3srv.Put(t, bucket, d.Key, d.Body)
	}
	_, huntOut, _ := runCmd(t, "hunt", "-f", "jsonl", "../../testdata/samples")
	want := slices.Compact(jsonlIDs(t, huntOut))
	if len(want) < 5 {
		t.Fatalf("hunt over the samples raised %d alerts", len(want))
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "alerts.jsonl")
	got := func() []string {
		data, _ := os.ReadFile(out)
		return slices.Compact(jsonlIDs(t, string(data)))
	}
	serveOnce := func(until func() bool, what string) string {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stderr syncbuf.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--s3-poll", "s3://" + bucket, "--from", "2026-11-03", "--s3-endpoint", s3srv.URL,
				"--poll-interval", "50ms", "--out", out, "--state", filepath.Join(dir, "s.db"), "--checkpoint-interval", "20ms"}, io.Discard, &stderr)
		}()
		for deadline := time.Now().Add(20 * time.Second); !until(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stderr:\n%s", what, stderr.String())
			}
		}
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("serve: exit %d\n%s", code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop")
		}
		return stderr.String()
	}
	// The clock is well past the samples (November 2026): once the
	// prefixes are listed to their end, the watermark passes them all.
	serveOnce(func() bool { return slices.Equal(got(), want) }, "hunt's alerts")
	if _, err := os.Stat(filepath.Join(dir, "s.db.ledger")); err != nil {
		t.Errorf("ledger beside the state: %v", err)
	}
	s3srv.Reset()
	logs := serveOnce(func() bool { return len(s3srv.Listings()) >= 6 }, "listings after the restart")
	for _, q := range s3srv.Listings() {
		if q.Get("delimiter") == "" && q.Get("start-after") == "" {
			t.Errorf("listing %v after the restart: not from a position", q)
		}
	}
	if n := len(got()); n != len(want) {
		t.Errorf("%d alerts after the restart, want %d", n, len(want))
	}
	if data, _ := os.ReadFile(out); len(jsonlIDs(t, string(data))) != len(want) {
		t.Errorf("alerts written twice:\n%s", logs)
	}
}
