package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/trailhound/trailhound/alert"
	"github.com/trailhound/trailhound/detect"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/hunt"
	"github.com/trailhound/trailhound/state"
)

// Options configure a service.
type Options struct {
	Engine  *engine.Engine
	Store   state.Store // rule state, committed at checkpoints (default: memory)
	Inputs  []Input
	Outputs []*Output
	// Lateness is how much older than an input's latest event time a
	// record may be and still be on time (default hunt.DefaultLateness).
	Lateness time.Duration
	// Interval is how often the watermark advances, alerts go to the
	// outputs, the state is committed and inputs are acknowledged
	// (default 1s).
	Interval  time.Duration
	Workers   int // batches scanned in parallel (default GOMAXPROCS)
	MaxRecord int // bytes; default record.DefaultMaxRecord
	GeoIP     *geoip.DB
	// NoEntityMapping turns off the actor/target entity fields.
	NoEntityMapping bool
	// Grace bounds how long a stop waits for outboxes to drain (default
	// 10s); what is left stays on disk and is sent at the next start.
	Grace time.Duration
	// MaxUnchecked bounds the bytes of batches read since the last
	// checkpoint (default 256 MiB): while a checkpoint waits (a sink's
	// outbox is full) the workers stop there, and so do the inputs,
	// instead of piling matches up in memory.
	MaxUnchecked int64
	// Idle, when positive, lets event time pass with the wall clock for an
	// input quiet that long: its watermark moves on from its latest event
	// time by the wall time since its last batch (records older than that,
	// when they come, are late). Without it a quiet input's open windows
	// wait for its next records.
	Idle time.Duration
	// MaxFuture bounds how far ahead of the wall clock (Now) a record's
	// event time may be (default DefaultMaxFuture; negative: no bound). A
	// later one is not used as the record's time: it does not move the
	// watermark (a wrong clock or a hostile sender would make every later
	// record late); rules that need no event time run on the record at the
	// time it was received, as on a record without event time, the others
	// skip it; it is counted (input_future_total) and logged.
	MaxFuture time.Duration
	// MaxDecompressed bounds what a gzip batch decompresses to (default
	// DefaultMaxDecompressed): past it the rest of the batch is not read,
	// and that is reported as an input error (HTTP bodies are checked
	// against HTTPInput.MaxDecompressed before they are taken).
	MaxDecompressed int64
	// StoreRetry bounds how long a checkpoint retries a state commit that
	// fails (Redis restarting or unreachable; default DefaultStoreRetry;
	// negative: no retry), with backoff, holding the acknowledgements (and,
	// once MaxUnchecked is read, the inputs); past it the service stops
	// with the error, as a failed checkpoint does.
	StoreRetry time.Duration
	// Now is the wall clock (default time.Now).
	Now     func() time.Time
	Metrics *Metrics     // default: new
	Log     *slog.Logger // default: slog.Default()
	// Ready, when not nil, is called once the service has started its
	// inputs (state loaded, outputs open).
	Ready func()
}

// DefaultMaxFuture is Options.MaxFuture's default: CloudTrail delivers
// within about 15 minutes, so with the default lateness (20 minutes) a
// record up to 5 minutes ahead cannot make a record delivered in time late.
const DefaultMaxFuture = 5 * time.Minute

// DefaultStoreRetry is Options.StoreRetry's default: a Redis restart, or
// a failover, takes seconds.
const DefaultStoreRetry = time.Minute

// Closer is an input whose acknowledgements need it after Run returned
// (a Kafka client commits offsets); the service closes it after its last
// checkpoint.
type Closer interface {
	Close() error
}

// inputState is what the service tracks of one input.
type inputState struct {
	in     Input
	name   string
	latest int64     // latest event time delivered, Unix ns
	last   time.Time // wall time of its last batch
}

// mark is the input's watermark: what it says, or its latest event time
// less the lateness (moved on by the wall time since its last batch when
// it has been quiet for idle); ok is false when it holds nothing back.
func (st *inputState) mark(lateness int64, idle time.Duration, now time.Time) (int64, bool) {
	if h, ok := st.in.(Holder); ok && h.Holding() {
		return math.MinInt64, true
	}
	if wm, ok := st.in.(Watermarker); ok {
		t, ok := wm.LowWatermark()
		if !ok {
			return 0, false
		}
		return t.UnixNano(), true
	}
	if st.latest == math.MinInt64 {
		return 0, false
	}
	m := st.latest - lateness
	if quiet := now.Sub(st.last); idle > 0 && quiet >= idle {
		m += int64(quiet)
	}
	return m, true
}

