package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// bulkIndex is an Elasticsearch bulk endpoint keyed by _id: it holds one
// document per id and counts how often each was written.
type bulkIndex struct {
	mu     sync.Mutex
	writes map[string]int
}

func (b *bulkIndex) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 64<<20)
	var items []map[string]any
	b.mu.Lock()
	for sc.Scan() {
		var action struct {
			Index struct {
				ID string `json:"_id"`
			} `json:"index"`
		}
		if json.Unmarshal(sc.Bytes(), &action) != nil || action.Index.ID == "" || !sc.Scan() {
			b.mu.Unlock()
			http.Error(w, "bad bulk body", http.StatusBadRequest)
			return
		}
		b.writes[action.Index.ID]++
		items = append(items, map[string]any{"index": map[string]any{"_id": action.Index.ID, "status": 201}})
	}
	b.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"errors": false, "items": items})
}

// total counts the writes, a rewrite of an id included.
func (b *bulkIndex) total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, w := range b.writes {
		n += w
	}
	return n
}

func (b *bulkIndex) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.writes)
}

// serve killed with SIGKILL at spread-out points while it works through
// generated CloudTrail consumed from Kafka, and restarted each time, ends
// with exactly hunt's alerts in the Elasticsearch index (keyed by _id, so
// each once) and in the union of its JSON Lines outputs: none lost, none
// extra. A last SIGTERM drains and exits 0.
func TestKilledServeReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	files, want := genHunted(t, dir, "12MB", 300)

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "trail"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ProducerBatchMaxBytes(900<<10), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: "trail", Value: b})
	}
	// a record far in event time, so every window of the data closes (the
	// config lifts max_future, which would take it for a wrong clock)
	sentinel := `{"eventVersion":"1.08","eventTime":"2099-01-01T00:00:00Z","eventSource":"sentinel.trailhound.test","eventName":"Sentinel","eventID":"sentinel","awsRegion":"us-east-1"}`
	recs = append(recs, &kgo.Record{Topic: "trail", Value: []byte(sentinel)})
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	idx := &bulkIndex{writes: map[string]int{}}
	es := httptest.NewServer(idx)
	defer es.Close()
	cfg := filepath.Join(dir, "serve.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, "state: %s\ncheckpoint_interval: 50ms\nmax_future: -1s\nkafka:\n  session_timeout: 6s\n  rebalance_timeout: 10s\nsinks:\n  - type: elasticsearch\n    url: %s\n", filepath.Join(dir, "serve.db"), es.URL), 0o644)
	args := func(out string) []string {
		return []string{"serve", "--config", cfg, "--kafka-brokers", c.ListenAddrs()[0], "--kafka-topic", "trail", "--out", out, "--log-level", "info"}
	}
	var outs []string
	stdout := filepath.Join(dir, "stdout")
	stderr := stdout + ".stderr"
	start := func() *exitWatch {
		out := filepath.Join(dir, fmt.Sprintf("run%d.jsonl", len(outs)))
		outs = append(outs, out)
		return watch(trailhound(t, stdout, args(out)...))
	}
	// kills: one during start-up, then as the index fills
	kills := 0
	for _, frac := range []float64{0, 0.15, 0.35, 0.55, 0.75, 0.9} {
		begun := groupSessions(t, stderr)
		cmd := start()
		target := int(frac * float64(len(want)))
		if frac == 0 || idx.count() >= target {
			// Never while its JoinGroup is answered: kfake gives a member
			// whose join answer cannot be delivered no session timer, and
			// once the leader has synced nothing removes it, so a member
			// killed then keeps the partition it was given until another
			// member joins (Kafka schedules the session's expiry as it
			// completes a join: docs/serve.md). That stalled the next
			// instance for the rest of its time, or the last one for good.
			deadline := time.Now().Add(60 * time.Second)
			for groupSessions(t, stderr) == begun && time.Now().Before(deadline) && !cmd.exited() {
				time.Sleep(5 * time.Millisecond)
			}
			if groupSessions(t, stderr) == begun && !cmd.exited() {
				t.Fatalf("instance %d joined no group session in 60 s; the stderr of the instances ends:\n%s", kills+1, stderrTail(stdout))
			}
			// during start-up, or the last run went past this point:
			// once this one has written something, or a moment after
			w0, deadline := idx.total(), time.Now().Add(time.Duration(200+100*kills)*time.Millisecond)
			for idx.total() == w0 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
		} else {
			deadline := time.Now().Add(60 * time.Second)
			for idx.count() < target && time.Now().Before(deadline) && !cmd.exited() {
				time.Sleep(2 * time.Millisecond)
			}
			if !time.Now().Before(deadline) { // what it said, should a stall come back
				t.Logf("instance %d delivered nothing new in 60 s; the stderr of the instances ends:\n%s", kills+1, stderrTail(stdout))
			}
		}
		if cmd.exited() {
			t.Fatalf("serve exited by itself: %v", cmd.err)
		}
		cmd.cmd.Process.Signal(syscall.SIGKILL)
		cmd.wait()
		kills++
		t.Logf("kill %d (aimed at %.0f%% of the alerts): %d ids in the index, %d writes", kills, frac*100, idx.count(), idx.total())
	}
	final := start()
	deadline := time.Now().Add(90 * time.Second)
	for idx.count() < len(want) && time.Now().Before(deadline) && !final.exited() {
		time.Sleep(20 * time.Millisecond)
	}
	if n := idx.count(); n < len(want) { // what the last instance said, to tell why
		t.Logf("the last instance delivered %d of %d alerts in 90 s; its stderr ends:\n%s", n, len(want), stderrTail(stdout))
	}
	time.Sleep(300 * time.Millisecond) // anything extra would show
	final.cmd.Process.Signal(syscall.SIGTERM)
	if err := final.wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v (want exit 0); its stderr ends:\n%s", err, stderrTail(stdout))
	}

	rewrites := checkDelivered(t, idx, outs, want)
	t.Logf("%d kills; hunt's %d alerts each in the index once (%d redelivered writes of the same _id, at-least-once)", kills, len(want), rewrites)
}

