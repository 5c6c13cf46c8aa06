package detect

import (
	"math"
	"sort"
)

// Runs in event time: run k of a rule ends at k*interval and searches the
// window [k*interval - lookback, k*interval), as Elastic's scheduler does
// every interval over [now - from, now). A run is decided once no match
// before its end can arrive any more: when the watermark reaches its end.

// never is the watermark of the end of the input: every run is decided.
const never = math.MaxInt64

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// forEachRun calls fn, in order, for every run whose window holds at least
// one of the sorted times, with the run's end and the index range [lo, hi)
// of the times in its window.
func forEachRun(times []int64, interval, lookback int64, fn func(end int64, lo, hi int)) {
	forEachRunIn(times, interval, lookback, math.MinInt64, never, fn)
}

// forEachRunIn is forEachRun for the runs ending in [from, to].
func forEachRunIn(times []int64, interval, lookback, from, to int64, fn func(end int64, lo, hi int)) {
	n := len(times)
	if n == 0 {
		return
	}
	k := floorDiv(times[0], interval) + 1
	if from != math.MinInt64 {
		k = max(k, floorDiv(from-1, interval)+1) // the first run ending at or after from
	}
	for {
		end := k * interval
		if end > to {
			return
		}
		lo := sort.Search(n, func(i int) bool { return times[i] >= end-lookback })
		if lo >= n {
			return
		}
		// skip runs with empty windows: jump to the first run holding times[lo]
		if first := floorDiv(times[lo], interval) + 1; first > k {
			k = first
			continue
		}
		hi := sort.Search(n, func(i int) bool { return times[i] >= end })
		fn(end, lo, hi)
		k++
	}
}

// schedule is a rule's runs and how far they are decided.
type schedule struct {
	interval, lookback int64
	next               int64 // end of the first run not yet decided (math.MinInt64: none decided)
}

func newSchedule(ri *ruleInfo) schedule {
	return schedule{interval: ri.interval, lookback: ri.lookback, next: math.MinInt64}
}

// decide calls fn for every run not yet decided that ends at or before w
// and holds one of the sorted times, and marks the runs up to w decided.
func (s *schedule) decide(times []int64, w int64, fn func(end int64, lo, hi int)) {
	forEachRunIn(times, s.interval, s.lookback, s.next, w, fn)
	if w == never {
		s.next = never
	} else if next := (floorDiv(w, s.interval) + 1) * s.interval; next > s.next {
		s.next = next
	}
}

// open returns the index of the first of the sorted times that a run not
// yet decided may still read: the earlier ones can be forgotten.
func (s *schedule) open(times []int64) int {
	if s.next == never {
		return len(times)
	}
	if s.next == math.MinInt64 {
		return 0
	}
	return sort.Search(len(times), func(i int) bool { return times[i] >= s.next-s.lookback })
}