// service is one run of Run.
type service struct {
	o        Options
	proc     *detect.Processor
	m        *Metrics
	log      *slog.Logger
	lateness int64

	mu       sync.Mutex
	inputs   []*inputState
	inFlight map[*Batch]bool
	done     []*Batch // scanned, since the last checkpoint
	doneSize int64    // their bytes
	room     *sync.Cond
	failed   bool // checkpoints stopped: workers do not wait for room

	lastW   int64
	pending []*Batch // scanned before a checkpoint, not acknowledged yet
}

// Run serves until ctx ends, then drains: it stops the inputs, finishes the
// batches in flight, advances the watermark as far as the inputs allow,
// delivers, commits the state and acknowledges what may be, waits up to
// Grace for the outboxes, and returns nil. It does not finish the stream:
// alerts whose windows are still open stay undecided, and the batches
// holding their records stay unacknowledged, so the next start replays
// them onto the committed state (nothing lost, nothing doubled beyond
// at-least-once delivery with stable ids).
func Run(ctx context.Context, o Options) error {
	if o.Engine == nil {
		return errors.New("serve: no engine")
	}
	if o.Store == nil {
		o.Store = state.NewMemory()
	}
	if o.Lateness <= 0 {
		o.Lateness = hunt.DefaultLateness
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxFuture == 0 {
		o.MaxFuture = DefaultMaxFuture
	}
	if o.MaxDecompressed <= 0 {
		o.MaxDecompressed = DefaultMaxDecompressed
	}
	if o.StoreRetry == 0 {
		o.StoreRetry = DefaultStoreRetry
	}
	if o.MaxUnchecked <= 0 {
		o.MaxUnchecked = 256 << 20
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	proc, err := detect.New(o.Engine.Rules(), o.Store, detect.Options{})
	if err != nil {
		return err
	}
	s := &service{o: o, proc: proc, m: o.Metrics, log: o.Log, lateness: int64(o.Lateness), inFlight: map[*Batch]bool{}, lastW: math.MinInt64}
	s.room = sync.NewCond(&s.mu)
	for _, in := range o.Inputs {
		s.inputs = append(s.inputs, &inputState{in: in, name: in.Name(), latest: math.MinInt64})
	}

	// Inputs stop receiving when ctx ends, or when one of them fails.
	inCtx, stopInputs := context.WithCancelCause(context.Background())
	defer stopInputs(nil)
	stopWatch := context.AfterFunc(ctx, func() { stopInputs(nil) })
	defer stopWatch()

	batches := make(chan *Batch, o.Workers)
	var inWG sync.WaitGroup
	for _, st := range s.inputs {
		inWG.Add(1)
		go func() {
			defer inWG.Done()
			if err := st.in.Run(inCtx, s.deliverer(inCtx, st, batches)); err != nil {
				stopInputs(fmt.Errorf("input %s: %w", st.name, err))
			}
		}()
	}
	go func() {
		inWG.Wait()
		close(batches)
	}()

	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(batches)
		}()
	}
	workersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(workersDone)
	}()
	if o.Ready != nil {
		o.Ready()
	}

	// Checkpoints: every Interval while serving, and a last one after the
	// workers finished.
	var failed error
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			cctx, cancel := graceAfter(ctx, o.Grace)
			err := s.checkpoint(cctx)
			cancel()
			if err != nil {
				s.log.Error("checkpoint failed: stopping; nothing more is acknowledged, and what was not is read again at the next start", "error", err)
				failed = err
				stopInputs(err)
				s.mu.Lock()
				s.failed = true
				s.room.Broadcast()
				s.mu.Unlock()
				<-workersDone
				break loop
			}
		case <-workersDone:
			// the last one: bounded, as a full outbox would wait for ever
			// (then nothing more is acknowledged, and it is replayed)
			fctx, cancel := context.WithTimeout(context.Background(), o.Grace)
			if err := s.checkpoint(fctx); err != nil {
				failed = fmt.Errorf("last checkpoint (what it had is replayed at the next start): %w", err)
			}
			cancel()
			break loop
		}
	}
	if failed == nil {
		failed = context.Cause(inCtx)
		if errors.Is(failed, context.Canceled) {
			failed = nil
		}
	}
	for _, st := range s.inputs {
		if c, ok := st.in.(Closer); ok {
			if err := c.Close(); err != nil {
				failed = errors.Join(failed, fmt.Errorf("closing input %s: %w", st.name, err))
			}
		}
	}
	gctx, cancel := context.WithTimeout(context.Background(), o.Grace)
	defer cancel()
	for _, out := range o.Outputs {
		if err := out.Deliverer.Close(gctx); err != nil {
			failed = errors.Join(failed, fmt.Errorf("sink %s: %w", out.Name, err))
		}
	}
	wm := "none yet" // no input has said where event time is
	if s.lastW != math.MinInt64 {
		wm = time.Unix(0, s.lastW).UTC().Format(time.RFC3339)
	}
	s.log.Info("serve stopped", "pending_batches", len(s.pending), "watermark", wm)
	return failed
}

