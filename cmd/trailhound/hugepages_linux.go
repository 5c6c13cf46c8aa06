package main

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// hugePageBytes is the size of a transparent huge page on amd64 and arm64
// with 4 KB base pages.
const hugePageBytes = 2 << 20

var reserveOnce sync.Once

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
// later returns pages to the kernel. Where THP is "never" the mark does
// nothing; where it is "always" it changes nothing.
func reserveHugeHeap(n int) {
	reserveOnce.Do(func() { markHugeHeap(n) })
}

// markHugeHeap is reserveHugeHeap's work; it returns the range it marked
// (lo == hi when none).
func markHugeHeap(n int) (lo, hi uintptr) {
	b := make([]byte, n)
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
