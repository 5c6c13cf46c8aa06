package event

import "testing"

// Every raw object whose leaves are read from the record has its place in
// the per-event size cache (flatIndex panics otherwise, when a rule's
// getter is built).
func TestFlatObjectsCovered(t *testing.T) {
	var raws []string
	for _, raw := range flattenedRaw {
		raws = append(raws, raw)
	}
	for _, keys := range fromFlattened {
		raws = append(raws, keys[0])
	}
	for _, raw := range raws {
		if i := flatIndex(raw); flatObjects[i] != raw {
			t.Errorf("flatIndex(%q) = %d (%q)", raw, i, flatObjects[i])
		}
	}
}
