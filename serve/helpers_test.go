package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/builtin"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/hunt"
)

const samples = "../testdata/samples"

// sentinel is a record far in event time that no rule matches: posted
// last, it moves the watermark past every window of the samples, as event
// time passing does in a live stream.
const sentinel = `{"eventVersion":"1.08","eventTime":"2099-01-01T00:00:00Z","eventSource":"sentinel.trailhound.test","eventName":"Sentinel","eventID":"00000000-0000-4000-8000-000000000000","awsRegion":"us-east-1"}`

// farClock is the wall clock of tests whose records are of 2026 and whose
// sentinel is of 2099: an hour after the sentinel, so that none of their
// records is ahead of the clock (Options.MaxFuture), whatever the
// machine's clock says.
func farClock() time.Time { return time.Date(2099, 1, 1, 1, 0, 0, 0, time.UTC) }

func builtinEngine(t testing.TB) *engine.Engine {
	t.Helper()
	rs, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// huntIDs is what hunt raises over paths: the ids, sorted.
func huntIDs(t *testing.T, eng *engine.Engine, paths ...string) []string {
	t.Helper()
	res, err := hunt.Run(context.Background(), eng, hunt.Options{Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range res.Alerts {
		ids = append(ids, a.ID)
	}
	sort.Strings(ids)
	return slices.Compact(ids)
}

// sampleFiles are the shipped samples, in name order.
func sampleFiles(t *testing.T) []string {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join(samples, "*"))
	if err != nil || len(fs) == 0 {
		t.Fatalf("no samples in %s: %v", samples, err)
	}
	sort.Strings(fs)
	return fs
}

// sampleBodies are the shipped samples' bytes, in name order.
func sampleBodies(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for _, f := range sampleFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// fakeES is an Elasticsearch bulk endpoint keyed by _id, checking the wire
// format: NDJSON action and document lines, an index action with _index
// and _id, and answering per item. fail, when set, decides the answer per
// request (0: normal) and per item.
type fakeES struct {
	t  *testing.T
	mu sync.Mutex
	// docs holds the latest document per _id; writes counts the index
	// operations that succeeded per _id.
	docs   map[string]json.RawMessage
	writes map[string]int
	// requests counts the bulk requests answered.
	requests int
	// status, when set, answers a whole request with its status (0:
	// handle it).
	status func(n int) int
	// item, when set, answers an item with a status (0: 201).
	item func(n int, id string) int
	srv  *httptest.Server
}

func newFakeES(t *testing.T) *fakeES {
	f := &fakeES{t: t, docs: map[string]json.RawMessage{}, writes: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	n := f.requests
	if r.Method != http.MethodPost || r.URL.Path != "/_bulk" {
		http.Error(w, "not a bulk request: "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		f.t.Errorf("bulk: %s %s", r.Method, r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		f.t.Errorf("bulk Content-Type %q", ct)
	}
	if f.status != nil {
		if s := f.status(n); s != 0 {
			w.WriteHeader(s)
			fmt.Fprintf(w, `{"error":{"type":"test","reason":"status %d"},"status":%d}`, s, s)
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	if !bytes.HasSuffix(body, []byte("\n")) {
		f.t.Errorf("bulk body does not end with a newline")
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 64<<20)
	type itemResp struct {
		Index map[string]any `json:"index"`
	}
	var items []itemResp
	anyErr := false
	for sc.Scan() {
		var action struct {
			Index *struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"index"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || action.Index == nil || action.Index.ID == "" || action.Index.Index == "" {
			f.t.Errorf("bad bulk action line %q: %v", sc.Text(), err)
			http.Error(w, "bad action", http.StatusBadRequest)
			return
		}
		if !sc.Scan() {
			f.t.Errorf("bulk action without a document")
			return
		}
		doc := json.RawMessage(slices.Clone(sc.Bytes()))
		var d struct {
			ID    string `json:"id"`
			Event struct {
				Kind string `json:"kind"`
			} `json:"event"`
		}
		if err := json.Unmarshal(doc, &d); err != nil || d.ID != action.Index.ID || d.Event.Kind != "alert" {
			f.t.Errorf("bulk document %.200s: id %q kind %q for _id %q: %v", doc, d.ID, d.Event.Kind, action.Index.ID, err)
		}
		st := 201
		if f.item != nil {
			if s := f.item(n, action.Index.ID); s != 0 {
				st = s
			}
		}
		it := map[string]any{"_index": action.Index.Index, "_id": action.Index.ID, "status": st}
		if st/100 != 2 {
			anyErr = true
			it["error"] = map[string]any{"type": "mapper_parsing_exception", "reason": "test failure"}
			if st == 429 {
				it["error"] = map[string]any{"type": "es_rejected_execution_exception", "reason": "queue full"}
			}
		} else {
			f.docs[action.Index.ID] = doc
			f.writes[action.Index.ID]++
		}
		items = append(items, itemResp{it})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": anyErr, "items": items})
}

// ids are the _ids held, sorted.
func (f *fakeES) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.docs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// linesIDs is the id of every alert line of a JSON Lines file (complete
// lines), in file order, repeats kept.
func linesIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var ids []string
	for line := range bytes.Lines(data) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			break // being written
		}
		var a struct{ ID string }
		if err := json.Unmarshal(line, &a); err != nil || a.ID == "" {
			t.Fatalf("%s: not an alert line: %.100s", path, line)
		}
		ids = append(ids, a.ID)
	}
	return ids
}

// jsonlIDs is linesIDs sorted and de-duplicated.
func jsonlIDs(t *testing.T, path string) []string {
	t.Helper()
	ids := linesIDs(t, path)
	sort.Strings(ids)
	return slices.Compact(ids)
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}
