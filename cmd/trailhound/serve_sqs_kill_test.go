package main

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trailhound/trailhound/s3trail"
	"github.com/trailhound/trailhound/s3trail/s3test"
	"github.com/trailhound/trailhound/sqsinput/sqstest"
)

// serve killed with SIGKILL at random points, six times, while it works
// through S3 notifications on SQS of generated CloudTrail in an
// S3-compatible store, and restarted each time, ends with exactly hunt's
// alerts in the Elasticsearch index (keyed by _id: each once) and in the
// union of its JSON Lines outputs: none lost, none extra. The notifications
// are sent as a trail sends them, spread over time (one file of 5 minutes
// of events every 20 ms); the messages a killed process had out come back
// after the visibility timeout (1 s), after newer ones: the restarted
// process decides nothing until they are in (SQSInput.Holding), so none of
// their records is late with the default lateness (20 min). A last SIGTERM
// drains and exits 0.
func TestKilledServeSQSReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	awsTestEnv(t)
	dir := t.TempDir()
	files, want := genHunted(t, dir, "4MB", 100)

	const bucket = "trail-bucket"
	s3srv := s3test.New(t)
	q := sqstest.New(t, "trail")
	const step = 20 * time.Millisecond
	var keys []string
	for i, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		at, ok := s3trail.NameTime(name)
		if !ok {
			t.Fatalf("%s: not named like a CloudTrail file", name)
		}
		key := fmt.Sprintf("AWSLogs/000000000000/CloudTrail/us-east-1/%s/%s", at.Format("2006/01/02"), name)
		etag := strings.Trim(s3srv.Put(t, bucket, key, body), `"`)
		q.Send("trail", sqstest.S3Event(bucket, key, etag, len(body)), time.Duration(i)*step)
		keys = append(keys, key)
	}
	feedEnd := time.Now().Add(time.Duration(len(files)) * step)

	idx := &bulkIndex{writes: map[string]int{}}
	es := httptest.NewServer(idx)
	defer es.Close()
	cfg := filepath.Join(dir, "serve.yaml")
	// Crashes count toward max_receive (a message out at a crash is received
	// again): a message held for its window across the six kills must not
	// turn into poison here.
	os.WriteFile(cfg, fmt.Appendf(nil, `state: %s
checkpoint_interval: 50ms
max_future: -1s # the sentinel of 2099 closes the windows
sqs:
  queue_url: %s
  endpoint: %s
  s3_endpoint: %s
  visibility: 1s
  max_receive: 10
sinks:
  - type: elasticsearch
    url: %s
`, filepath.Join(dir, "serve.db"), q.QueueURL("trail"), q.URL, s3srv.URL, es.URL), 0o644)
	var outs []string
	start := func() *exitWatch {
		out := filepath.Join(dir, fmt.Sprintf("run%d.jsonl", len(outs)))
		outs = append(outs, out)
		return watch(trailhound(t, filepath.Join(dir, "stdout"), "serve", "--config", cfg, "--out", out, "--log-level", "warn"))
	}
	seed := time.Now().UnixNano()
	if s, err := strconv.ParseInt(os.Getenv("TRAILHOUND_KILL_SEED"), 10, 64); err == nil {
		seed = s // to replay the kill points of a failed run
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("kill points from seed %d", seed)
	for kills := 1; kills <= 6; kills++ {
		receives := q.Calls("ReceiveMessage")
		cmd := start()
		// the random point counts from its first receive: on a loaded
		// machine starting can take longer than the whole range
		for wait := time.Now().Add(30 * time.Second); q.Calls("ReceiveMessage") == receives && time.Now().Before(wait) && !cmd.exited(); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(300+rng.IntN(2700)) * time.Millisecond)
		if cmd.exited() {
			t.Fatalf("serve exited by itself: %v", cmd.err)
		}
		cmd.cmd.Process.Signal(syscall.SIGKILL)
		cmd.wait()
		_, _, deleted := q.Counts("trail")
		t.Logf("kill %d: %d messages deleted, %d ids in the index, %d writes", kills, deleted, idx.count(), idx.total())
	}
	final := start()
	// Once every notification was sent and the final run has received what
	// the killed ones had out (back after the visibility timeout), a record
	// far in event time closes every window of the data.
	deadline := time.Now().Add(90 * time.Second)
	started := time.Now()
	for {
		visible, _, _ := q.Counts("trail")
		if visible == 0 && time.Now().After(feedEnd) && time.Since(started) > 3*time.Second {
			break
		}
		if time.Now().After(deadline) || final.exited() {
			t.Fatalf("the final run did not receive every message (%d visible); exited: %v", visible, final.exited())
		}
		time.Sleep(20 * time.Millisecond)
	}
	const sentinelKey = "AWSLogs/000000000000/CloudTrail/us-east-1/2099/01/01/000000000000_CloudTrail_us-east-1_20990101T0005Z_sentinel.json"
	sentinel := `{"eventVersion":"1.08","eventTime":"2099-01-01T00:00:00Z","eventSource":"sentinel.trailhound.test","eventName":"Sentinel","eventID":"sentinel","awsRegion":"us-east-1"}`
	q.Send("trail", sqstest.S3Event(bucket, sentinelKey, strings.Trim(s3srv.Put(t, bucket, sentinelKey, []byte(sentinel)), `"`), len(sentinel)), 0)
	for n, since := idx.count(), time.Now(); idx.count() < len(want) && time.Since(since) < 15*time.Second && !final.exited(); {
		if c := idx.count(); c != n {
			n, since = c, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything extra would show
	// and every data message is acknowledged (deleted) once its alerts are
	for wait := time.Now().Add(15 * time.Second); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		if v, f, deleted := q.Counts("trail"); v+f == 1 && deleted == len(keys) {
			break
		}
	}
	final.cmd.Process.Signal(syscall.SIGTERM)
	if err := final.wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v (want exit 0); its stderr ends:\n%s", err, stderrTail(filepath.Join(dir, "stdout")))
	}

	rewrites := checkDelivered(t, idx, outs, want)
	if v, f, deleted := q.Counts("trail"); v+f != 1 || deleted != len(keys) {
		t.Errorf("queue: %d visible, %d in flight, %d deleted; want every data message deleted, the sentinel's left", v, f, deleted)
	}
	t.Logf("6 kills; %d objects; hunt's %d alerts each in the index once (%d redelivered writes of the same _id, at-least-once)", len(keys), len(want), rewrites)
}
