//go:build !amd64

package record

// useAVX2 is false where indexSpecialAVX2 is not written.
var useAVX2 = false

func indexSpecialAVX2([]byte) int { panic("record: indexSpecialAVX2 is written for amd64 only") }
