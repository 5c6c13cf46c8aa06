package main

import (
	"runtime/debug"
	"testing"
)

// gcPercent reads GOGC.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// While a hunt runs, the collector aims at the floor when the live heap is
// smaller than half of it; the GOGC of before comes back at the end, and
// GOGC=off is left alone.
func TestGCFloor(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, before := range []int{100, 50, 400, -1} {
		debug.SetGCPercent(before)
		stop := startGCFloor(1 << 40) // far above any live heap here
		during := gcPercent()
		stop2 := startGCFloor(1 << 40) // a second hunt at once
		stop()
		stop() // once only
		still := gcPercent()
		stop2()
		after := gcPercent()
		switch {
		case before < 0 && (during != before || after != before):
			t.Errorf("GOGC=off: %d during the hunt, %d after", during, after)
		case before >= 0 && (during <= before || still <= before):
			t.Errorf("GOGC=%d: %d during the hunts, %d while one still runs; want more (the floor)", before, during, still)
		}
		if after != before {
			t.Errorf("GOGC=%d: %d after the hunts", before, after)
		}
	}
}
