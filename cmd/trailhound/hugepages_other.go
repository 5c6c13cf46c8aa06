//go:build !linux

package main

// reserveHugeHeap does nothing where transparent huge pages are not
// Linux's.
func reserveHugeHeap(int) {}
