package hunt

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trailhound/trailhound/record"
)

// DefaultLateness is how much older than the watermark a record may be and
// still count as on time: CloudTrail delivers a file within about 15
// minutes of its events.
const DefaultLateness = 20 * time.Minute

// Inputs are read in event-time order where their names tell it: CloudTrail
// delivery files carry their time (..._CloudTrail_<region>_<YYYYMMDDTHHmmZ>_...),
// and are read oldest first, after the files whose names say nothing
// (largest first, to balance the workers).
func orderInputs(ins []record.Input) []int64 {
	times := make([]int64, len(ins))
	idx := make([]int, len(ins))
	for i, in := range ins {
		idx[i] = i
		times[i] = unnamed
		if t, ok := nameTime(in.Path); ok {
			times[i] = t.UnixNano()
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		ta, tb := times[a], times[b]
		if ta == unnamed && tb == unnamed {
			return cmp.Compare(ins[b].Size, ins[a].Size)
		}
		return cmp.Compare(ta, tb) // unnamed is the lowest
	})
	sorted := make([]record.Input, len(ins))
	sortedTimes := make([]int64, len(ins))
	for k, i := range idx {
		sorted[k], sortedTimes[k] = ins[i], times[i]
	}
	copy(ins, sorted)
	return sortedTimes
}

// watermark tracks the lowest event time the inputs may still deliver, less
// the lateness. An input named with its time may deliver from that time on
// (less the lateness) until it is read; an input whose name says nothing
// may deliver anything until it starts, and then anything from the latest
// event time read in it, less the lateness.
type watermark struct {
	lateness int64
	times    []int64 // per input, from its name in Unix nanoseconds (unnamed: none)

	mu       sync.Mutex
	next     int                   // the first input not started
	inFlight map[int]*atomic.Int64 // started, not finished: the input's bound
}

// unnamed is the time of an input whose name tells none.
const unnamed = math.MinInt64

func newWatermark(times []int64, lateness time.Duration) *watermark {
	return &watermark{lateness: int64(lateness), times: times, inFlight: map[int]*atomic.Int64{}}
}

// start marks input i (the next in order) as being read and returns its
// bound, which the reader raises with seen.
func (w *watermark) start(i int) *atomic.Int64 {
	b := new(atomic.Int64)
	b.Store(w.initial(i))
	w.mu.Lock()
	w.inFlight[i] = b
	w.next = max(w.next, i+1)
	w.mu.Unlock()
	return b
}

// initial is input i's bound before any of it is read.
func (w *watermark) initial(i int) int64 {
	if t := w.times[i]; t != unnamed {
		return t - w.lateness
	}
	return unnamed
}

// seen raises an unnamed input's bound to the latest event time read in it,
// less the lateness (a named input keeps the bound of its name).
func (w *watermark) seen(i int, b *atomic.Int64, latest int64) {
	if w.times[i] == unnamed && latest-w.lateness > b.Load() {
		b.Store(latest - w.lateness)
	}
}

// finish marks input i as read.
func (w *watermark) finish(i int) {
	w.mu.Lock()
	delete(w.inFlight, i)
	w.mu.Unlock()
}

// current is the watermark: the lowest bound of the inputs being read and of
// the next one to start (inputs start in order, so it bounds the later
// ones); the end of time when all are read.
func (w *watermark) current() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	lo := int64(math.MaxInt64)
	if w.next < len(w.times) {
		lo = w.initial(w.next) // unnamed inputs come first, named ones by time
	}
	for _, b := range w.inFlight {
		lo = min(lo, b.Load())
	}
	return lo
}
