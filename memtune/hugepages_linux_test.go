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
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skipf("this kernel has no transparent huge pages: %v", err)
	}
	if os.Getenv("TRAILHOUND_HUGE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMarkHugeHeap$")
		cmd.Env = append(os.Environ(), "TRAILHOUND_HUGE_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	lo, hi := markHugeHeap(hugeHeapBytes)
	if hi-lo < hugeHeapBytes-hugePageBytes {
		t.Fatalf("marked %d bytes of %d", hi-lo, hugeHeapBytes)
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
