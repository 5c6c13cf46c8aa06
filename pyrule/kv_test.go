package pyrule

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/hunt"
	"github.com/trailhound/trailhound/state"
)

// orderStore is a state store that notes each save (with the KV cache or
// without) and whether the alerts emitted before it were flushed.
type orderStore struct {
	*state.Bolt
	log              []string
	emitted, flushed int
}

func (s *orderStore) Save(rules map[string]*state.Rule) error {
	what := "rules"
	if rules[CacheStateID] != nil {
		what = "cache"
	}
	if s.flushed != s.emitted {
		what += " (alerts not flushed)"
	}
	s.log = append(s.log, what)
	return s.Bolt.Save(rules)
}

// The KV cache is saved at a mid-hunt checkpoint, after the alerts so far
// are flushed and the rules' state is saved: a hunt killed after it leaves
// the cache in the state file.
func TestCacheCheckpoint(t *testing.T) {
	needPython(t)
	rules, rt := load(t, "testdata/checkout", Options{Workers: 1})
	dir := t.TempDir()
	// two delivery files a day apart: the first, read, lets the watermark
	// past it and the hunt checkpoint before it reads the second
	day1 := filepath.Join(dir, "111122223333_CloudTrail_us-east-1_20240501T1000Z_a.json")
	day2 := filepath.Join(dir, "111122223333_CloudTrail_us-east-1_20240502T1000Z_b.json")
	os.WriteFile(day1, []byte(`{"Records":[`+rec("CreateUser", 0, `,"requestParameters":{"userName":"carol"}`)+`,`+rec("CreateAccessKey", 1, `,"requestParameters":{"userName":"bob"}`)+`]}`), 0o644)
	os.WriteFile(day2, []byte(`{"Records":[{"eventVersion":"1.08","eventTime":"2024-05-02T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser","userName":"dave"},"eventID":"l1"}]}`), 0o644)
	path := filepath.Join(t.TempDir(), "state.db")
	bolt, err := state.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	st := &orderStore{Bolt: bolt}
	eng, err := engine.Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	res, err := hunt.Run(context.Background(), eng, hunt.Options{
		Paths: []string{dir}, Workers: 1, Store: st, Checkpoint: time.Nanosecond, Prepare: rt.Prepare,
		Emit:   func(as []alert.Alert) error { st.emitted += len(as); return nil },
		Flush:  func() error { st.flushed = st.emitted; return nil },
		Commit: func() error { return rt.SaveCache(st) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Alerts["panther:Test.KeyCreated"] != 1 {
		t.Errorf("alerts: %v", res.Summary.Alerts)
	}
	// no res.Commit: as if the hunt were killed here
	if got := strings.Join(st.log, ", "); got != "rules, cache" {
		t.Errorf("saves during the hunt: %s; want the rules' state, then the cache (once: it did not change after)", got)
	}
	bolt.Close()
	bolt, err = state.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	r, err := bolt.Load(CacheStateID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Pending["new:carol"]; !ok {
		t.Errorf("the cache saved at the checkpoint lacks new:carol: %v", r.Pending)
	}
}