// deliverer is the deliver function an input's Run gets.
func (s *service) deliverer(ctx context.Context, st *inputState, batches chan<- *Batch) func(*Batch) error {
	return func(b *Batch) error {
		b.input = st
		s.mu.Lock()
		b.bound = math.MinInt64
		st.last = s.o.Now()
		if m, ok := st.mark(s.lateness, s.o.Idle, st.last); ok {
			b.bound = m
		}
		s.inFlight[b] = true
		s.mu.Unlock()
		select {
		case batches <- b:
			s.m.Batches.WithLabelValues(st.name).Inc()
			return nil
		case <-ctx.Done():
			s.mu.Lock()
			delete(s.inFlight, b)
			s.mu.Unlock()
			return ErrStopping
		}
	}
}

// work scans batches: records are parsed and matched into the worker's
// collector, and the batch is done.
func (s *service) work(batches <-chan *Batch) {
	p := event.Parser{GeoIP: s.o.GeoIP, NoEntityMapping: s.o.NoEntityMapping}
	sc := &hunt.Scanner{Engine: s.o.Engine, Parser: &p, Scratch: engine.NewScratch(), Collector: s.proc.NewCollector(), MaxRecord: s.o.MaxRecord}
	for b := range batches {
		name := b.input.name
		received := s.o.Now()
		p.NotAfter = time.Time{}
		if s.o.MaxFuture > 0 {
			p.NotAfter = received.Add(s.o.MaxFuture)
		}
		sc.Errors = func(e hunt.InputError) {
			if errors.Is(e.Err, event.ErrFuture) {
				s.m.InputFuture.WithLabelValues(name).Inc()
				s.log.Warn("record in the future: its event time does not move the watermark",
					"input", name, "error", e.Error())
				return
			}
			if e.Warning {
				s.m.InputWarnings.WithLabelValues(name).Inc()
				s.log.Debug("input warning", "input", name, "error", e.Error())
				return
			}
			s.m.InputErrors.WithLabelValues(name).Inc()
			s.log.Warn("input error", "input", name, "error", e.Error())
		}
		if len(bytes.TrimSpace(b.Data)) == 0 { // a Kafka tombstone, an empty object: nothing to read, but said
			s.m.InputSkipped.WithLabelValues(name, "empty").Inc()
			s.log.Warn("empty batch: no records", "input", name, "batch", b.Name)
		}
		st := scanBatch(sc, b.Name, b.Data, received, s.o.MaxDecompressed)
		s.m.Records.WithLabelValues(name).Add(float64(st.Records))
		s.skipped(name, b.Name, st)
		s.m.Bytes.WithLabelValues(name).Add(float64(st.Bytes))
		s.mu.Lock()
		if s.doneSize > 0 && s.doneSize+int64(len(b.Data)) > s.o.MaxUnchecked && !s.failed {
			s.m.Waiting.Inc()
			for s.doneSize > 0 && s.doneSize+int64(len(b.Data)) > s.o.MaxUnchecked && !s.failed {
				s.room.Wait() // the checkpoint is behind: wait for it
			}
			s.m.Waiting.Dec()
		}
		s.doneSize += int64(len(b.Data))
		b.latest, b.early = st.Latest, st.Earliest
		b.Data = nil // read: what waits for the acknowledgement is its place, not its bytes
		b.input.latest = max(b.input.latest, st.Latest)
		delete(s.inFlight, b)
		s.done = append(s.done, b)
		s.mu.Unlock()
	}
}

