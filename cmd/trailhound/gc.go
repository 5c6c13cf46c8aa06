package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// A hunt's live heap is small (the compiled rules and their windows' state:
// 80-100 MB with every Elastic and Sigma rule) and it allocates per record,
// so at Go's default GOGC of 100 the collector runs every time the heap
// doubles, marking the same live heap again and again. A hunt runs with
// GOGC at huntGCPercent instead, under a soft memory limit of the larger of
// huntMemFloor and twice the live heap (plus huntMemSlack for what is not
// heap), kept up to date after every collection: a small heap may grow to
// the floor before it is collected, a large one is collected about as
// often as the default would. docs/performance.md ("The garbage
// collector's setting") has what it measured.
const (
	huntGCPercent = 400
	huntMemFloor  = 256 << 20
	huntMemSlack  = 64 << 20
)

var gcTuneOnce sync.Once

// tuneHuntGC sets the hunt's collector policy unless GOGC or GOMEMLIMIT is
// set in the environment (the user's choice is kept as it is); it returns
// whether the policy is in force.
func tuneHuntGC() bool {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return false
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return false
	}
	debug.SetGCPercent(huntGCPercent)
	gcTuneOnce.Do(func() { followLiveHeap(huntMemFloor, huntMemSlack) })
	return true
}

// gcSentinel is the object whose finalizer runs after each collection.
type gcSentinel struct{ _ *byte } // holds a pointer: not a tiny allocation, whose finalizer may never run

// followLiveHeap sets the soft memory limit to max(floor, 2 × live heap +
// slack) now and after every collection from now on.
func followLiveHeap(floor, slack int64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var mu sync.Mutex // the first call runs here, the others on the finalizer goroutine
	setLimit := func() {
		mu.Lock()
		defer mu.Unlock()
		metrics.Read(sample)
		limit := floor
		if sample[0].Value.Kind() == metrics.KindUint64 {
			limit = max(floor, 2*int64(sample[0].Value.Uint64())+slack)
		}
		debug.SetMemoryLimit(limit)
	}
	var arm func()
	arm = func() {
		runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
			setLimit()
			arm()
		})
	}
	setLimit()
	arm()
}
