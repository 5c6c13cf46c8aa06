package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// tuneHuntGC sets the hunt's GOGC only when the user set neither GOGC nor
// GOMEMLIMIT.
func TestTuneHuntGC(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int // the GC percent after tuneHuntGC, from 100
	}{
		{"neither set", nil, huntGCPercent},
		{"GOGC set", map[string]string{"GOGC": "100"}, 100},
		{"GOGC off", map[string]string{"GOGC": "off"}, 100},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, 100},
		{"both set", map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
				t.Setenv(k, "") // restored when the test ends
				if v, ok := tc.env[k]; ok {
					os.Setenv(k, v)
				} else {
					os.Unsetenv(k)
				}
			}
			// the runtime read the environment at start: only tuneHuntGC
			// changes the percent here
			defer debug.SetGCPercent(debug.SetGCPercent(100))
			tuned := tuneHuntGC()
			if got := debug.SetGCPercent(100); got != tc.want || tuned != (tc.want == huntGCPercent) {
				t.Errorf("GC percent %d (tuned %v), want %d", got, tuned, tc.want)
			}
		})
	}
}

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
