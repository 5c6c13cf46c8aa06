package serve

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/trailhound/trailhound/alert"
)

// sliceInput delivers its batches, then waits for the end.
type sliceInput struct {
	batches   []*Batch
	delivered atomic.Int64
	acked     atomic.Int64
}

func (s *sliceInput) Name() string { return "slice" }

func (s *sliceInput) Run(ctx context.Context, deliver func(*Batch) error) error {
	for _, b := range s.batches {
		b.Ack = func() { s.acked.Add(1) }
		if err := deliver(b); err != nil {
			return nil
		}
		s.delivered.Add(1)
	}
	<-ctx.Done()
	return nil
}

// gate is a sink that holds Deliver until it is opened.
type gate struct {
	mu      sync.Mutex
	open    chan struct{}
	got     []alert.Alert
	waiting atomic.Int32 // Deliver calls held
}

func (g *gate) Deliver(ctx context.Context, as []alert.Alert) error {
	g.waiting.Add(1)
	defer g.waiting.Add(-1)
	select {
	case <-g.open: // open: taken, even if ctx ends now (a select would pick either)
	default:
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.mu.Lock()
	g.got = append(g.got, as...)
	g.mu.Unlock()
	return nil
}

func (g *gate) Close(context.Context) error { return nil }

// A sink that does not take alerts (its outbox full) stops the workers
// once the bytes read since the last checkpoint reach MaxUnchecked, and so
// the input; when it takes them again everything goes through, and
// nothing is acknowledged before its alerts are delivered.
func TestBackPressure(t *testing.T) {
	in := &sliceInput{}
	for i := range 200 {
		// GetCallerIdentity by a user not seen before: the built-in
		// new-terms rule raises each; an hour apart, they move the watermark
		rec := fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2026-11-%02dT%02d:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","eventID":"e%d","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u%d","accountId":"1"},"sourceIPAddress":"198.51.100.%d","awsRegion":"us-east-1","recipientAccountId":"1"}`,
			1+i/24, i%24, i, i, i%200)
		in.batches = append(in.batches, &Batch{Name: fmt.Sprint("b", i), Data: []byte(rec)})
	}
	g := &gate{open: make(chan struct{})}
	m := NewMetrics()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Engine: builtinEngine(t), Inputs: []Input{in}, Outputs: []*Output{{Name: "gate", Deliverer: g}},
			Lateness: time.Minute, Interval: 5 * time.Millisecond, Workers: 2, MaxUnchecked: 2000, Metrics: m, Log: testLog(t), Now: farClock})
	}()
	// held: the sink holds a checkpoint's alerts, and both workers have
	// stopped for it (then only the batches queue has room, and nothing is
	// taken after them)
	waitFor(t, 30*time.Second, "the sink holding alerts and both workers stopped", func() bool {
		return g.waiting.Load() == 1 && testutil.ToFloat64(m.Waiting) == 2
	})
	stalled := in.delivered.Load()
	if stalled >= int64(len(in.batches)) {
		t.Errorf("%d of %d batches taken while the sink held its alerts", stalled, len(in.batches))
	}
	if in.acked.Load() != 0 {
		t.Errorf("%d batches acknowledged before their alerts were delivered", in.acked.Load())
	}
	close(g.open)
	waitFor(t, 30*time.Second, "every batch", func() bool { return in.delivered.Load() == int64(len(in.batches)) })
	waitFor(t, 30*time.Second, "acknowledgements", func() bool { return in.acked.Load() > 100 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.got) == 0 {
		t.Error("no alert delivered")
	}
	t.Logf("%d batches taken while held; %d alerts, %d batches acknowledged", stalled, len(g.got), in.acked.Load())
}

// A stop while a checkpoint waits on a sink is a normal stop: the
// checkpoint under way has the grace period to deliver (the sink takes the
// alerts after the stop), and Run returns nil.
func TestStopWhileDelivering(t *testing.T) {
	in := &sliceInput{}
	for i := range 3 {
		rec := fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2026-11-01T%02d:00:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","eventID":"e%d","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u%d","accountId":"1"},"sourceIPAddress":"198.51.100.%d","awsRegion":"us-east-1","recipientAccountId":"1"}`,
			i, i, i, i)
		in.batches = append(in.batches, &Batch{Name: fmt.Sprint("b", i), Data: []byte(rec)})
	}
	g := &gate{open: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Engine: builtinEngine(t), Inputs: []Input{in}, Outputs: []*Output{{Name: "gate", Deliverer: g}},
			Lateness: time.Minute, Interval: 5 * time.Millisecond, Workers: 1, Grace: time.Minute, Log: testLog(t), Now: farClock})
	}()
	waitFor(t, 30*time.Second, "the sink holding alerts", func() bool { return g.waiting.Load() == 1 })
	cancel()
	// the stop first, then the sink takes them (the sleep only orders the
	// two: a sink that took them before the stop would pass either way)
	time.Sleep(200 * time.Millisecond)
	close(g.open)
	if err := <-done; err != nil {
		t.Fatalf("a stop during a checkpoint's delivery: %v", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.got) == 0 {
		t.Error("the alerts held at the stop were not delivered")
	}
}

// With Idle, a quiet input's watermark moves on with the wall clock: the
// samples' last windows close without a later record, and the alerts are
// hunt's. Without it they wait.
func TestIdleAdvance(t *testing.T) {
	eng := builtinEngine(t)
	want := huntIDs(t, eng, samples)
	for _, idle := range []time.Duration{0, time.Minute} {
		in := &sliceInput{}
		for _, f := range sampleFiles(t) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in.batches = append(in.batches, &Batch{Name: f, Data: data})
		}
		var clock atomic.Int64
		clock.Store(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC).UnixNano())
		g := &gate{open: make(chan struct{})}
		close(g.open)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Run(ctx, Options{Engine: eng, Inputs: []Input{in}, Outputs: []*Output{{Name: "gate", Deliverer: g}},
				Lateness: time.Hour, Interval: 5 * time.Millisecond, Idle: idle, Log: testLog(t),
				Now: func() time.Time { return time.Unix(0, clock.Load()) }})
		}()
		waitFor(t, 30*time.Second, "the samples read", func() bool { return in.delivered.Load() == int64(len(in.batches)) })
		time.Sleep(100 * time.Millisecond)
		clock.Add(int64(48 * time.Hour)) // two quiet days
		ids := func() []string {
			g.mu.Lock()
			defer g.mu.Unlock()
			var ids []string
			for _, a := range g.got {
				ids = append(ids, a.ID)
			}
			slices.Sort(ids)
			return slices.Compact(ids)
		}
		if idle > 0 {
			waitFor(t, 30*time.Second, "hunt's alerts", func() bool { return slices.Equal(ids(), want) })
			waitFor(t, 30*time.Second, "every batch acknowledged", func() bool { return in.acked.Load() == int64(len(in.batches)) })
		} else {
			time.Sleep(200 * time.Millisecond)
			if got := ids(); len(got) >= len(want) {
				t.Errorf("without Idle: %d alerts of %d decided with no later record", len(got), len(want))
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
