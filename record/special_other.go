//go:build !amd64

package record

// useAVX2 is false where specialBitsAVX2 is not written.
var useAVX2 = false

func specialBitsAVX2([]uint64, []byte) int {
	panic("record: specialBitsAVX2 is written for amd64 only")
}
