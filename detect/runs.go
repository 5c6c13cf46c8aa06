package detect

import "sort"

// Runs in event time: run k of a rule ends at k*interval and searches the
// window [k*interval - lookback, k*interval), as Elastic's scheduler does
// every interval over [now - from, now).

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
	n := len(times)
	if n == 0 {
		return
	}
	k := floorDiv(times[0], interval) + 1
	for {
		end := k * interval
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

// capRuns simulates max_signals: each run takes the first max candidates of
// its window (sorted by time) and raises those not raised already
// (pre-raised ones, e.g. from an earlier hunt, still use up the run's
// budget, as Elastic searches max_signals documents and then drops existing
// alerts). It returns which candidates were raised.
func capRuns(times []int64, interval, lookback int64, max int, preRaised []bool) []bool {
	raised := make([]bool, len(times))
	forEachRun(times, interval, lookback, func(_ int64, lo, hi int) {
		for i := lo; i < hi && i-lo < max; i++ {
			if !preRaised[i] {
				raised[i] = true
			}
		}
	})
	return raised
}
