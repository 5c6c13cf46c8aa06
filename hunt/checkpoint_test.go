package hunt

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/state"
	"github.com/trailhound/trailhound/synth"
)

// savingStore is the in-memory store, counting the saves and the alerts
// emitted before each.
type savingStore struct {
	*state.Memory
	saves   int
	emitted *int
	flushed *int
	atSave  []int // alerts emitted when each save came
	unacked int   // saves that came with emitted alerts not flushed
}

func (s *savingStore) Save(rules map[string]*state.Rule) error {
	s.saves++
	s.atSave = append(s.atSave, *s.emitted)
	if *s.flushed != *s.emitted {
		s.unacked++
	}
	return s.Memory.Save(rules)
}

// With Checkpoint, the state is committed while the hunt runs, each time
// after the alerts emitted so far were flushed, and the alerts are those
// of a hunt without checkpoints.
func TestCheckpoints(t *testing.T) {
	eng := builtinEngine(t)
	recs, err := synth.Load([]string{"../testdata/samples"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := synth.Generate(context.Background(), recs, synth.Options{Size: 8 << 20, OutDir: dir, Ordered: true}); err != nil {
		t.Fatal(err)
	}
	plain, err := Run(context.Background(), eng, Options{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}

	var emitted, flushed int
	var got []alert.Alert
	store := &savingStore{Memory: state.NewMemory(), emitted: &emitted, flushed: &flushed}
	res, err := Run(context.Background(), eng, Options{
		Paths: []string{dir}, Store: store, Workers: 2, Checkpoint: time.Nanosecond,
		Emit:  func(as []alert.Alert) error { got = append(got, as...); emitted += len(as); return nil },
		Flush: func() error { flushed = emitted; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if store.saves < 2 {
		t.Fatalf("%d saves during the hunt; want several", store.saves)
	}
	if store.unacked > 0 {
		t.Errorf("%d saves came before the alerts emitted were flushed", store.unacked)
	}
	if !slices.ContainsFunc(store.atSave, func(n int) bool { return n > 0 && n < len(plain.Alerts) }) {
		t.Errorf("no save between the first alert and the last (alerts emitted at each save: %v)", store.atSave)
	}
	if err := res.Commit(); err != nil {
		t.Fatal(err)
	}
	alert.Sort(got)
	if len(got) != len(plain.Alerts) {
		t.Fatalf("%d alerts with checkpoints, %d without", len(got), len(plain.Alerts))
	}
	for i := range got {
		if got[i].ID != plain.Alerts[i].ID {
			t.Fatalf("alert %d: %s with checkpoints, %s without", i, got[i].ID, plain.Alerts[i].ID)
		}
	}
	t.Logf("%d alerts, %d saves", len(got), store.saves)
}
