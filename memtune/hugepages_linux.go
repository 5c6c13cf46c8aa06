package memtune

import (
	"os"
	"runtime"
	"strings"
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
// later returns pages to the kernel.
//
// It does nothing where it cannot help or could hurt (hugePagesWanted):
// where THP is "never" or "always"; under an address-space limit (ulimit
// -v), where the n bytes, unused as they are, could make the runtime fail
// for want of address space (a hunt that ran under 1.5 GB before did not
// with it); and under strict overcommit, where they count against the
// commit limit.
func reserveHugeHeap(n int) {
	reserveOnce.Do(func() {
		thp, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
		overcommit, _ := os.ReadFile("/proc/sys/vm/overcommit_memory")
		var as syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_AS, &as); err != nil {
			return
		}
		if hugePagesWanted(string(thp), string(overcommit), as.Cur) {
			markHugeHeap(n)
		}
	})
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
