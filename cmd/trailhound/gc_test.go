package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

// tuneHuntGC applies the hunt's policy only when the user set neither GOGC
// nor GOMEMLIMIT.
func TestTuneHuntGCRespectsEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"GOGC set", map[string]string{"GOGC": "100"}, false},
		{"GOGC off", map[string]string{"GOGC": "off"}, false},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, false},
		{"both set", map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.env)
			defer debug.SetGCPercent(debug.SetGCPercent(100))
			if got := tuneHuntGC(); got != tc.want {
				t.Errorf("tuneHuntGC() = %v, want %v", got, tc.want)
			}
			if p := debug.SetGCPercent(100); p != 100 {
				t.Errorf("GC percent changed from 100 to %d", p)
			}
		})
	}
}

// setEnv sets the given GOGC and GOMEMLIMIT and unsets the other, until the
// test ends.
func setEnv(t *testing.T, env map[string]string) {
	for _, k := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Setenv(k, "") // restored when the test ends
		if v, ok := env[k]; ok {
			os.Setenv(k, v)
		} else {
			os.Unsetenv(k)
		}
	}
}

// The hunt's policy: GOGC at huntGCPercent, and a soft memory limit kept
// at max(floor, 2 × live heap + slack) as the live heap grows and shrinks.
// The limit follows the heap for the rest of the process (as it does for
// the rest of a hunt), so this test checks the policy hunt itself starts.
func TestGCTunerFollowsLiveHeap(t *testing.T) {
	setEnv(t, nil)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if !tuneHuntGC() {
		t.Fatal("tuneHuntGC did not apply the policy with neither GOGC nor GOMEMLIMIT set")
	}
	if p := debug.SetGCPercent(huntGCPercent); p != huntGCPercent {
		t.Errorf("GC percent %d, want %d", p, huntGCPercent)
	}
	limit := func() int64 {
		// the finalizer runs after a collection, on its own goroutine:
		// collect a few times for it to have run
		for range 4 {
			runtime.GC()
		}
		return debug.SetMemoryLimit(-1)
	}
	if l := limit(); l < huntMemFloor || l == math.MaxInt64 {
		t.Fatalf("limit %d with a small heap, want the floor %d or more", l, huntMemFloor)
	}
	const size = huntMemFloor/2 + 64<<20 // live: twice it is over the floor
	func() {
		big := make([]byte, size) // live, though never written (no memory is touched)
		if l, want := limit(), 2*int64(size)+huntMemSlack; l < want {
			t.Errorf("limit %d MiB with %d MiB live, want %d MiB or more", l>>20, size>>20, want>>20)
		}
		runtime.KeepAlive(big)
	}()
	if l := limit(); l >= 2*int64(size) {
		t.Errorf("limit %d MiB after the heap shrank, want it lower", l>>20)
	}
}
