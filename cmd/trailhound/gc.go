package main

import (
	"os"
	"runtime/debug"
)

// huntGCPercent is the garbage collector's target (GOGC) a hunt runs with
// when the user sets neither GOGC nor GOMEMLIMIT. A hunt's live heap is
// small (the compiled rules and their windows' state: 80-100 MB with every
// Elastic and Sigma rule) and it allocates per record, so at Go's default
// of 100 the collector runs every time the heap doubles, marking the same
// live heap again and again; at 200 it runs half as often, for a peak heap
// of three times the live heap instead of two. docs/performance.md ("The
// garbage collector's setting") has what it measured, and why not more.
const huntGCPercent = 200

// tuneHuntGC sets huntGCPercent unless GOGC or GOMEMLIMIT is set in the
// environment (the user's choice is kept as it is); it returns whether it
// did.
func tuneHuntGC() bool {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return false
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		return false
	}
	debug.SetGCPercent(huntGCPercent)
	return true
}
