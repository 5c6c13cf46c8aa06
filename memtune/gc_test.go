package memtune

import (
	"os"
	"runtime/debug"
	"testing"
)

// A hunt sets its collector (GOGC=200 and the heap floor) only when the
// user set neither GOGC nor GOMEMLIMIT, whose choice is kept as it is for
// the whole hunt; the GOGC of before comes back when the hunt ends.
func TestStartHuntGC(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		before int  // the GC percent the runtime read from the environment
		tuned  bool // the hunt's setting applies
	}{
		{"neither set", nil, 100, true},
		{"GOGC set", map[string]string{"GOGC": "100"}, 100, false},
		{"GOGC set low", map[string]string{"GOGC": "50"}, 50, false},
		{"GOGC off", map[string]string{"GOGC": "off"}, -1, false},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, 100, false},
		{"both set", map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, 50, false},
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
			// the runtime read the environment at start: set what it
			// would have read
			defer debug.SetGCPercent(debug.SetGCPercent(tc.before))
			stop := StartHunt()
			during := gcPercent()
			stop()
			after := gcPercent()
			if tc.tuned && during < huntGCPercent || !tc.tuned && during != tc.before {
				t.Errorf("GOGC %d during the hunt, from %d (the hunt's setting applies: %v)", during, tc.before, tc.tuned)
			}
			if after != tc.before {
				t.Errorf("GOGC %d after the hunt, %d before", after, tc.before)
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
		stop := startGCFloor(1<<40, before) // far above any live heap here
		during := gcPercent()
		stop2 := startGCFloor(1<<40, before) // a second hunt at once
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
