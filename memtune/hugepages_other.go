//go:build !linux

package memtune

// reserveHugeHeap does nothing where transparent huge pages are not
// Linux's.
func reserveHugeHeap(int) {}

// growHugeHeap does nothing where transparent huge pages are not Linux's.
func growHugeHeap(uint64) {}
