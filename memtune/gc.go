// Package memtune holds the memory settings a hunt runs with: the garbage
// collector's goal (GOGC=200 and a heap floor) and transparent huge pages
// for the heap, each applied only when the user set neither GOGC nor
// GOMEMLIMIT. The hunt command sets them; hunt's benchmarks too, so that
// they measure what a hunt runs with.
package memtune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// huntGCPercent is the garbage collector's target (GOGC) a hunt runs with
// when the user sets neither GOGC nor GOMEMLIMIT. A hunt's live heap is
// small (the compiled rules and their windows' state: 80-100 MB with every
// Elastic and Sigma rule) and it allocates per record, so at Go's default
// of 100 the collector runs every time the heap doubles, marking the same
// live heap again and again; at 200 it runs half as often, for a peak heap
// of three times the live heap instead of two. docs/performance.md ("The
// garbage collector's setting") has what it measured, and why not more.
const huntGCPercent = 200

// userSetGC reports whether GOGC or GOMEMLIMIT is set in the environment:
// the user's choice is then kept as it is.
func userSetGC() bool {
	_, gogc := os.LookupEnv("GOGC")
	_, limit := os.LookupEnv("GOMEMLIMIT")
	return gogc || limit
}

// StartHunt sets the collector for a hunt, unless the user set GOGC or
// GOMEMLIMIT: GOGC=huntGCPercent with the heap floor gcFloorBytes, and
// huge pages for the first hugeHeapBytes of heap, and more as it grows.
// The returned function restores the GOGC of before.
func StartHunt() (stop func()) {
	if userSetGC() {
		return func() {}
	}
	reserveHugeHeap(hugeHeapBytes)
	return startGCFloor(gcFloorBytes, huntGCPercent)
}

// gcFloorBytes is the least heap a hunt lets the garbage collector aim at.
const gcFloorBytes = 64 << 20

// hugeHeapBytes is how much of the heap reserveHugeHeap marks for huge
// pages at the start. A hunt with every Elastic and Sigma rule over 300 MB
// of unordered records peaks at about 120 MB of heap on one worker and past
// 128 MB on two (7,800 faults with 128 MB marked, 2,900 with 256; peak RSS
// the same); over 1 GB of them, at 400 MB on one and 600 on two, where 1 GB
// marked took 1.6 s on two workers against 1.8-2.0 with 256 MB. It is
// address space, not memory: pages count in RSS when the heap uses them.
// Marking 1 GB takes 3 ms more than 256 MB at the start (the runtime's
// metadata for the range); a larger heap marks more as it grows
// (growHugeHeap), at the cost of two collections each time.
const hugeHeapBytes = 16 * gcFloorBytes

// A hunt's heap is small for a while: a few MB while the rules load and
// compile, then growing with the rules' state in the hunt's first seconds.
// With the collector's goal at twice the live heap (GOGC=100, 4 MB at
// first), loading and compiling every Elastic and Sigma corpus rule (30 MB
// allocated in small steps) ran ten collections, a fifth of the start's
// CPU, and the hunt's first half second as many again; with two workers on
// one file each collection takes a quarter of both cores from the matching
// (with one worker it runs on the idle core). gcFloor keeps the goal at
// floor bytes at least, which changes nothing once the live heap is half
// the floor or more: memory is bounded as before, by max(floor, the
// collector's own goal), and GOMEMLIMIT still applies.
type gcFloor struct {
	floor   uint64
	percent int  // the least GOGC set
	before  int  // the GOGC in effect before, restored at the end
	stopped bool // under floorMu
	live    []metrics.Sample
}

// The floor is the process's: hunts run at once in one process (tests)
// share it, and the last one to end restores the GOGC of before.
var (
	floorMu   sync.Mutex
	floorRefs int
	floorCur  *gcFloor
)

// startGCFloor sets GOGC to percent and keeps the collector's heap goal at
// floor bytes or more until the returned function is called, which
// restores the GOGC in effect before. With GOGC=off it does nothing.
func startGCFloor(floor uint64, percent int) (stop func()) {
	floorMu.Lock()
	defer floorMu.Unlock()
	if floorRefs == 0 {
		before := debug.SetGCPercent(100)
		debug.SetGCPercent(before)
		if before < 0 {
			return func() {}
		}
		floorCur = &gcFloor{floor: floor, percent: percent, before: before, live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		floorCur.tune()
		floorCur.arm()
	}
	floorRefs++
	var once sync.Once
	return func() {
		once.Do(func() {
			floorMu.Lock()
			defer floorMu.Unlock()
			if floorRefs--; floorRefs == 0 {
				floorCur.stopped = true
				debug.SetGCPercent(floorCur.before)
			}
		})
	}
}

// minLive is the live heap assumed before the first collection has
// measured one (the collector's own least goal is 4 MB).
const minLive = 4 << 20

// tune sets GOGC so that the next goal, live heap x (1 + GOGC/100), is the
// floor, or percent if that aims higher.
func (f *gcFloor) tune() {
	metrics.Read(f.live)
	live := uint64(minLive)
	if v := f.live[0].Value; v.Kind() == metrics.KindUint64 {
		live = max(live, v.Uint64())
	}
	p := f.percent
	if f.floor > live {
		p = max(p, int((f.floor-live)*100/live))
	}
	debug.SetGCPercent(p)
	growHugeHeap(live / 100 * uint64(100+p))
}

// sentinel is an object that becomes garbage at once: its finalizer runs
// after each collection, tunes the goal to the live heap it measured, and
// arms the next. It holds floorMu while it does, so that it cannot set
// GOGC after the end has restored it.
type sentinel struct{ f *gcFloor }

func (f *gcFloor) arm() {
	runtime.SetFinalizer(&sentinel{f}, func(s *sentinel) {
		floorMu.Lock()
		defer floorMu.Unlock()
		if !s.f.stopped {
			s.f.tune()
			s.f.arm()
		}
	})
}
