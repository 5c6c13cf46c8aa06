package serve

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Bodies a careless or hostile sender posts: the valid records beside bad
// ones still alert (hunt's ids for the valid records alone), and what is
// not evaluated is counted and never silent: broken records as input
// errors, JSON that is not CloudTrail and CloudTrail digests as skipped
// documents (kind other and digest).
func TestHTTPHostileBodies(t *testing.T) {
	eng := builtinEngine(t)
	valid := filepath.Join(samples, "snapshot-sharing.jsonl")
	want := huntIDs(t, eng, valid)
	if len(want) == 0 {
		t.Fatal("hunt raised no alert over the sample")
	}
	data, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	const (
		bad    = `{"eventTime": "2026-11-03T14:00:00Z", "eventName": ` // cut short
		other  = `{"kind":"heartbeat","host":"collector-1"}`
		digest = `{"awsAccountId":"210987654321","digestStartTime":"2026-11-03T13:00:00Z","digestEndTime":"2026-11-03T14:00:00Z","digestS3Bucket":"b","digestS3Object":"o","logFiles":[]}`
	)
	// one JSON Lines body: every valid line, a broken one, a heartbeat and
	// a digest in between
	var body bytes.Buffer
	for i, l := range lines {
		body.Write(l)
		body.WriteByte('\n')
		switch i {
		case 0:
			body.WriteString(bad + "\n")
		case 1:
			body.WriteString(other + "\n")
		case 2:
			body.WriteString(digest + "\n")
		}
	}
	// a gzip body cut short: what it held before the cut is read
	zipped := gz(t, []byte(other+"\n"+other+"\n"+sentinel[:40]))
	h := startHTTP(t, t.TempDir(), newFakeES(t))
	for _, b := range [][]byte{body.Bytes(), zipped[:len(zipped)-6], []byte("[" + other + "," + digest + "]"), []byte(sentinel)} {
		if resp := h.post(b, nil); resp.StatusCode != 202 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	waitFor(t, 30*time.Second, "hunt's alerts of the valid records", func() bool { return slices.Equal(h.es.ids(), want) })
	waitFor(t, 30*time.Second, "every body read", func() bool {
		return testutil.ToFloat64(h.m.Records.WithLabelValues("http")) == float64(len(lines)+1)
	})
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := jsonlIDs(t, h.out); !slices.Equal(got, want) {
		t.Errorf("JSON Lines ids\n got %v\nwant %v", got, want)
	}
	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"input errors (the broken record, the cut gzip)", testutil.ToFloat64(h.m.InputErrors.WithLabelValues("http")), 2},
		{"skipped documents that are not CloudTrail", testutil.ToFloat64(h.m.InputSkipped.WithLabelValues("http", "other")), 4},
		{"skipped digests", testutil.ToFloat64(h.m.InputSkipped.WithLabelValues("http", "digest")), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}