// scanBatch reads a batch's records with sc: gzip told by its magic
// bytes (read up to maxDecompressed bytes), records without (usable)
// event time stamped with received, the time it was read.
func scanBatch(sc *hunt.Scanner, name string, data []byte, received time.Time, maxDecompressed int64) hunt.ScanStats {
	var r io.Reader = bytes.NewReader(data)
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(r)
		if err != nil {
			sc.Errors(hunt.InputError{File: name, Offset: -1, Err: fmt.Errorf("gzip header: %w", err)})
			r = bytes.NewReader(nil)
		} else {
			r = &gzipErrReader{&sizeLimit{r: zr, max: maxDecompressed}}
		}
	}
	received = received.UTC().Truncate(time.Second)
	return sc.Scan(context.Background(), r, name, func() hunt.Stamp {
		return hunt.Stamp{Time: received, From: "read", What: "the time it was received"}
	})
}

// skipped counts and logs the JSON documents of a batch that are not
// CloudTrail events (a warning: something sends what the rules never see)
// or are CloudTrail digests (for information: they hold no events), as
// hunt's summary counts them.
func (s *service) skipped(input, batch string, st hunt.ScanStats) {
	if st.Other > 0 {
		s.m.InputSkipped.WithLabelValues(input, "other").Add(float64(st.Other))
		s.log.Warn("JSON documents that are not CloudTrail events skipped", "input", input, "batch", batch, "documents", st.Other, "records", st.Records)
	}
	if st.Digests > 0 {
		s.m.InputSkipped.WithLabelValues(input, "digest").Add(float64(st.Digests))
		s.log.Info("CloudTrail digest documents skipped", "input", input, "batch", batch, "documents", st.Digests)
	}
}

// gzipErrReader says where gzip errors come from.
type gzipErrReader struct{ zr io.Reader }

func (g *gzipErrReader) Read(b []byte) (int, error) {
	n, err := g.zr.Read(b)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

// watermark is the lowest event time the inputs may still deliver: the
// least of the inputs' marks and of the marks their batches in flight had
// when they came (their records are judged as of then). Called with s.mu.
func (s *service) watermark() (int64, bool) {
	lo, any := int64(math.MaxInt64), false
	for b := range s.inFlight {
		lo, any = min(lo, b.bound), true
	}
	now := s.o.Now()
	for _, st := range s.inputs {
		if m, ok := st.mark(s.lateness, s.o.Idle, now); ok {
			lo, any = min(lo, m), true
		}
	}
	return lo, any
}

// graceAfter returns a context that ends grace after ctx does: a
// checkpoint under way when serve is stopped (a sink still delivering) has
// the grace period to finish, as the last checkpoint has, instead of
// failing the stop.
func graceAfter(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(c, func() { t.Stop() })
	})
	return c, func() {
		stop()
		cancel()
	}
}

