//go:build !linux

package main

import "os"

// isTTY reports whether f is a terminal, as far as its mode tells: a
// character device other than the null device.
func isTTY(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}
