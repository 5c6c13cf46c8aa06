package memtune

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// markHugeHeap marks the range it reserved for huge pages (VmFlags "hg" in
// /proc/self/smaps), and the heap grows into that range next: run in a
// process of its own, so that no other test's heap is in the way.
func TestMarkHugeHeap(t *testing.T) {
	if !inChild(t) {
		return
	}
	checkMarked(t, hugeHeapBytes, func() (uintptr, uintptr) { return markHugeHeap(hugeHeapBytes) })
}

// growHugeHeap marks room for twice the collector's next goal once that
// nears what is marked, in a range the heap grows into next.
func TestGrowHugeHeap(t *testing.T) {
	if !inChild(t) {
		return
	}
	marked, markLimit = 64<<20, 1<<30
	var lo, hi uintptr
	markLater = func(n uint64) { lo, hi = markHugeHeap(n) }
	growHugeHeap(40 << 20) // under three quarters of what is marked
	if lo != hi || marked != 64<<20 {
		t.Fatalf("a goal of 40 MB with 64 MB marked marked %d bytes more", hi-lo)
	}
	growHugeHeap(100 << 20)
	if marked != 200<<20 {
		t.Errorf("a goal of 100 MB with 64 MB marked: %d MB marked in all, want 200", marked>>20)
	}
	checkMarked(t, 136<<20, func() (uintptr, uintptr) { return lo, hi })
}

// inChild runs the test in a process of its own and reports whether this
// is it.
func inChild(t *testing.T) bool {
	t.Helper()
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skipf("this kernel has no transparent huge pages: %v", err)
	}
	if os.Getenv("TRAILHOUND_HUGE_CHILD") != "" {
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), "TRAILHOUND_HUGE_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return false
}

// checkMarked checks that mark marks n bytes (but for the huge pages at
// its ends) for huge pages, and that the next large allocation lands in
// them.
func checkMarked(t *testing.T, n uintptr, mark func() (lo, hi uintptr)) {
	t.Helper()
	lo, hi := mark()
	if hi-lo < n-hugePageBytes {
		t.Fatalf("marked %d bytes of %d", hi-lo, n)
	}
	unmarked, err := unmarkedHuge(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	if unmarked != "" {
		t.Errorf("%#x-%#x reserved, but %s is not marked for huge pages", lo, hi, unmarked)
	}
	b := make([]byte, 16<<20)
	// the reservation starts at most a huge page before the marked range
	if p := uintptr(unsafe.Pointer(&b[0])); p+hugePageBytes < lo || p+uintptr(len(b)) > hi {
		t.Errorf("16 MB allocated after the reservation at %#x, outside the range reserved, %#x-%#x", p, lo, hi)
	}
}

// unmarkedHuge returns the first mapping overlapping [lo, hi) whose
// VmFlags lack "hg" (MADV_HUGEPAGE), "" when there is none.
func unmarkedHuge(lo, hi uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	var cur string // the mapping being read, when it overlaps
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			a, b, _ := strings.Cut(fields[0], "-")
			start, err1 := strconv.ParseUint(a, 16, 64)
			end, err2 := strconv.ParseUint(b, 16, 64)
			cur = ""
			if err1 == nil && err2 == nil && uintptr(start) < hi && uintptr(end) > lo {
				cur = fields[0]
			}
			continue
		}
		if cur != "" && strings.HasPrefix(line, "VmFlags:") && !strings.Contains(line+" ", " hg ") {
			return cur, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading smaps: %w", err)
	}
	return "", nil
}

// The heap is marked only where THP is "madvise", overcommit is not strict
// and the address space is not limited.
func TestHugePagesWanted(t *testing.T) {
	for _, tc := range []struct {
		thp, overcommit string
		limit           uint64
		want            bool
	}{
		{"always [madvise] never\n", "0\n", rlimInfinity, true},
		{"always [madvise] never\n", "1\n", rlimInfinity, true},
		{"[always] madvise never\n", "0\n", rlimInfinity, false}, // every mapping gets them already
		{"always madvise [never]\n", "0\n", rlimInfinity, false}, // the mark would do nothing
		{"", "0\n", rlimInfinity, false},                         // no THP in this kernel
		{"always [madvise] never\n", "2\n", rlimInfinity, false}, // strict overcommit
		{"always [madvise] never\n", "0\n", 1 << 30, false},      // ulimit -v
	} {
		if got := hugePagesWanted(tc.thp, tc.overcommit, tc.limit); got != tc.want {
			t.Errorf("THP %q, overcommit %q, limit %d: %v, want %v", tc.thp, tc.overcommit, tc.limit, got, tc.want)
		}
	}
}

// growBy marks nothing while the goal is well within what is marked, then
// room for twice the goal, at least doubling, within the limit.
func TestGrowBy(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct{ marked, limit, goal, want uint64 }{
		{0, 1024 * mb, 900 * mb, 0},               // huge pages not wanted
		{256 * mb, 1024 * mb, 191 * mb, 0},        // under three quarters
		{256 * mb, 1024 * mb, 192 * mb, 256 * mb}, // doubles at least
		{256 * mb, 1024 * mb, 300 * mb, 344 * mb}, // room for twice the goal
		{256 * mb, 512 * mb, 300 * mb, 256 * mb},  // within the limit
		{512 * mb, 512 * mb, 900 * mb, 0},         // at the limit
	} {
		if got := growBy(tc.marked, tc.limit, tc.goal); got != tc.want {
			t.Errorf("growBy(%d MB, %d MB, %d MB) = %d MB, want %d", tc.marked/mb, tc.limit/mb, tc.goal/mb, got/mb, tc.want/mb)
		}
	}
}