// checkpoint advances the processor to the watermark, delivers the alerts
// it decides to every output (each returns once they are durable: written,
// or in its outbox), commits the state, and acknowledges the batches whose
// records the committed state accounts for (all earlier than the
// processor's horizon). Only batches scanned before the advance count: an
// advance takes every match gathered so far.
func (s *service) checkpoint(ctx context.Context) error {
	start := time.Now()
	s.mu.Lock()
	ready := s.done
	s.done, s.doneSize = nil, 0
	s.room.Broadcast()
	if w, ok := s.watermark(); ok && w > s.lastW {
		s.lastW = w
	}
	s.mu.Unlock()
	if s.lastW == math.MinInt64 {
		// no watermark yet (no input has said where it is): nothing can be
		// decided or acknowledged; the matches wait in the collectors
		s.pending = append(s.pending, ready...)
		return nil
	}
	// What a replay of the batches not acknowledged would meet must stay
	// in the state (their earliest records may be older than the windows
	// the processor would otherwise forget).
	hold := int64(math.MaxInt64)
	for _, bs := range [][]*Batch{s.pending, ready} {
		for _, b := range bs {
			hold = min(hold, b.early)
		}
	}
	if hold == math.MaxInt64 {
		s.proc.Hold(time.Time{})
	} else {
		s.proc.Hold(time.Unix(0, hold))
	}
	as, err := s.proc.Advance(time.Unix(0, s.lastW))
	if err != nil {
		return fmt.Errorf("advancing to %s: %w", time.Unix(0, s.lastW).UTC(), err)
	}
	if len(as) > 0 {
		for _, out := range s.o.Outputs {
			if err := out.deliver(ctx, as); err != nil {
				return fmt.Errorf("sink %s: %w", out.Name, err)
			}
		}
		now := time.Now()
		for i := range as {
			s.m.Alerts.WithLabelValues(as[i].Rule.Name).Inc()
			if !as[i].Time.IsZero() {
				s.m.Latency.Observe(now.Sub(as[i].Time).Seconds())
			}
		}
	}
	if err := s.commit(ctx); err != nil {
		return err
	}
	h := s.proc.Horizon().UnixNano()
	s.pending = append(s.pending, ready...)
	kept := s.pending[:0]
	for _, b := range s.pending {
		if b.latest >= h {
			kept = append(kept, b)
			continue
		}
		if b.Ack != nil {
			b.Ack()
		}
		s.m.Acked.WithLabelValues(b.input.name).Inc()
	}
	clear(s.pending[len(kept):])
	s.pending = kept
	var late, dup, known int
	for _, rs := range s.proc.Stats() {
		late, dup, known = late+rs.Late, dup+rs.Duplicates, known+rs.Known
	}
	s.m.Late.Set(float64(late))
	s.m.Duplicates.Set(float64(dup))
	s.m.Known.Set(float64(known))
	s.m.Checkpoints.Inc()
	s.m.CheckpointDur.Observe(time.Since(start).Seconds())
	s.m.Pending.Set(float64(len(s.pending)))
	if s.lastW != math.MinInt64 {
		s.m.Watermark.Set(float64(s.lastW) / 1e9)
		s.m.WatermarkLag.Set(time.Since(time.Unix(0, s.lastW)).Seconds())
	}
	if h != math.MinInt64 {
		s.m.Horizon.Set(float64(h) / 1e9)
	}
	return nil
}

// commit commits the processor's state, retrying with backoff (100 ms,
// doubling to 5 s) while it fails, for at most StoreRetry or until ctx
// ends: the alerts are delivered already, and nothing is acknowledged
// before the state that accounts for them is committed. A commit retried
// writes the same state again (Processor.Commit keeps what it has not
// saved), so nothing is lost or doubled.
func (s *service) commit(ctx context.Context) error {
	start, wait := time.Now(), 100*time.Millisecond
	for try := 1; ; try++ {
		err := s.proc.Commit()
		if err == nil {
			if try > 1 {
				s.log.Info("state committed again", "attempts", try, "after", time.Since(start).Round(time.Millisecond).String())
			}
			return nil
		}
		if s.o.StoreRetry < 0 || time.Since(start)+wait > s.o.StoreRetry {
			return fmt.Errorf("committing the state (%d attempts in %s): %w", try, time.Since(start).Round(time.Millisecond), err)
		}
		s.m.StoreRetries.Inc()
		s.log.Warn("committing the state failed: retrying; nothing is acknowledged meanwhile", "error", err, "attempt", try, "retry_in", wait.String())
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("committing the state (stopped while retrying): %w", err)
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Output is one sink with its filter.
type Output struct {
	Name      string
	Filter    Filter
	Deliverer Deliverer
}

// Deliverer takes alerts for a sink.
type Deliverer interface {
	// Deliver returns once the alerts are durable: at their destination,
	// or in an on-disk outbox that will get them there.
	Deliver(ctx context.Context, as []alert.Alert) error
	// Close stops, waiting until ctx ends for what is under way.
	Close(ctx context.Context) error
}

func (o *Output) deliver(ctx context.Context, as []alert.Alert) error {
	var keep []alert.Alert
	for _, a := range as {
		if o.Filter.Match(a) {
			keep = append(keep, a)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return o.Deliverer.Deliver(ctx, keep)
}
