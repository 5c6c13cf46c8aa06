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
