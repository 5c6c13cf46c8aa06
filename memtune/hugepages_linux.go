package memtune

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"
)

// hugePageBytes is the size of a transparent huge page on amd64 and arm64
// with 4 KB base pages.
const hugePageBytes = 2 << 20

var reserveOnce sync.Once

// marked is what reserveHugeHeap and growHugeHeap have marked so far (0:
// nothing, huge pages are not wanted here), and markLimit the most they
// mark in all: half the machine's memory. Written once by reserveHugeHeap
// before the heap floor starts, then by growHugeHeap under floorMu.
var marked, markLimit uint64

// reserveHugeHeap asks the kernel for transparent huge pages on the next n
// bytes the Go heap grows into, once per process. The runtime maps its
// heap with 4 KB pages and no madvise (since Go 1.21.1), so under Linux's
// common THP setting, "madvise", every 4 KB of heap a hunt first touches
// is a page fault: about 40,000 for a hunt that peaks at 160 MB, which on
// virtual machines costs a third of the hunt's CPU (docs/performance.md,
// "Huge pages for the heap"). So it allocates n bytes, which the runtime
// takes fresh from the kernel and does not touch (fresh memory is known to
// be zero), marks their mapping MADV_HUGEPAGE, and collects them at once:
// the heap reuses the freed range first (the page allocator takes the
// lowest free address), and the mapping keeps the mark when the runtime
// later returns pages to the kernel.
//
// It does nothing where it cannot help or could hurt (hugePagesWanted):
// where THP is "never" or "always"; under an address-space limit (ulimit
// -v), where the n bytes, unused as they are, could make the runtime fail
// for want of address space (a hunt that ran under 1.5 GB before did not
// with it); under strict overcommit, where they count against the commit
// limit; and in 32-bit programs, whose address space is a few GB.
func reserveHugeHeap(n int) {
	reserveOnce.Do(func() {
		if strconv.IntSize < 64 {
			return
		}
		thp, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
		overcommit, _ := os.ReadFile("/proc/sys/vm/overcommit_memory")
		var as syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_AS, &as); err != nil {
			return
		}
		var si syscall.Sysinfo_t
		if !hugePagesWanted(string(thp), string(overcommit), as.Cur) || syscall.Sysinfo(&si) != nil {
			return
		}
		markLimit = uint64(si.Totalram) * uint64(si.Unit) / 2
		lo, hi := markHugeHeap(min(uint64(n), markLimit))
		marked = uint64(hi - lo)
	})
}

// growHugeHeap marks more of the heap for huge pages when the collector's
// next goal nears what is marked: a hunt keeps the matches it cannot
// decide yet, so its heap grows with its input when the records come out
// of time order (1 GB of generated, unordered records peak at 400 MB of
// heap). Past the marked range every 4 KB of new heap was a page fault
// again, and a TLB entry: with 1 GB marked instead of 256 MB that hunt ran
// in 1.35-1.40 s instead of 1.77 on two workers (docs/performance.md). Each
// growth marks at least as much again as is marked, so it happens a few
// times at most. The caller holds floorMu (it is the heap floor's
// finalizer): the block is marked and collected on a goroutine of its
// own, since collecting it at once takes a collection of the whole heap,
// and one the block's size starts while it is still held would count it
// as live, setting the next goal too high.
func growHugeHeap(goal uint64) {
	if n := growBy(marked, markLimit, goal); n > 0 {
		marked += n
		markLater(n)
	}
}

// markLater marks n more bytes of heap on a goroutine of its own (a
// variable for the tests, which wait for it).
var markLater = func(n uint64) { go markHugeHeap(n) }

// growBy is how much more growHugeHeap marks, given what is marked (0:
// huge pages are not wanted), the limit and the collector's next goal:
// nothing while the goal is under three quarters of what is marked, else
// room for twice the goal, and at least as much again as is marked.
func growBy(marked, limit, goal uint64) uint64 {
	if marked == 0 || goal < marked/4*3 || marked >= limit {
		return 0
	}
	return min(max(marked, 2*goal-min(goal, marked)), limit-marked)
}

// rlimInfinity is RLIM_INFINITY, no limit.
const rlimInfinity = ^uint64(0)

// hugePagesWanted reports whether marking the heap for huge pages helps
// and is safe, given the THP setting (the contents of
// /sys/kernel/mm/transparent_hugepage/enabled, the one in use in
// brackets), the overcommit mode (/proc/sys/vm/overcommit_memory) and the
// address-space limit.
func hugePagesWanted(thp, overcommit string, addressLimit uint64) bool {
	return strings.Contains(thp, "[madvise]") && strings.TrimSpace(overcommit) != "2" && addressLimit == rlimInfinity
}

// markHugeHeap is the work of reserveHugeHeap and growHugeHeap; it
// returns the range it marked (lo == hi when none).
func markHugeHeap(n uint64) (lo, hi uintptr) {
	b := make([]byte, int(n))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo = (p + hugePageBytes - 1) &^ (hugePageBytes - 1)
	hi = max(lo, (p+uintptr(n))&^(hugePageBytes-1))
	if lo < hi {
		_ = syscall.Madvise(b[lo-p:hi-p], syscall.MADV_HUGEPAGE) // best effort: an old kernel says EINVAL, and the hunt runs as before
	}
	runtime.KeepAlive(b)
	// Collect it now, swept before the hunt allocates: left to the next
	// collection, the range was still in use when the heap grew past it in
	// a third of the two-worker hunts, which then ran on 4 KB pages with
	// 50 MB more RSS.
	runtime.GC()
	return lo, hi
}
