//go:build race

package hunt

// raceEnabled: the race detector's sync.Pool drops a share of what is put
// back, on purpose, so tests of pooling cannot hold.
const raceEnabled = true