// groupSessions counts the consumer group sessions that the serve
// processes logging to stderr (at info) have begun: the Kafka client's line
// after its JoinGroup and SyncGroup are answered.
func groupSessions(t *testing.T, stderr string) int {
	t.Helper()
	b, err := os.ReadFile(stderr)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte(`"msg":"kafka: new group session begun"`))
}

// exitWatch waits for a process in the background.
type exitWatch struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func watch(cmd *exec.Cmd) *exitWatch {
	w := &exitWatch{cmd: cmd, done: make(chan struct{})}
	go func() { w.err = cmd.Wait(); close(w.done) }()
	return w
}

func (w *exitWatch) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *exitWatch) wait() error { <-w.done; return w.err }

// checkDelivered checks that every alert of want, and no other, reached both
// the bulk index and the JSON Lines files outs (at least once across
// restarts), and returns how many index writes repeated an _id.
func checkDelivered(t *testing.T, idx *bulkIndex, outs []string, want map[string]bool) int {
	t.Helper()
	idx.mu.Lock()
	defer idx.mu.Unlock()
	var lost, extra []string
	rewrites := 0
	for id := range want {
		if idx.writes[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id, n := range idx.writes {
		if !want[id] {
			extra = append(extra, id)
		}
		rewrites += n - 1
	}
	if len(lost) > 0 || len(extra) > 0 {
		t.Errorf("index: %d alerts lost (e.g. %v), %d extra (e.g. %v)", len(lost), first(lost), len(extra), first(extra))
	}
	got := map[string]string{}
	for _, o := range outs {
		if _, err := os.Stat(o); errors.Is(err, fs.ErrNotExist) {
			continue // killed while starting, before it opened its sinks
		}
		alertIDs(t, o, got)
	}
	lost, extra = nil, nil
	for id := range want {
		if _, ok := got[id]; !ok {
			lost = append(lost, id)
		}
	}
	for id := range got {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	if len(lost) > 0 || len(extra) > 0 {
		t.Errorf("JSON Lines: %d alerts lost (e.g. %v), %d extra (e.g. %v)", len(lost), first(lost), len(extra), first(extra))
	}
	return rewrites
}

// genHunted generates size of time-ordered CloudTrail delivery files (gzip,
// 192 KB, from the samples) into dir/data and returns the files
// in time order, and the ids of the alerts hunt raises over them (at least
// minimum).
func genHunted(t *testing.T, dir, size string, minimum int) (files []string, want map[string]bool) {
	t.Helper()
	data := filepath.Join(dir, "data")
	if code, _, errs := runCmd(t, "gen", "--size", size, "--file-size", "192KB", "--period", "3h", "--ordered", "--gzip", "--out", data, "../../testdata/samples"); code != 0 {
		t.Fatal(errs)
	}
	files, _ = filepath.Glob(filepath.Join(data, "*"))
	sort.Strings(files) // CloudTrail names: time order
	code, out, errs := runCmd(t, "hunt", "-q", "-f", "jsonl", data)
	if code != 0 {
		t.Fatalf("hunt: exit %d: %s", code, errs)
	}
	want = map[string]bool{}
	for line := range bytes.Lines([]byte(out)) {
		var a struct{ ID string }
		if json.Unmarshal(line, &a) == nil {
			want[a.ID] = true
		}
	}
	if len(want) < minimum {
		t.Fatalf("hunt raised only %d alerts", len(want))
	}
	return files, want
}
