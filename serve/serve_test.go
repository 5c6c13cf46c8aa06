package serve

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trailhound/trailhound/state"
)

// harness is a service run in process with an HTTP input, a JSON Lines
// file and an Elasticsearch bulk sink.
type harness struct {
	t      *testing.T
	dir    string
	http   *HTTPInput
	es     *fakeES
	out    string
	cancel context.CancelFunc
	done   chan error
	m      *Metrics
}

const testToken = "s3cret-token"

// startHTTP starts a service over state dir (kept across restarts).
var lateness = 24 * time.Hour

func startHTTP(t *testing.T, dir string, es *fakeES, extra ...Input) *harness {
	t.Helper()
	return startHTTPWith(t, dir, es, nil, extra...)
}

// startHTTPWith is startHTTP with opts changing the service's options.
func startHTTPWith(t *testing.T, dir string, es *fakeES, opts func(*Options), extra ...Input) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir, es: es, out: filepath.Join(dir, "alerts.jsonl"), done: make(chan error, 1), m: NewMetrics()}
	log := testLog(t)
	st, err := state.OpenBolt(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	h.http = &HTTPInput{Addr: "127.0.0.1:0", Tokens: []string{testToken}, SpoolDir: filepath.Join(dir, "spool"), Metrics: h.m, Log: log, MaxBody: 1 << 20}
	if err := h.http.Listen(); err != nil {
		t.Fatal(err)
	}
	file, err := OpenFileSink("jsonl", h.out, nil, h.m)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := OpenOutbox("es", filepath.Join(dir, "outbox-es"), &Elasticsearch{URL: es.srv.URL}, 0, h.m, log)
	if err != nil {
		t.Fatal(err)
	}
	ob.MinBackoff, ob.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	o := Options{
		Engine: builtinEngine(t), Store: st, Inputs: append([]Input{h.http}, extra...),
		Outputs:  []*Output{{Name: "jsonl", Deliverer: file}, {Name: "es", Deliverer: ob}},
		Lateness: lateness, Interval: 20 * time.Millisecond, Workers: 2, Metrics: h.m, Log: log, Grace: 5 * time.Second,
		Now: farClock,
	}
	if opts != nil {
		opts(&o)
	}
	go func() {
		err := Run(ctx, o)
		st.Close()
		h.done <- err
	}()
	return h
}

// stop drains the service (as SIGTERM does) and returns Run's error.
func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		return err
	case <-time.After(20 * time.Second):
		h.t.Fatal("serve did not stop")
		return nil
	}
}

func (h *harness) post(body []byte, header map[string]string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+h.http.ListenAddr()+"/v1/records", strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (h *harness) spool() []string {
	ents, _ := os.ReadDir(h.http.SpoolDir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// The shipped samples posted over HTTP (a gzip delivery file, a JSON
// array, JSON Lines) give hunt's alerts, in the JSON Lines file and in
// Elasticsearch, in order or not (within the lateness); the bodies whose
// records are decided leave the spool; after a drain and a restart nothing
// is delivered twice to the index.
func TestHTTPServeMatchesHunt(t *testing.T) {
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	if len(want) == 0 {
		t.Fatal("hunt raised no alert over the samples")
	}
	for _, order := range []string{"in name order", "reversed"} {
		t.Run(order, func(t *testing.T) { httpMatchesHunt(t, want, order == "reversed") })
	}
}

func httpMatchesHunt(t *testing.T, want []string, reversed bool) {
	dir := t.TempDir()
	es := newFakeES(t)
	h := startHTTP(t, dir, es)
	files := sampleFiles(t)
	if reversed { // out of order, within the lateness
		slices.Reverse(files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if resp := h.post(data, nil); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: status %d", f, resp.StatusCode)
		}
	}
	again, _ := os.ReadFile(filepath.Join(samples, "lambda-backdoor.json")) // delivered twice: the same alerts
	if resp := h.post(again, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("again: status %d", resp.StatusCode)
	}
	if resp := h.post([]byte(sentinel), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sentinel: status %d", resp.StatusCode)
	}
	waitFor(t, 30*time.Second, "hunt's alerts in Elasticsearch", func() bool { return slices.Equal(es.ids(), want) })
	waitFor(t, 30*time.Second, "the second delivery counted", func() bool {
		return testutil.ToFloat64(h.m.Duplicates)+testutil.ToFloat64(h.m.Known) > 0
	})
	waitFor(t, 30*time.Second, "the decided bodies to leave the spool", func() bool { return len(h.spool()) == 1 })
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if got := jsonlIDs(t, h.out); !slices.Equal(got, want) {
		t.Errorf("JSON Lines ids\n got %v\nwant %v", got, want)
	}
	// The sentinel's body stays spooled (its window is open): a restart
	// replays it onto the committed state and raises nothing again.
	h = startHTTP(t, dir, es)
	time.Sleep(300 * time.Millisecond)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	for id, n := range es.writes {
		if n != 1 {
			t.Errorf("alert %s indexed %d times", id, n)
		}
	}
	if got := jsonlIDs(t, h.out); !slices.Equal(got, want) {
		t.Errorf("after a restart, JSON Lines ids\n got %v\nwant %v", got, want)
	}
}
